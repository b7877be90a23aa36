"""The who-can benchmark measures a realistic account: its generated principals get the
verdicts their policies say (speed itself is not asserted; see bench/__main__.py)."""

from __future__ import annotations

from bench import whocan_bench


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
