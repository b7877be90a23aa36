"""The who-can benchmark measures a realistic account: its generated principals get the
verdicts their policies say (speed itself is not asserted; see bench/__main__.py)."""

from __future__ import annotations

import dataclasses

from bench import whocan_bench
from tests.helpers.proofs import count_re_analyses


def test_the_bench_account_mixes_readers_and_each_kind_of_refusal():
    result, _seconds = whocan_bench.run(roles=8, users=2)
    verdicts = {
        p.principal.rsplit("/", 1)[-1]: (p.verdict, p.first_shut_lock) for p in result.principals
    }
    assert verdicts["Role0000"] == ("allow", None)  # inline read policy
    assert verdicts["Role0001"] == ("allow", None)  # shared managed policy
    assert verdicts["Role0002"] == ("deny", "identity")  # only unrelated policies
    assert verdicts["Role0003"] == ("deny", "permissions_boundary")  # boundary: S3 only
    assert verdicts["user0000"] == ("allow", None)  # through the group
    assert result.summary()["principals"] == 10


def test_who_can_proves_no_fix_it_does_not_show(monkeypatch):
    """who-can names each refused principal's first shut lock and code, never a fix: over an
    account of 40 principals it re-analyses nothing for proofs, and its answers are the ones
    the full analysis (proofs included) gives."""
    from kmsdoctor.analyze import answer
    from kmsdoctor.questions import Question

    re_analyses = count_re_analyses(monkeypatch)
    result, _seconds = whocan_bench.run(roles=32, users=8)
    assert re_analyses == []
    refused = [p for p in result.principals if p.verdict == "deny"]
    assert len(refused) == 16

    # The same principals through the full analysis: the same first shut lock and code.
    records = {p.arn: p for p in whocan_bench.principals(32, 8)}
    view = whocan_bench.snapshot()
    for answered in refused:
        facts = dataclasses.replace(
            view, principals={answered.principal: records[answered.principal]}
        )
        question = Question(answered.principal, whocan_bench.BUCKET, whocan_bench.OBJECT_KEY)
        (full,) = answer(facts, question)
        codes = [f.code for f in full.diagnosis.findings if f.lock == answered.first_shut_lock]
        assert full.diagnosis.verdict == "deny"
        assert answered.code in codes
        assert any(f.fix is not None and f.fix.verified for f in full.diagnosis.findings)
    assert re_analyses  # the full analysis did prove its fixes
