"""The reconciliation as its own stage (once per principal), the wording of findings the probe
contradicts, and the probe's key-state answers to a direct Decrypt — offline, from snapshots."""

from __future__ import annotations

import kmsdoctor.analyze.reconcile as reconcile_module
from kmsdoctor.analyze import analyze_snapshot
from kmsdoctor.snapshot import ProbeCall, Snapshot
from tests.analyze.factories import (
    KEY_ARN,
    READ_LAKE_STATEMENT,
    ROLE_ARN,
    bucket_policy,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
)

DEPLOY_ARN = "arn:aws:iam::222222222222:role/DeployRole"
PENDING_DELETION = f"{KEY_ARN} is pending deletion."
PENDING_IMPORT = f"{KEY_ARN} is pending import."


def _call(principal: str, operation: str, code: str | None = None, message: str = ""):
    if code is None:
        return ProbeCall(principal, operation, "ok", http_status=200)
    return ProbeCall(principal, operation, "error", code, message, 400)


def _with(snapshot: Snapshot, *calls: ProbeCall) -> Snapshot:
    snapshot.probes = list(calls)
    return snapshot


def _finding(diagnosis, code: str):
    return [f for p in diagnosis.principals for f in p.findings if f.code == code]


def test_the_reconciliation_runs_once_per_principal(monkeypatch):
    """Each probe rule used to reconcile again (about ten times per principal)."""
    runs: list[str] = []
    original = reconcile_module.probes_of

    def counted(ev):
        runs.append(ev.ctx.principal.arn)
        return original(ev)

    monkeypatch.setattr(reconcile_module, "probes_of", counted)
    deploy = make_principal(
        DEPLOY_ARN, inline={"P": identity_policy(READ_LAKE_STATEMENT)}, source="role_arn"
    )
    snapshot = _with(
        make_snapshot(principals=[make_principal(), deploy], key=make_key(policy=key_policy())),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject", "AccessDenied", "Access Denied"),
        _call(DEPLOY_ARN, "s3:HeadObject"),
        _call(DEPLOY_ARN, "s3:GetObject", "AccessDenied", "Access Denied"),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert sorted(runs) == sorted([ROLE_ARN, DEPLOY_ARN])
    assert all(p.probe is not None for p in diagnosis.principals)


def test_a_get_that_works_against_two_shut_locks_is_one_kd704_and_contradicts_the_findings():
    """Key policy and bucket policy both shut for the role, but the one-byte GET read its byte:
    one KD704 names both locks; KD201 and KD301 say the probe contradicts them, without a fix."""
    snapshot = _with(
        make_snapshot(
            key=make_key(policy=key_policy()),
            bucket_policy_doc=bucket_policy(),
        ),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject"),
    )
    diagnosis = analyze_snapshot(snapshot)
    principal = diagnosis.principals[0]
    assert set(principal.shut_locks()) == {"bucket_policy", "key_policy"}
    assert diagnosis.verdict == "allow" and diagnosis.exit_code == 0

    kd704 = _finding(diagnosis, "KD704")
    assert len(kd704) == 1
    assert "bucket_policy" in kd704[0].detail and "key_policy" in kd704[0].detail

    for code in ("KD201", "KD301"):
        (finding,) = _finding(diagnosis, code)
        assert finding.detail.startswith("Contradicted by the probe: the GET as")
        assert "a grant or a layer kmsdoctor cannot read opens it" in finding.detail
        assert finding.severity == "info" and finding.fix is None
    assert "no key-policy statement allows it" in _finding(diagnosis, "KD301")[0].detail


def test_findings_stay_errors_with_fixes_when_the_probe_agrees():
    snapshot = _with(
        make_snapshot(key=make_key(policy=key_policy())),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject", "AccessDenied", "Access Denied"),
    )
    (kd301,) = _finding(analyze_snapshot(snapshot), "KD301")
    assert kd301.severity == "error" and kd301.fix is not None and kd301.fix.verified


# --- the probe's key-state answers (--probe-decrypt) ---------------------------------------------


def test_decrypt_pending_deletion_with_no_decisive_get_is_unknown_on_key_state():
    """Before: allow, exit 0, no finding. The collector read the key Enabled, KMS refuses the
    caller's Decrypt (pending deletion), and the GET's connection was reset."""
    snapshot = _with(
        make_snapshot(),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject", "ConnectionClosedError", "Connection was closed"),
        _call(ROLE_ARN, "kms:Decrypt", "KMSInvalidStateException", PENDING_DELETION),
    )
    diagnosis = analyze_snapshot(snapshot)
    principal = diagnosis.principals[0]
    assert diagnosis.verdict == "unknown" and diagnosis.exit_code == 3
    (kd710,) = _finding(diagnosis, "KD710")
    assert kd710.lock == "key_state" and "pending deletion" in kd710.detail
    assert "cancel-key-deletion" in kd710.fix.change
    assert "pending deletion" in principal.locks["key_state"].evidence.probe_decrypt
    assert principal.probe["status"] == "disagrees"


def test_decrypt_disabled_with_no_decisive_get_is_unknown():
    snapshot = _with(
        make_snapshot(),
        _call(ROLE_ARN, "s3:GetObject", "InternalError", "We encountered an internal error."),
        _call(ROLE_ARN, "kms:Decrypt", "DisabledException", f"{KEY_ARN} is disabled."),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert diagnosis.verdict == "unknown"
    (kd710,) = _finding(diagnosis, "KD710")
    assert "(disabled)" in kd710.detail and "enable-key" in kd710.fix.change


def test_a_get_that_works_while_the_key_is_pending_deletion_still_names_the_deletion():
    """Before: "probe agrees" and nothing about the deletion."""
    key = make_key(deletion_date="2026-12-08T00:00:00Z")
    snapshot = _with(
        make_snapshot(key=key),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject"),
        _call(ROLE_ARN, "kms:Decrypt", "KMSInvalidStateException", PENDING_DELETION),
    )
    diagnosis = analyze_snapshot(snapshot)
    principal = diagnosis.principals[0]
    assert diagnosis.verdict == "allow"  # the GET decides the read: it works today
    assert "pending deletion" in principal.probe["summary"]
    (kd710,) = _finding(diagnosis, "KD710")
    assert "reads work today and stop when the key is deleted on 2026-12-08" in kd710.detail
    decrypt = next(c for c in principal.probe["calls"] if c["operation"] == "kms:Decrypt")
    assert "pending deletion" in decrypt["meaning"]


def test_decrypt_pending_import_with_a_denied_get_is_deny_with_the_state_named():
    snapshot = _with(
        make_snapshot(),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject", "KMS.KMSInvalidStateException", PENDING_IMPORT),
        _call(ROLE_ARN, "kms:Decrypt", "KMSInvalidStateException", PENDING_IMPORT),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert diagnosis.verdict == "deny" and diagnosis.exit_code == 1
    (kd710,) = _finding(diagnosis, "KD710")
    assert "pending import" in kd710.detail and "import-key-material" in kd710.fix.change


def test_a_key_the_collector_already_saw_disabled_agrees_with_the_decrypt():
    snapshot = _with(
        make_snapshot(key=make_key(state="Disabled")),
        _call(ROLE_ARN, "s3:GetObject", "InternalError", "We encountered an internal error."),
        _call(ROLE_ARN, "kms:Decrypt", "DisabledException", f"{KEY_ARN} is disabled."),
    )
    diagnosis = analyze_snapshot(snapshot)
    assert diagnosis.verdict == "deny"  # the locks decide: key_state is shut
    assert "as the analysis found" in diagnosis.principals[0].probe["summary"]
    assert _finding(diagnosis, "KD710")


def test_neither_the_rules_nor_the_reconciliation_change_a_lock():
    """Lock statuses and reasons are the analysis's; the probe only adds evidence."""
    import copy

    from kmsdoctor.analyze.context import build_request_context
    from kmsdoctor.analyze.evaluation import evaluate_principal
    from kmsdoctor.analyze.locks import evaluate_locks
    from kmsdoctor.analyze.rules import run_probe_rules, run_rules

    snapshot = _with(
        make_snapshot(key=make_key(policy=key_policy()), bucket_policy_doc=bucket_policy()),
        _call(ROLE_ARN, "s3:HeadObject"),
        _call(ROLE_ARN, "s3:GetObject"),
        _call(ROLE_ARN, "kms:Decrypt", "DisabledException", f"{KEY_ARN} is disabled."),
    )
    ev = evaluate_principal(build_request_context(snapshot, snapshot.target.principals[0]))
    ev.locks = evaluate_locks(ev)
    before = copy.deepcopy({name: lock.to_dict() for name, lock in ev.locks.items()})
    findings = run_rules(ev)
    rec = reconcile_module.reconcile(ev)
    assert rec is not None
    run_probe_rules(ev, rec, findings)
    assert {name: lock.to_dict() for name, lock in ev.locks.items()} == before
