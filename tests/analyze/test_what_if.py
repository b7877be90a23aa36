"""What-if before a change: `analyze SNAPSHOT --key-policy FILE --bucket-policy FILE
--identity-policy NAME=FILE`, and the same flags on `diagnose` over the live configuration, so
a policy proposed in a pull request is checked before anyone applies it."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app, main
from kmsdoctor.snapshot import ProbeCall
from tests.analyze.factories import (
    KEY_ARN,
    ROLE_ARN,
    allow_role_decrypt_statement,
    bucket_policy,
    healthy_identity_policy,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
)


def _files(tmp_path, snapshot, **documents):
    snapshot_path = tmp_path / "snapshot.json"
    snapshot_path.write_text(snapshot.to_json(), encoding="utf-8")
    paths = {}
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
        paths[name] = str(path)
    return str(snapshot_path), paths


def _analyze(*args):
    run = CliRunner().invoke(app, ["analyze", *args, "--format", "json"])
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    return json.loads(run.stdout), run.exit_code


def test_a_proposed_key_policy_that_names_the_role_turns_deny_into_allow(tmp_path):
    snapshot, files = _files(
        tmp_path,
        make_snapshot(key=make_key(policy=key_policy())),
        proposed=key_policy(allow_role_decrypt_statement()),
    )
    as_is, code = _analyze(snapshot)
    assert (as_is["verdict"], code) == ("deny", 1)
    report, code = _analyze(snapshot, "--key-policy", files["proposed"])
    assert (report["verdict"], code) == ("allow", 0)
    assert any(
        f"the key policy of {KEY_ARN} is replaced by {files['proposed']}" in n
        for n in report["notes"]
    )


def test_a_proposed_bucket_policy_that_drops_the_role_is_caught_before_it_is_applied(tmp_path):
    other = {
        "Sid": "OnlyEtl",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:role/ETLRole"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::datalake-curated-a/*",
    }
    snapshot, files = _files(tmp_path, make_snapshot(), proposed=bucket_policy(other))
    report, code = _analyze(snapshot, "--bucket-policy", files["proposed"])
    assert (report["verdict"], code) == ("deny", 1)
    assert report["locks"]["bucket_policy"]["status"] == "implicit_deny"
    assert "KD201" in {f["code"] for f in report["findings"]}


def test_an_identity_policy_is_added_to_the_caller_or_replaces_one_of_the_same_name(tmp_path):
    no_kms = identity_policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::datalake-curated-a/*",
        }
    )
    principal = make_principal(inline={"ReadCuratedLake": no_kms})
    snapshot, files = _files(
        tmp_path, make_snapshot(principals=[principal]), proposed=healthy_identity_policy()
    )
    assert _analyze(snapshot)[0]["verdict"] == "deny"
    added, code = _analyze(snapshot, "--identity-policy", f"UseLakeKey={files['proposed']}")
    assert (added["verdict"], code) == ("allow", 0)
    assert any(f"inline policy UseLakeKey of {ROLE_ARN}" in n for n in added["notes"])
    replaced, _ = _analyze(snapshot, "--identity-policy", f"ReadCuratedLake={files['proposed']}")
    assert replaced["verdict"] == "allow"


def test_the_probes_answers_are_not_compared_with_a_configuration_that_does_not_exist(tmp_path):
    probed = make_snapshot(key=make_key(policy=key_policy()))
    probed.probes = [
        ProbeCall(ROLE_ARN, "s3:HeadObject", "ok", http_status=200),
        ProbeCall(ROLE_ARN, "s3:GetObject", "error", "AccessDenied", "Access Denied", 403),
    ]
    snapshot, files = _files(tmp_path, probed, proposed=key_policy(allow_role_decrypt_statement()))
    report, code = _analyze(snapshot, "--key-policy", files["proposed"])
    assert (report["verdict"], code) == ("allow", 0)
    assert "probe" not in report
    assert any(
        "the probe's answers are of the configuration as it is" in n for n in report["notes"]
    )


@pytest.mark.parametrize(
    ("flag", "content", "expected"),
    [
        ("--key-policy", "{not json", "is not valid JSON"),
        ("--bucket-policy", "[1, 2]", "is not a policy document"),
        ("--identity-policy", None, "expected NAME=FILE"),
        ("--key-policy", "MISSING", "cannot read"),
    ],
)
def test_a_bad_policy_file_is_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, flag, content, expected
):
    snapshot, _ = _files(tmp_path, make_snapshot())
    value = str(tmp_path / "proposed.json")
    if content is None:
        value = "no-equals-sign.json"
    elif content != "MISSING":
        (tmp_path / "proposed.json").write_text(content, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["kmsdoctor", "analyze", snapshot, flag, value])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and flag in err
    assert "Traceback" not in err


def test_a_key_policy_for_a_snapshot_without_a_key_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from tests.analyze.factories import ABSENT

    snapshot, files = _files(tmp_path, make_snapshot(key=ABSENT), proposed=key_policy())
    argv = ["kmsdoctor", "analyze", snapshot, "--key-policy", files["proposed"]]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "no KMS key" in capsys.readouterr().err


def test_diagnose_checks_a_proposed_key_policy_against_the_live_configuration(tmp_path, sandbox):
    """The pull request's key policy (here: the one KD301's fix proposes), checked against what
    moto holds now: allow, and nothing was written or probed."""
    box = sandbox("key-policy-missing-principal")
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    as_is = json.loads(run.stdout)
    fix = next(f["fix"] for f in as_is["findings"] if f["code"] == "KD301")
    proposed = tmp_path / "key-policy.json"
    proposed.write_text(json.dumps(fix["patched_policy"]), encoding="utf-8")

    run = CliRunner().invoke(
        app, box.cli_args("diagnose", "--format", "json", "--key-policy", str(proposed))
    )
    report = json.loads(run.stdout)
    assert (report["verdict"], run.exit_code) == ("allow", 0)
    assert "probe" not in report
    assert any(
        "what-if: the key policy of arn:aws:kms:" in n and "is replaced by" in n
        for n in report["notes"]
    )
    # Nothing was written: the live configuration still denies.
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    assert json.loads(run.stdout)["verdict"] == "deny"


# --- several keys or buckets: the proposal names the one it is for -----------------------------


def _prefix_under_two_keys(box, tmp_path):
    """A prefix whose first object sits under the scenario's key and whose second sits under
    a second key (alias/second) of the resource account: a v2 snapshot with two keys."""
    import boto3

    from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
    from kmsdoctor.questions import Question

    a = boto3.Session(profile_name="a")
    second = a.client("kms").create_key(Description="second")["KeyMetadata"]["Arn"]
    a.client("kms").create_alias(AliasName="alias/second", TargetKeyId=second)
    s3 = a.client("s3")
    for name, key in (("mixed/0.parquet", box.key_arns["data"]), ("mixed/1.parquet", second)):
        s3.put_object(
            Bucket=box.bucket, Key=name, Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key
        )
    question = Question("", box.bucket, prefix="mixed/")
    snapshot = collect_facts(
        CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
    )
    path = tmp_path / "prefix.json"
    path.write_text(snapshot.to_json(), encoding="utf-8")
    return snapshot, question, second, str(path)


def _opening_key_policy():
    return key_policy(allow_role_decrypt_statement())


def test_a_plain_key_policy_file_on_a_snapshot_with_two_keys_is_refused_naming_them(
    sandbox, tmp_path, monkeypatch, capsys
):
    box = sandbox("key-policy-missing-principal")
    _, _, second, snapshot_path = _prefix_under_two_keys(box, tmp_path)
    proposed = tmp_path / "proposed.json"
    proposed.write_text(json.dumps(_opening_key_policy()), encoding="utf-8")

    monkeypatch.setattr(
        sys, "argv", ["kmsdoctor", "analyze", snapshot_path, "--key-policy", str(proposed)]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "2 keys" in err and box.key_arns["data"] in err and second in err
    assert "KEY=FILE" in err


@pytest.mark.parametrize("name_it", ["arn", "id", "alias"])
def test_a_key_policy_named_for_one_key_replaces_that_keys_policy_only(sandbox, tmp_path, name_it):
    from kmsdoctor.analyze import answer
    from kmsdoctor.analyze.whatif import WhatIf, apply_what_if

    box = sandbox("key-policy-missing-principal")
    snapshot, question, second, _ = _prefix_under_two_keys(box, tmp_path)
    selector = {"arn": second, "id": second.rsplit("/", 1)[-1], "alias": "alias/second"}[name_it]

    changed, notes = apply_what_if(snapshot, WhatIf(key_policies={selector: _opening_key_policy()}))

    key_policy_lock = {
        a.object_key: a.diagnosis.locks["key_policy"].status for a in answer(changed, question)
    }
    assert key_policy_lock == {"mixed/0.parquet": "implicit_deny", "mixed/1.parquet": "allow"}
    assert any(f"the key policy of {second} is replaced by" in note for note in notes)


def test_a_key_policy_for_a_key_the_snapshot_does_not_hold_is_one_line(
    sandbox, tmp_path, monkeypatch, capsys
):
    box = sandbox("key-policy-missing-principal")
    _, _, _, snapshot_path = _prefix_under_two_keys(box, tmp_path)
    proposed = tmp_path / "proposed.json"
    proposed.write_text(json.dumps(_opening_key_policy()), encoding="utf-8")
    argv = ["kmsdoctor", "analyze", snapshot_path, "--key-policy", f"alias/nope={proposed}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no key alias/nope" in err


def test_a_plain_bucket_policy_file_needs_the_bucket_named_when_there_are_two(tmp_path):
    import dataclasses

    from kmsdoctor.analyze.whatif import WhatIf, WhatIfError, apply_what_if
    from kmsdoctor.snapshot import Snapshot

    snapshot = Snapshot.from_view(make_snapshot())
    (only_bucket,) = snapshot.buckets.values()
    other = dataclasses.replace(
        only_bucket, info=dataclasses.replace(only_bucket.info, name="other-bucket")
    )
    two = dataclasses.replace(snapshot, buckets={**snapshot.buckets, "other-bucket": other})
    proposed = bucket_policy()

    with pytest.raises(WhatIfError, match=r"2 buckets .*BUCKET=FILE"):
        apply_what_if(two, WhatIf(bucket_policies={"": proposed}))
    changed, _ = apply_what_if(two, WhatIf(bucket_policies={"s3://other-bucket": proposed}))
    assert changed.buckets["other-bucket"].info.policy.value.document == proposed
    assert changed.buckets["datalake-curated-a"].info.policy == only_bucket.info.policy
