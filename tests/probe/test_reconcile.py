"""The reconciliation on its own, offline: snapshots from the analysis factories plus the
`ProbeCall`s AWS's answers would produce, through `analyze_snapshot` (no AWS, no moto)."""

from __future__ import annotations

from kmsdoctor.analyze import analyze_snapshot
from kmsdoctor.analyze.reconcile import read_answer
from kmsdoctor.snapshot import ProbeCall, Snapshot, SnapshotView
from tests.analyze.factories import (
    KEY_ARN,
    OBJECT_ARN,
    ROLE_ARN,
    SESSION_ARN,
    allow_role_decrypt_statement,
    key_policy,
    make_key,
    make_snapshot,
)

OK = "ok"


def _call(operation: str, code: str | None = None, message: str = "", status: int | None = None):
    if code is None:
        return ProbeCall(ROLE_ARN, operation, "ok", http_status=200)
    return ProbeCall(ROLE_ARN, operation, "error", code, message, status)


def _denied(action: str, resource: str, policy: str) -> str:
    return (
        f"User: {SESSION_ARN} is not authorized to perform: {action} on resource: {resource} "
        f"because no {policy} allows the {action} action"
    )


def _with(snapshot: SnapshotView, *calls: ProbeCall) -> SnapshotView:
    snapshot.probes = list(calls)
    return snapshot


def _key_policy_shut() -> SnapshotView:
    return make_snapshot(key=make_key(policy=key_policy()))


def _codes(diagnosis) -> set[tuple[str, str]]:
    return {(f.code, f.lock) for p in diagnosis.principals for f in p.findings}


def test_no_probe_calls_leave_the_diagnosis_as_analysed():
    diagnosis = analyze_snapshot(make_snapshot())
    assert diagnosis.principals[0].probe is None
    assert "probe" not in diagnosis.to_dict()
    assert not any(code.startswith("KD7") for code, _ in _codes(diagnosis))


def test_a_key_state_refusal_the_analysis_did_not_see_is_reported_on_key_state():
    """moto-style: the collector saw an enabled key, KMS refuses it at call time."""
    snapshot = _with(
        make_snapshot(),
        _call("s3:HeadObject"),
        _call("s3:GetObject", "KMS.DisabledException", f"{KEY_ARN} is disabled.", 400),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert diagnosis.verdict == "deny" and diagnosis.exit_code == 1
    assert ("KD703", "key_state") in _codes(diagnosis)
    probe = diagnosis.principals[0].probe
    assert probe["status"] == "disagrees" and probe["verdict"] == "deny"
    assert any(layer.startswith("key_state:") for layer in probe["unseen_layers"])


def test_aws_naming_another_lock_in_the_same_half_is_a_lock_disagreement_not_a_verdict_change():
    snapshot = _with(
        _key_policy_shut(),
        _call("s3:HeadObject"),
        _call(
            "s3:GetObject",
            "AccessDenied",
            _denied("kms:Decrypt", KEY_ARN, "identity-based policy"),
            403,
        ),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert diagnosis.verdict == "deny"
    assert diagnosis.principals[0].probe_verdict is None  # both say deny: the locks decide
    assert diagnosis.principals[0].probe["status"] == "disagrees"
    assert ("KD705", "identity") in _codes(diagnosis)
    assert ("KD706", "identity") in _codes(diagnosis)  # HEAD ok, GET denied, AWS names B's side


def test_aws_denying_the_s3_half_while_the_analysis_shuts_the_kms_half_points_elsewhere():
    snapshot = _with(
        _key_policy_shut(),
        _call("s3:HeadObject", "403", "Forbidden", 403),
        _call("s3:GetObject", "AccessDenied", "Access Denied", 403),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD705", "bucket_policy") in _codes(diagnosis)
    assert ("KD707", "bucket_policy") in _codes(diagnosis)
    assert "S3 half" in diagnosis.principals[0].probe["summary"]


def test_a_direct_decrypt_that_works_against_a_shut_key_policy_with_no_get_is_unknown():
    snapshot = _with(
        _key_policy_shut(),
        ProbeCall(ROLE_ARN, "s3:GetObject", "skipped", detail="not run: test"),
        _call("kms:Decrypt"),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD704", "key_policy") in _codes(diagnosis)
    assert diagnosis.verdict == "unknown" and diagnosis.exit_code == 3


def test_a_via_service_condition_in_the_identity_policy_is_named_on_the_identity_lock():
    from tests.analyze.factories import READ_LAKE_STATEMENT, identity_policy, make_principal

    gated = {
        "Sid": "DecryptThroughS3",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KEY_ARN,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }
    principal = make_principal(inline={"Read": identity_policy(READ_LAKE_STATEMENT, gated)})
    snapshot = _with(
        make_snapshot(principals=[principal]),
        _call("s3:HeadObject"),
        _call("s3:GetObject"),
        _call("kms:Decrypt", "AccessDeniedException", "not authorized", 400),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD701", "identity") in _codes(diagnosis)
    assert diagnosis.verdict == "allow"


def test_a_via_service_key_policy_statement_is_named_on_the_key_policy_lock():
    condition = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    key = make_key(policy=key_policy(allow_role_decrypt_statement(condition=condition)))
    snapshot = _with(
        make_snapshot(key=key),
        _call("s3:GetObject"),
        _call("kms:Decrypt", "AccessDeniedException", "not authorized", 400),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD701", "key_policy") in _codes(diagnosis)


def test_the_write_path_keeps_the_analysed_verdict():
    snapshot = make_snapshot(operation="write")
    for probes in ([], [_call("s3:HeadObject", "404", "Not Found", 404), _call("kms:DescribeKey")]):
        snapshot.probes = list(probes)
        diagnosis = analyze_snapshot(snapshot)
        assert diagnosis.principals[0].probe_verdict is None
    assert diagnosis.principals[0].probe["status"] == "partial"
    head = next(c for c in diagnosis.principals[0].probe["calls"] if "HeadObject" in c["operation"])
    assert "says nothing about the write" in head["meaning"]


def test_a_role_that_could_not_be_assumed_is_reported_and_left_to_the_analysis():
    snapshot = _with(
        _key_policy_shut(),
        ProbeCall(ROLE_ARN, "sts:AssumeRole", "error", "AccessDenied", "not authorized", 403),
        ProbeCall(ROLE_ARN, "s3:GetObject", "skipped", detail="not run: AssumeRole failed"),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD708", "identity") in _codes(diagnosis)
    assert diagnosis.principals[0].probe["status"] == "partial"
    assert diagnosis.verdict == "deny"  # the analysis's


def test_describe_key_denied_is_context_only():
    snapshot = _with(
        make_snapshot(),
        _call(
            "kms:DescribeKey",
            "AccessDeniedException",
            _denied("kms:DescribeKey", KEY_ARN, "resource-based policy"),
            400,
        ),
        _call("s3:HeadObject"),
        _call("s3:GetObject"),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert ("KD702", "key_policy") in _codes(diagnosis)
    assert diagnosis.principals[0].probe["status"] == "agrees"
    assert diagnosis.verdict == "allow"


def test_cloudtrail_in_the_callers_trail_against_a_shut_key_policy_contradicts():
    lookup = ProbeCall(
        ROLE_ARN,
        "cloudtrail:LookupEvents",
        "ok",
        detail="B's trail (222222222222): 1 denied Decrypt event(s)",
        facts={"trail_side": "target", "trail_account": "222222222222", "denied_events": "1"},
    )
    empty = ProbeCall(
        ROLE_ARN,
        "cloudtrail:LookupEvents",
        "ok",
        detail="A's trail (111111111111): no denied Decrypt",
        facts={"trail_side": "source", "trail_account": "111111111111", "denied_events": "0"},
    )
    diagnosis = analyze_snapshot(_with(_key_policy_shut(), lookup, empty))
    assert ("KD709", "identity") in _codes(diagnosis)
    entries = diagnosis.principals[0].probe["cloudtrail"]
    assert [e["denied_events"] for e in entries] == [1, 0]


def test_probe_facts_survive_the_snapshot_round_trip():
    snapshot = _with(
        make_snapshot(),
        ProbeCall(ROLE_ARN, "s3:GetObject", OK, http_status=206, facts={"bytes_read": "1"}),
    )
    again = Snapshot.from_json(snapshot.to_json())
    assert again.probes == snapshot.probes
    assert analyze_snapshot(again).to_dict() == analyze_snapshot(snapshot).to_dict()


def test_reading_answers():
    head_403 = read_answer(ProbeCall(ROLE_ARN, "s3:HeadObject", "error", "403", "Forbidden", 403))
    assert head_403.meaning == "denied" and head_403.lock is None and head_403.action is None
    get = read_answer(
        _call(
            "s3:GetObject",
            "AccessDenied",
            _denied("s3:GetObject", OBJECT_ARN, "VPC endpoint policy"),
        )
    )
    assert (get.meaning, get.lock, get.action) == ("denied", "vpc_endpoint", "s3:GetObject")
    missing = read_answer(_call("s3:GetObject", "NoSuchKey", "The specified key does not exist."))
    assert missing.meaning == "missing"
    throttled = read_answer(_call("s3:GetObject", "SlowDown", "Please reduce your request rate."))
    assert throttled.meaning == "inconclusive"


def test_a_key_state_that_changed_since_collection_is_named():
    describe = ProbeCall(
        ROLE_ARN, "kms:DescribeKey", "ok", http_status=200, facts={"key_state": "Disabled"}
    )
    snapshot = _with(
        make_snapshot(),
        describe,
        _call("s3:HeadObject"),
        _call("s3:GetObject", "KMS.DisabledException", f"{KEY_ARN} is disabled.", 400),
    )
    probe = analyze_snapshot(snapshot).principals[0].probe
    reading = next(c for c in probe["calls"] if c["operation"] == "kms:DescribeKey")
    assert "reports the key Disabled; the collector read Enabled" in reading["meaning"]
    assert any("reports the key Disabled" in layer for layer in probe["unseen_layers"])
