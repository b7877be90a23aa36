"""The analysis: snapshot in, one diagnosis per principal out.

collect → snapshot → (probe) → analyze → report. This package knows nothing of boto3 or the CLI:
it reads a `Snapshot`, asks the policy engine, and returns a `Diagnosis` (see model.py).
"""

from __future__ import annotations

from kmsdoctor.analyze.cloudtrail import cloudtrail_hint
from kmsdoctor.analyze.context import build_request_context
from kmsdoctor.analyze.evaluation import evaluate_principal
from kmsdoctor.analyze.locks import evaluate_locks
from kmsdoctor.analyze.model import Diagnosis, Finding, LockResult, PrincipalDiagnosis
from kmsdoctor.analyze.reconcile import apply_reconciliation, reconcile
from kmsdoctor.analyze.rules import run_rules
from kmsdoctor.snapshot import PrincipalInfo, Snapshot

__all__ = [
    "Diagnosis",
    "Finding",
    "LockResult",
    "PrincipalDiagnosis",
    "analyze_principal",
    "analyze_snapshot",
]


def analyze_principal(
    snapshot: Snapshot, principal: PrincipalInfo
) -> tuple[PrincipalDiagnosis, list[str]]:
    """The locks and findings for one principal, and the assumptions made for it."""
    ctx = build_request_context(snapshot, principal)
    ev = evaluate_principal(ctx)
    locks = evaluate_locks(ev)
    ev.locks = locks
    for name, lock in locks.items():
        hint = cloudtrail_hint(name, lock, ctx)
        if hint:
            lock.evidence.cloudtrail = hint
    findings = run_rules(ev)
    diagnosis = PrincipalDiagnosis(principal=principal.arn, locks=locks, findings=findings)
    # The probe's answers as the caller (if the snapshot has any) against the locks.
    apply_reconciliation(diagnosis, reconcile(ev))
    return diagnosis, ctx.assumptions


def analyze_snapshot(snapshot: Snapshot) -> Diagnosis:
    principals: list[PrincipalDiagnosis] = []
    notes: list[str] = []
    for principal in snapshot.target.principals:
        diagnosis, assumptions = analyze_principal(snapshot, principal)
        principals.append(diagnosis)
        # Assumptions are worded for the whole run, so several principals share one note.
        for assumption in assumptions:
            if assumption not in notes:
                notes.append(assumption)
    if not snapshot.target.principals:
        caller = snapshot.target.caller
        why = caller.reason() if not caller.is_ok else "the snapshot lists no principal"
        notes.append(f"no principal to analyse in B ({why}); the verdict is unknown")
    return Diagnosis(principals=principals, notes=notes)
