"""The one analysis API every command calls: a snapshot and a question in, answers out.

`answer(snapshot, question)` answers one question: one `ObjectAnswer` per object (one for a
key or a bucket, one per listed object for a prefix). `answer_by_class(snapshot, question)`
answers it once per class of objects that no policy can tell apart (object_class.py): what a
check over a prefix of thousands of objects groups anyway. `analyze_snapshot(snapshot)` answers the
snapshot's own questions — what `diagnose` and `analyze` print. Both read the snapshot through
`Snapshot.view`, the single-question shape the locks and rules know, built from the shared
facts. No boto3 or CLI import here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from kmsdoctor.analyze import reconcile as reconciliation
from kmsdoctor.analyze.cloudtrail import cloudtrail_hint
from kmsdoctor.analyze.context import build_request_context
from kmsdoctor.analyze.evaluation import evaluate_principal
from kmsdoctor.analyze.locks import evaluate_locks
from kmsdoctor.analyze.model import (
    LOCK_NAMES,
    Diagnosis,
    LockResult,
    PrincipalDiagnosis,
)
from kmsdoctor.analyze.object_class import SharedWork, object_class
from kmsdoctor.analyze.proof import prove_fixes
from kmsdoctor.analyze.rules import run_probe_rules, run_rules
from kmsdoctor.arn import iam_entity_key
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import PrincipalInfo, Snapshot, SnapshotView, listing_id

NOT_PROVEN = "not proven: this command shows no fix (kmsdoctor diagnose proves it)"


@dataclass
class ObjectAnswer:
    question: Question
    object_key: str | None  # the object answered for; None: the bucket alone (no key given)
    diagnosis: PrincipalDiagnosis
    notes: list[str] = field(default_factory=list)  # assumptions made for this answer


@dataclass
class ClassAnswer:
    """Objects of one question that no policy can tell apart, answered once. Each would get the
    same verdict, lock statuses and findings; `diagnosis` is the first object's, and its text
    names that object."""

    question: Question
    object_keys: list[str | None]  # in the listing's order; the first is the one analysed
    diagnosis: PrincipalDiagnosis
    notes: list[str] = field(default_factory=list)


def analyze_principal(
    view: SnapshotView,
    principal: PrincipalInfo,
    shared: SharedWork | None = None,
    prove: bool = True,
) -> tuple[PrincipalDiagnosis, list[str]]:
    """The locks and findings for one principal of a view, and the assumptions made for it.
    `shared`: what the objects of one question may share (object_class.SharedWork). `prove`:
    False for a command that shows no fix (who-can): the fixes are then left unproven, and
    say so."""
    # Stages, each run once: the locks; the policy rules (which only read the locks); the
    # reconciliation with the probe's answers and the probe rules reading it; the proof of each
    # fix (the analysis re-run with the patched policy, see proof.py).
    ctx = build_request_context(view, principal)
    ev = evaluate_principal(ctx, shared)
    locks = evaluate_locks(ev)
    for name, lock in locks.items():
        hint = cloudtrail_hint(name, lock, ctx)
        if hint:
            lock.evidence.cloudtrail = hint
    ev.locks = locks
    findings = run_rules(ev)
    # The probe's answers as the caller (if the snapshot has any) against the locks: once.
    rec = reconciliation.reconcile(ev)
    if rec is not None:
        findings = run_probe_rules(ev, rec, findings)
    if prove:
        prove_fixes(view, principal, locks, findings, shared)
    else:
        for finding in findings:
            if finding.fix is not None:
                finding.fix.verified = False
                finding.fix.verification = NOT_PROVEN
    diagnosis = PrincipalDiagnosis(principal=principal.arn, locks=locks, findings=findings)
    reconciliation.apply_reconciliation(diagnosis, rec)
    return diagnosis, ctx.assumptions


def answer(snapshot: Snapshot, question: Question, *, prove: bool = True) -> list[ObjectAnswer]:
    """One answer per object the question is about, in the listing's order. A principal the
    snapshot holds nothing about gets every lock `unknown`, with why. `prove=False`: the fixes
    are not proven (see analyze_principal)."""
    answers: list[ObjectAnswer] = []
    shared = SharedWork()
    for object_key, view in _views(snapshot, question):
        diagnosis, notes = _answer_view(view, question, shared, prove)
        answers.append(ObjectAnswer(question, object_key, diagnosis, notes))
    return answers


def answer_by_class(snapshot: Snapshot, question: Question) -> list[ClassAnswer]:
    """`answer`, with the objects no policy can tell apart analysed once: one `ClassAnswer` per
    class, in the order of each class's first object."""
    classes: dict[Hashable, ClassAnswer] = {}
    shared = SharedWork()
    for object_key, view in _views(snapshot, question):
        same = _class_of(view, shared)
        if same is not None and same in classes:
            classes[same].object_keys.append(object_key)
            continue
        diagnosis, notes = _answer_view(view, question, shared)
        found = ClassAnswer(question, [object_key], diagnosis, notes)
        classes[same if same is not None else ("its own", object_key)] = found
    return list(classes.values())


def _class_of(view: SnapshotView, shared: SharedWork) -> Hashable | None:
    """The view's object class; None when its answer is its own: the probe's answers are
    about one object, and a view without a principal is answered without analysis."""
    if view.probes or not view.target.principals:
        return None
    # The class names facts by identity: the view is kept alive while `shared` is.
    shared.views.append(view)
    return object_class(view, (), shared.judged)


def _answer_view(
    view: SnapshotView, question: Question, shared: SharedWork, prove: bool = True
) -> tuple[PrincipalDiagnosis, list[str]]:
    if not view.target.principals:
        reason = _no_principal_reason(view)
        locks = {name: LockResult("unknown", reason) for name in LOCK_NAMES}
        return PrincipalDiagnosis(principal=question.principal, locks=locks), [reason]
    return analyze_principal(view, view.target.principals[0], shared, prove)


def analyze_snapshot(snapshot: Snapshot | SnapshotView) -> Diagnosis:
    """The snapshot's own questions answered: one diagnosis per principal (and per object of a
    prefix). A single-question view (a v1 document) is converted first."""
    if isinstance(snapshot, SnapshotView):
        snapshot = Snapshot.from_view(snapshot)
    principals: list[PrincipalDiagnosis] = []
    notes: list[str] = []
    answered: set[tuple[object, ...]] = set()
    for question in snapshot.questions:
        # The same role given as role/x and role/team/x is one principal (the collector read it
        # once, as GetRole names it): reported once.
        same = _same_question(snapshot, question)
        if same in answered:
            continue
        answered.add(same)
        shared = SharedWork()
        for _, view in _views(snapshot, question):
            if not view.target.principals:
                _add(notes, [_no_principal_reason(view)])
                continue
            diagnosis, assumptions = analyze_principal(view, view.target.principals[0], shared)
            principals.append(diagnosis)
            # Assumptions are worded for the whole run, so several principals share one note.
            _add(notes, assumptions)
    return Diagnosis(principals=principals, notes=notes)


def _same_question(snapshot: Snapshot, question: Question) -> tuple[object, ...]:
    info = snapshot.principals.get(question.principal)
    who: tuple[object, ...] = (question.principal,)
    if info is not None:
        who = (iam_entity_key(info.arn), info.source)
    return (*who, question.bucket, question.key, question.prefix, question.operation)


def _views(snapshot: Snapshot, question: Question) -> list[tuple[str | None, SnapshotView]]:
    object_keys = snapshot.object_keys(question)
    if question.prefix is not None and not object_keys:
        listing = snapshot.listings.get(listing_id(question.bucket, question.prefix))
        if listing is None or not listing.keys.is_ok:
            # Not listed: one answer whose object lock is unknown, saying why.
            object_keys = [question.prefix]
    return [(key, snapshot.view(question, key)) for key in object_keys]


def _no_principal_reason(view: SnapshotView) -> str:
    caller = view.target.caller
    why = caller.reason() if not caller.is_ok else "the snapshot lists no principal"
    return f"no principal to analyse in B ({why}); the verdict is unknown"


def _add(notes: list[str], more: list[str]) -> None:
    for note in more:
        if note not in notes:
            notes.append(note)
