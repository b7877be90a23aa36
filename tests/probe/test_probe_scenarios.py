"""The probe through the real CLI, against moto accounts A and B, with AWS's answers to each call
made as the caller injected at the botocore layer from the scenario's `probe` section.

moto enforces no bucket or key policy, so what AWS answers the caller (AccessDenied with its
exact message, a body-less 403 for HEAD) is the fixture's; everything else — the collection,
the calls as the caller, botocore's parsing of the raw answers, the reconciliation, the report —
is the real code.
"""

from __future__ import annotations

import json

import pytest
from tenacity import wait_none

from kmsdoctor import aws
from tests.probe.helpers import (
    PROBE_OPERATIONS,
    B,
    calls_signed_by,
    codes_and_locks,
    denied,
    diagnose_json,
    explicitly_denied,
    run_cli,
    scenario_with_probe,
)

# The healthy read and the three failure traces of reference 002: AWS's answers agree with the
# analysis, and the probe says in which half the denial is.
AGREEING = {
    "healthy-cross-account-read": ("allow", None),
    "identity-missing-kms-decrypt": ("deny", ("KD706", "identity")),  # Failure A: KMS half, B
    "bucket-policy-missing-principal": ("deny", ("KD707", "bucket_policy")),  # Failure B: S3
    "key-policy-missing-principal": ("deny", ("KD706", "key_policy")),  # Failure C: KMS half, A
}
DISAGREEMENT_CODES = {"KD703", "KD704", "KD705"}


@pytest.mark.parametrize("name", sorted(AGREEING))
def test_probe_agrees_with_the_analysis_on_the_failure_traces(name, sandbox, aws_faults):
    box = sandbox(name)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box)
    verdict, half_finding = AGREEING[name]

    assert report["verdict"] == verdict == box.scenario["expect"]["verdict"]
    assert exit_code == box.scenario["expect"]["exit_code"]
    probe = report["probe"]
    assert probe["status"] == "agrees", probe["summary"]
    assert probe["verdict"] is None  # the locks decide; the probe only confirms
    assert probe["summary"].startswith("probe agrees:")
    found = codes_and_locks(report)
    assert not {code for code, _ in found} & DISAGREEMENT_CODES
    if half_finding:
        assert half_finding in found
    operations = [c["operation"] for c in probe["calls"]]
    assert operations == [
        "sts:GetCallerIdentity",
        "kms:DescribeKey",
        "s3:HeadObject",
        "s3:GetObject",
    ]
    # Every probe call went out signed as the caller in B, none as A.
    made_as_b = calls_signed_by(aws_faults, B)
    for operation in ("kms:DescribeKey", "s3:HeadObject", "s3:GetObject"):
        assert operation in made_as_b
    made_as_a = calls_signed_by(aws_faults, "111111111111")
    assert "s3:GetObject" not in made_as_a


def test_kms_half_is_said_the_way_the_issue_words_it(sandbox, aws_faults):
    box = sandbox("key-policy-missing-principal")
    aws_faults.answer_probes(box)
    report, _ = diagnose_json(box)
    assert report["probe"]["summary"].startswith(
        "probe agrees: GET denied, HEAD allowed → KMS half"
    )
    text = run_cli(*box.cli_args("diagnose")).stdout
    assert "Probe as the caller · agrees" in text
    assert "probe agrees: GET denied, HEAD allowed → KMS half" in " ".join(text.split())


def test_an_scp_the_collector_could_not_read_makes_the_probe_disagree(sandbox, aws_faults):
    """B is a member account: its SCPs cannot be read, so the analysis (ceilings unknown do not
    count) says allow. AWS denies the read with an explicit deny in an SCP: the probe decides
    deny, names the SCP lock, and says the analysis could not read it."""
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        s3_GetObject=denied(
            "AccessDenied",
            explicitly_denied("kms:Decrypt", "{{key_arn:data}}", "service control policy"),
        ),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    aws_faults.add(
        "organizations",
        "DescribeOrganization",
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
        account=B,
    )
    report, exit_code = diagnose_json(box)

    assert report["locks"]["scp"]["status"] == "unknown"
    assert report["verdict"] == "deny" and exit_code == 1
    probe = report["probe"]
    assert probe["status"] == "disagrees"
    assert probe["verdict"] == "deny"
    assert "AWS names the scp lock" in probe["summary"]
    assert ("KD703", "scp") in codes_and_locks(report)
    kd703 = next(f for f in report["findings"] if f["code"] == "KD703")
    assert "could not read that layer" in kd703["detail"]
    assert "explicit deny in a service control policy" in kd703["detail"]  # AWS's words
    assert any(layer.startswith("scp:") for layer in probe["unseen_layers"])
    # The analysed lock statuses stay as analysed; the probe's word is added as evidence.
    assert report["locks"]["scp"]["evidence"]["probe"]


def test_a_read_that_works_while_the_analysis_denies_it_is_decided_by_the_probe(
    sandbox, aws_faults
):
    scenario = scenario_with_probe(
        "key-policy-missing-principal",
        kms_DescribeKey={"ok": True},
        s3_GetObject={"ok": True},
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box)
    assert report["locks"]["key_policy"]["status"] == "implicit_deny"
    assert report["verdict"] == "allow" and exit_code == 0
    assert report["probe"]["status"] == "disagrees"
    assert report["probe"]["verdict"] == "allow"
    assert ("KD704", "key_policy") in codes_and_locks(report)
    text = run_cli(*box.cli_args("diagnose")).stdout
    assert "the read works: the probe as the caller read one byte" in text


def test_the_probe_settles_what_the_analysis_could_not_decide(sandbox, aws_faults):
    """A cannot list the key's grants, so the key-policy lock is unknown; AWS's answer decides."""
    box = sandbox("key-policy-missing-principal")
    aws_faults.answer_probes(box)
    aws_faults.add(
        "kms", "ListGrants", "AccessDeniedException", "not authorized", account="111111111111"
    )
    report, exit_code = diagnose_json(box)
    assert report["locks"]["key_policy"]["status"] == "unknown"
    assert report["probe"]["status"] == "settles"
    assert report["verdict"] == "deny" and exit_code == 1


def test_without_an_object_key_the_probe_is_partial(sandbox, aws_faults):
    box = sandbox("no-object-key-bucket-default")
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box)
    probe = report["probe"]
    assert probe["status"] == "partial"
    by_operation = {c["operation"]: c for c in probe["calls"]}
    assert by_operation["s3:HeadObject"]["outcome"] == "skipped"
    assert by_operation["s3:GetObject"]["outcome"] == "skipped"
    assert "no object key" in by_operation["s3:GetObject"]["detail"]
    assert report["verdict"] == box.scenario["expect"]["verdict"]
    assert exit_code == box.scenario["expect"]["exit_code"]
    assert "s3:GetObject" not in calls_signed_by(aws_faults, B)


def test_an_sse_s3_object_skips_describe_key(sandbox, aws_faults):
    box = sandbox("sse-s3-object")
    aws_faults.answer_probes(box)
    report, _ = diagnose_json(box)
    by_operation = {c["operation"]: c for c in report["probe"]["calls"]}
    assert by_operation["kms:DescribeKey"]["outcome"] == "skipped"
    assert "AES256" in by_operation["kms:DescribeKey"]["detail"]
    assert report["probe"]["status"] == "agrees"
    assert "kms:DescribeKey" not in calls_signed_by(aws_faults, B)


def test_head_allowed_against_a_shut_s3_half_with_no_decisive_get_is_unknown(
    sandbox, aws_faults, monkeypatch
):
    """HEAD says the S3 half lets the caller through, the analysis says the bucket policy shuts
    it, and the GET fails for another reason (S3 keeps answering 500): the probe cannot decide
    and the tool cannot explain the difference, so the verdict is unknown, exit 3."""
    monkeypatch.setattr(aws, "RETRY_WAIT", wait_none())
    scenario = scenario_with_probe(
        "bucket-policy-missing-principal",
        s3_HeadObject={"ok": True},
        s3_GetObject=denied("InternalError", "We encountered an internal error.", 500),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box)
    assert report["locks"]["bucket_policy"]["status"] == "implicit_deny"
    probe = report["probe"]
    assert probe["status"] == "disagrees"
    assert report["verdict"] == "unknown" and exit_code == 3
    assert ("KD704", "bucket_policy") in codes_and_locks(report)
    get = next(c for c in probe["calls"] if c["operation"] == "s3:GetObject")
    assert get["error_code"] == "InternalError"
    assert calls_signed_by(aws_faults, B).count("s3:GetObject") == aws.ATTEMPTS  # retried


def test_the_write_path_probes_only_read_only_calls_and_says_so(sandbox, aws_faults):
    box = sandbox("write-missing-generate-data-key")
    aws_faults.answer_probes(box)
    aws_faults.calls.clear()  # the builder's own writes are not kmsdoctor's
    report, exit_code = diagnose_json(box)
    probe = report["probe"]
    assert probe["status"] == "partial"
    assert "the write itself is not probed" in probe["summary"]
    by_operation = {c["operation"]: c for c in probe["calls"]}
    assert by_operation["s3:PutObject"]["outcome"] == "skipped"
    assert "s3:GetObject" not in by_operation
    made = calls_signed_by(aws_faults, B)
    assert "s3:PutObject" not in aws_faults.calls
    assert "kms:GenerateDataKey" not in aws_faults.calls
    assert {"sts:GetCallerIdentity", "kms:DescribeKey", "s3:HeadObject"} <= set(made)
    assert report["verdict"] == box.scenario["expect"]["verdict"]
    assert exit_code == box.scenario["expect"]["exit_code"]


def test_no_probe_makes_no_call_as_the_caller(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    aws_faults.answer_probes(box)
    aws_faults.calls.clear()
    report, exit_code = diagnose_json(box, "--no-probe", "--probe-decrypt")
    assert "probe" not in report
    assert exit_code == 0
    made_as_b = calls_signed_by(aws_faults, B)
    assert made_as_b  # the collector did read B
    assert not set(made_as_b) & PROBE_OPERATIONS
    assert all(
        name.startswith(("sts:GetCallerIdentity", "iam:", "organizations:", "ec2:"))
        for name in made_as_b
    )
    assert "kms:Encrypt" not in aws_faults.calls
    assert any("--probe-decrypt was ignored" in note for note in report["notes"])


def test_a_saved_snapshot_replays_the_probe_offline(sandbox, aws_faults, tmp_path):
    from kmsdoctor.collect import CollectRequest, collect_snapshot
    from kmsdoctor.probe import ProbeOptions, run_probes

    box = sandbox("identity-missing-kms-decrypt")
    aws_faults.answer_probes(box)
    live, live_exit = diagnose_json(box)

    request = CollectRequest(
        "a", "b", box.bucket, box.scenario["command"]["key"], region=box.region
    )
    snapshot = collect_snapshot(request)
    snapshot.probes.extend(run_probes(request, snapshot, ProbeOptions()))
    path = tmp_path / "snapshot.json"
    path.write_text(snapshot.to_json(), encoding="utf-8")

    aws_faults.calls.clear()
    replay = run_cli("analyze", str(path), "--format", "json")
    assert aws_faults.calls == []  # offline
    replayed = json.loads(replay.stdout)
    assert replay.exit_code == live_exit == 1
    assert replayed["probe"]["status"] == live["probe"]["status"] == "agrees"
    assert replayed["probe"]["summary"] == live["probe"]["summary"]
    assert codes_and_locks(replayed) == codes_and_locks(live)
    saved = json.loads(path.read_text(encoding="utf-8"))["probes"]
    get = next(p for p in saved if p["operation"] == "s3:GetObject")
    assert get["error_code"] == box.scenario["probe"]["s3:GetObject"]["error_code"]
    # AWS's message verbatim, as the fixture says AWS sends it.
    assert get["error_message"] == box.scenario["probe"]["s3:GetObject"]["message"]
    assert "kms:Decrypt" in get["error_message"]
