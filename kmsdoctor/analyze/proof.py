"""Proving a fix before it is shown: the analysis, re-run with the patched policy.

For each fix that carries a `patched_policy`, the snapshot is copied with that one document
replaced (whatif.with_policy) and the locks are evaluated again:

1. the finding's lock must open (or, for a fix that tightens an open lock, stay open);
2. this principal's verdict must move to allow — or to deny on locks that were already shut,
   which the verification names ("the next shut lock is bucket_policy (KD201)"); no lock that
   was open may shut, and the verdict may not become unknown;
3. the same request from three stand-ins must not get through where it did not before: another
   role in the caller's account, a role in another account of the same organization, and a role
   of an account in no organization (what `*` admits). Each stand-in's own IAM policy allows the
   request, so only the resource policies and ceilings decide for it.

A fix that fails any of these is shown with `verified: false` and the reason; one with no
document (a configuration step, a session policy) says why there is nothing to re-analyse.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from kmsdoctor.analyze.context import build_request_context
from kmsdoctor.analyze.evaluation import evaluate_principal
from kmsdoctor.analyze.locks import evaluate_locks
from kmsdoctor.analyze.model import (
    CEILING_LOCKS,
    DENY_STATUSES,
    Finding,
    FixTarget,
    LockResult,
    verdict_of_locks,
)
from kmsdoctor.analyze.object_class import SharedWork, object_class
from kmsdoctor.analyze.whatif import with_policy
from kmsdoctor.arn import account_of, name_of
from kmsdoctor.snapshot import EntityInfo, Fetched, NamedPolicy, PrincipalInfo, Snapshot

STAND_IN_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
        }
    ],
}
# The fix targets that are the principal's own documents (whatif.with_policy changes them on
# the principals that hold them, never on a stand-in).
PRINCIPAL_DOCUMENTS = (
    "role_inline_policy",
    "user_inline_policy",
    "managed_policy",
    "permissions_boundary",
)
# Accounts for the stand-ins outside the caller's account: any ids that are neither A nor B.
SPARE_ACCOUNTS = ("444455556666", "777788889999", "123456789012")


@dataclass
class StandIn:
    who: str  # "another role in 222222222222", "another account", "*"
    principal: PrincipalInfo
    outsider: bool  # in no organization (what `*` admits)


def lock_results(snapshot: Snapshot, principal: PrincipalInfo) -> dict[str, LockResult]:
    """The locks alone (no rules, no reconciliation): what the proof compares."""
    ev = evaluate_principal(build_request_context(snapshot, principal))
    return evaluate_locks(ev)


def stand_ins(snapshot: Snapshot, principal: PrincipalInfo) -> list[StandIn]:
    caller_account = account_of(principal.arn)
    taken = {caller_account}
    if snapshot.source.account_id.is_ok and snapshot.source.account_id.value:
        taken.add(snapshot.source.account_id.value)
    spare = [a for a in SPARE_ACCOUNTS if a not in taken]
    return [
        StandIn(
            f"another role in {caller_account}",
            _stand_in(f"arn:aws:iam::{caller_account}:role/kmsdoctor-another-role"),
            False,
        ),
        StandIn(
            "another account", _stand_in(f"arn:aws:iam::{spare[0]}:role/kmsdoctor-stand-in"), False
        ),
        StandIn("*", _stand_in(f"arn:aws:iam::{spare[1]}:role/kmsdoctor-anyone"), True),
    ]


def _stand_in(arn: str) -> PrincipalInfo:
    name = name_of(arn)
    return PrincipalInfo(
        arn=arn,
        kind="role",
        source="role_arn",
        session_arn=f"arn:aws:sts::{account_of(arn)}:assumed-role/{name}/kmsdoctor",
        entity=Fetched.ok(EntityInfo(name=name, arn=arn, unique_id="AROAKMSDOCTORSTANDIN1")),
        inline_policies=Fetched.ok([NamedPolicy(name="stand-in", document=STAND_IN_POLICY)]),
        attached_policies=Fetched.ok([]),
        group_policies=Fetched.absent(),
        permissions_boundary=Fetched.absent(),
        session_policy=Fetched.absent(),
    )


def _outside_any_organization(snapshot: Snapshot) -> Snapshot:
    target = dataclasses.replace(
        snapshot.target,
        organization=Fetched.absent(),
        scps=Fetched.absent(),
        vpc_endpoints=Fetched.ok([]),
    )
    return dataclasses.replace(snapshot, target=target)


def _stand_in_results(snapshot: Snapshot, stand_in: StandIn) -> dict[str, LockResult]:
    view = _outside_any_organization(snapshot) if stand_in.outsider else snapshot
    return lock_results(view, stand_in.principal)


def _statuses(results: dict[str, LockResult]) -> dict[str, LockResult]:
    """The statuses alone: what the stand-ins' comparisons read, and all that is the same for
    every object of a class (reasons name the object)."""
    return {name: LockResult(result.status, "") for name, result in results.items()}


def target_words(target: FixTarget) -> str:
    kind = target.kind
    if kind == "key_policy":
        return "key policy"
    if kind == "bucket_policy":
        return "bucket policy"
    if kind in ("role_inline_policy", "user_inline_policy"):
        return f"inline policy {target.policy_name}"
    if kind == "managed_policy":
        return f"managed policy {target.policy_name or target.arn}"
    if kind == "permissions_boundary":
        return "permissions boundary"
    if kind in ("scp", "rcp"):
        return f"{kind.upper()} {target.policy_name or target.arn}"
    return f"endpoint policy of {target.arn}"


def _shut(locks: dict[str, LockResult]) -> list[str]:
    return [name for name, lock in locks.items() if lock.status in DENY_STATUSES]


def _first_sentence(text: str) -> str:
    return text.partition(". ")[0].rstrip(".")


class _Prover:
    """Proves the fixes of one principal; the stand-ins' answers before any change are computed
    once, and a patched document shared by several fixes is re-analysed once."""

    def __init__(
        self,
        snapshot: Snapshot,
        principal: PrincipalInfo,
        locks: dict[str, LockResult],
        memo: SharedWork | None = None,
    ):
        self.snapshot = snapshot
        self.principal = principal
        self.locks = locks
        self.memo = memo
        self.role_word = "user" if principal.kind == "user" else "role"
        self._stand_ins: list[StandIn] | None = None
        self._before: list[dict[str, LockResult]] = []
        self._done: dict[tuple[Any, ...], tuple[bool, str]] = {}
        # The stand-ins' locks on the last patched snapshot: _gained and _others_sentence
        # both read them, so each patched document is evaluated once per stand-in.
        self._after: tuple[Snapshot, list[dict[str, LockResult]]] | None = None
        self._classes: dict[Any, Any] = {}  # the view's object class, by patch

    def stand_ins_before(self) -> list[tuple[StandIn, dict[str, LockResult]]]:
        """Each stand-in with its lock statuses before any change."""
        if self._stand_ins is None:
            self._stand_ins = stand_ins(self.snapshot, self.principal)
            self._before = [self._statuses_of(self.snapshot, s, None) for s in self._stand_ins]
        return list(zip(self._stand_ins, self._before, strict=True))

    def stand_ins_after(
        self, changed: Snapshot, patch: tuple[Any, ...]
    ) -> list[tuple[StandIn, dict[str, LockResult], dict[str, LockResult]]]:
        """Each stand-in with its lock statuses before and after the change."""
        before = self.stand_ins_before()
        if self._after is None or self._after[0] is not changed:
            if patch[0].kind in PRINCIPAL_DOCUMENTS:
                # The stand-ins attach none of the principal's documents (their one policy is
                # STAND_IN_POLICY): a patch of those leaves their answers as they were.
                after = [was for _, was in before]
            else:
                after = [self._statuses_of(changed, s, patch) for s, _ in before]
            self._after = (changed, after)
        return [
            (stand_in, was, now)
            for (stand_in, was), now in zip(before, self._after[1], strict=True)
        ]

    def _principal_after(
        self, changed: Snapshot, principal: PrincipalInfo, patch: tuple[Any, ...]
    ) -> dict[str, LockResult]:
        """This principal's lock statuses with the patch: once per class of objects."""
        if self.memo is None:
            return _statuses(lock_results(changed, principal))
        key = (self.principal.arn, id(self.principal), patch[:2], self._class_of(patch))
        found = self.memo.statuses.get(key)
        if found is None:
            found = _statuses(lock_results(changed, principal))
            self.memo.statuses[key] = found
        return found

    def _class_of(self, patch: tuple[Any, ...] | None) -> Any:
        """The view's object class, with the patched document among its policies."""
        assert self.memo is not None
        patch_key = patch[:2] if patch is not None else None
        if patch_key not in self._classes:
            extra = [STAND_IN_POLICY] + ([patch[2]] if patch is not None else [])
            self._classes[patch_key] = object_class(self.snapshot, extra, self.memo.judged)
            if len(self._classes) == 1:
                self.memo.views.append(self.snapshot)
        return self._classes[patch_key]

    def _statuses_of(
        self, snapshot: Snapshot, stand_in: StandIn, patch: tuple[Any, ...] | None
    ) -> dict[str, LockResult]:
        """A stand-in's lock statuses on `snapshot` (the view, or the view with the patch):
        computed once per class of objects no policy tells apart. The class is taken from the
        unpatched view, with the patched document among the policies it reads."""
        if self.memo is None:
            return _statuses(_stand_in_results(snapshot, stand_in))
        patch_key = patch[:2] if patch is not None else None
        key = (stand_in.principal.arn, stand_in.outsider, patch_key, self._class_of(patch))
        found = self.memo.statuses.get(key)
        if found is None:
            found = _statuses(_stand_in_results(snapshot, stand_in))
            self.memo.statuses[key] = found
        return found

    def prove(
        self, lock: str, target: FixTarget, patched: Any, findings: list[Finding]
    ) -> tuple[bool, str]:
        text = json.dumps(patched, sort_keys=True, default=str)
        key = (lock, target, text)
        if key not in self._done:
            self._done[key] = self._prove(lock, target, patched, findings, (target, text, patched))
        return self._done[key]

    def _prove(
        self,
        lock: str,
        target: FixTarget,
        patched: Any,
        findings: list[Finding],
        patch: tuple[Any, ...],
    ) -> tuple[bool, str]:
        words = f"re-analysed with the patched {target_words(target)}"
        changed = with_policy(self.snapshot, target, patched)
        principal = next(
            (p for p in changed.target.principals if p.arn == self.principal.arn), None
        )
        if principal is None:  # pragma: no cover - with_policy keeps every principal
            return False, f"not verified: {words}, but {self.principal.arn} was not found"
        # The statuses decide; a reason is read (from this object's own results) only when the
        # text quotes it, so objects of one class share the statuses.
        after = self._principal_after(changed, principal, patch)
        with_reasons: list[dict[str, LockResult]] = []

        def reason_of(name: str) -> str:
            if not with_reasons:
                with_reasons.append(lock_results(changed, principal))
            return _first_sentence(with_reasons[0][name].reason)

        before_status = self.locks[lock].status if lock in self.locks else "not_applicable"
        after_lock = after.get(lock)
        if after_lock is not None and after_lock.status in DENY_STATUSES:
            reason = reason_of(lock)
            return False, f"not verified: {words}, {lock} stays {after_lock.status} ({reason})"
        if after_lock is not None and after_lock.status == "unknown":
            reason = reason_of(lock)
            return False, f"not verified: {words}, {lock} would be unknown ({reason})"
        shut_before = set(_shut(self.locks))
        newly_shut = [name for name in _shut(after) if name not in shut_before]
        if newly_shut:
            reasons = "; ".join(f"{n}: {reason_of(n)}" for n in newly_shut)
            return False, f"not verified: {words}, it would shut {reasons}"
        verdict = verdict_of_locks(after)
        undecided = [
            n for n, r in after.items() if r.status == "unknown" and n not in CEILING_LOCKS
        ]
        newly_undecided = [n for n in undecided if self.locks.get(n, after[n]).status != "unknown"]
        if newly_undecided:
            return False, (
                f"not verified: {words}, {', '.join(newly_undecided)} could no longer be decided"
            )
        gained = self._gained(changed, patch, lock)
        if gained:
            return False, f"not verified: {words}, it would also let {gained} through"
        opened = before_status in DENY_STATUSES
        text = f"{words}: {lock} {'opens' if opened else 'stays open'} for this {self.role_word}"
        if verdict == "deny":
            text += "; the next shut lock is " + ", ".join(
                self._with_code(name, findings) for name in _shut(after)
            )
        elif verdict == "unknown":
            # Already undecided before the change: not the fix's doing, but the reader must know.
            text += "; the verdict would then be unknown: " + "; ".join(
                f"{name} could not be decided ({reason_of(name)})" for name in undecided
            )
        return True, text + "; " + self._others_sentence(changed, patch, lock)

    def _gained(self, changed: Snapshot, patch: tuple[Any, ...], lock: str) -> str:
        """Stand-ins the patched document lets through where they were refused before."""
        who: list[str] = []
        for stand_in, before, after in self.stand_ins_after(changed, patch):
            verdict_gained = (
                verdict_of_locks(before) != "allow" and verdict_of_locks(after) == "allow"
            )
            was_shut = before.get(lock) is not None and before[lock].status in DENY_STATUSES
            now_open = after.get(lock) is not None and after[lock].status not in DENY_STATUSES
            if verdict_gained or (was_shut and now_open):
                who.append(stand_in.who)
        return ", ".join(who)

    def _others_sentence(self, changed: Snapshot, patch: tuple[Any, ...], lock: str) -> str:
        """What the same request from each stand-in does at this lock, before and after."""
        stayed_denied: list[str] = []
        closed: list[str] = []
        still_open: list[str] = []
        for stand_in, before, after in self.stand_ins_after(changed, patch):
            was_open = _passes(before, lock)
            now_open = _passes(after, lock)
            if was_open and now_open:
                still_open.append(stand_in.who)
            elif was_open:
                closed.append(stand_in.who)
            else:
                stayed_denied.append(stand_in.who)
        parts = []
        if stayed_denied:
            parts.append(f"the same request {_from(stayed_denied)} stays denied")
        if closed:
            parts.append(f"{_from(closed)} it is now denied at {lock} (it was let through)")
        if still_open:
            parts.append(f"{_from(still_open)} it is let through at {lock}, as before")
        return "; ".join(parts)

    def _with_code(self, lock: str, findings: list[Finding]) -> str:
        codes = [f.code for f in findings if f.lock == lock and f.severity == "error"]
        return f"{lock} ({', '.join(codes)})" if codes else lock


def _passes(locks: dict[str, LockResult], lock: str) -> bool:
    """The request gets through this lock (and, for the whole verdict, every lock)."""
    result = locks.get(lock)
    return result is not None and result.status not in DENY_STATUSES and result.status != "unknown"


def _from(items: list[str]) -> str:
    """ "from X, from Y and from Z"."""
    said = [f"from {item}" for item in items]
    if len(said) == 1:
        return said[0]
    return ", ".join(said[:-1]) + " and " + said[-1]


def prove_fixes(
    snapshot: Snapshot,
    principal: PrincipalInfo,
    locks: dict[str, LockResult],
    findings: list[Finding],
    memo: SharedWork | None = None,
) -> None:
    """Fill in `verified` and `verification` on every fix of this principal's findings.
    `memo`, shared by the objects of one question, lets objects that no policy tells apart
    share the stand-ins' statuses (each object still gets its own proof for its principal)."""
    prover = _Prover(snapshot, principal, locks, memo)
    for finding in findings:
        fix = finding.fix
        if fix is None:
            continue
        if fix.target is None or fix.patched_policy is None:
            fix.verified = False
            if not fix.verification:
                fix.verification = (
                    "not a policy change: a configuration step or a check, so there is no "
                    "document to re-analyse"
                )
            continue
        fix.verified, fix.verification = prover.prove(
            finding.lock, fix.target, fix.patched_policy, findings
        )
