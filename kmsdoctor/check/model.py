"""The results of a check run: one `CheckResult` per group of objects with the same outcome.

An expectation about one key gives one result per principal. An expectation about a prefix
gives one result per distinct outcome — verdict, shut locks, finding codes — with how many
objects share it and a few of their keys: 10,000 objects under two keys are two results, not
10,000. A `readers`/`writers` expectation gives the results of each listed principal (expected
to get through) and of every other principal considered (expected not to); the others that
behave as expected are folded into one result that counts them. Principals outside the
`[accounts]` that the bucket and key policies open to (another account, `*`, a grant) get a
result each: their own account decides, so it is `unknown` (or `fail`, for anyone at all).

The analysis (kmsdoctor.analyze) decides verdicts; this module only compares them with the
check file and groups them. No boto3, no CLI.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from kmsdoctor.analyze.model import CEILING_LOCKS, Finding, PrincipalDiagnosis, Verdict
from kmsdoctor.check.file import Access, CheckFile, Expectation
from kmsdoctor.errors import EXIT_ALLOW, EXIT_DENY, EXIT_UNKNOWN

if TYPE_CHECKING:
    from kmsdoctor.analyze.whocan import OutsidePrincipal

Status = Literal["pass", "fail", "unknown"]
STATUSES: tuple[Status, ...] = get_args(Status)
MAX_EXAMPLE_KEYS = 3


@dataclass(frozen=True)
class ObjectOutcome:
    """One principal's answer for one object (or for the key question's one object).
    `notes`: the analysis' assumptions, reported once for the whole run."""

    principal: str
    object_key: str | None
    diagnosis: PrincipalDiagnosis
    notes: tuple[str, ...] = ()


def status_of(expected: Access, verdict: Verdict) -> Status:
    if verdict == "unknown":
        return "unknown"
    return "pass" if verdict == expected else "fail"


def expectation_exit_code(expected: Access, verdict: Verdict) -> int:
    """`diagnose --expect`: 0 the verdict is the expected one, 1 it is not, 3 undecidable."""
    status = status_of(expected, verdict)
    if status == "unknown":
        return EXIT_UNKNOWN
    return EXIT_ALLOW if status == "pass" else EXIT_DENY


def outcome_signature(
    diagnosis: PrincipalDiagnosis,
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """What makes two objects' outcomes the same: verdict, shut locks, finding codes."""
    codes = tuple(sorted({finding.code for finding in diagnosis.findings}))
    return diagnosis.verdict, tuple(diagnosis.shut_locks()), codes


@dataclass
class CheckResult:
    expectation: Expectation
    principal: str | None  # None: the folded "every other principal" result
    expected: Access
    diagnosis: PrincipalDiagnosis | None  # one object's, standing for the group; None: none
    status: Status
    objects: int  # how many objects share this outcome (1 for a key)
    of_objects: int = 1  # how many objects this principal was checked on in all
    example_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    principals: int = 1  # the folded result: how many principals it stands for
    folded_verdict: Verdict | None = None  # the folded result's verdict (it has no diagnosis)
    # A principal outside the [accounts] the resource policies open to (principal is its name
    # as written; no diagnosis: its own account's IAM is not read).
    outside: OutsidePrincipal | None = None
    outside_fix: str = ""  # for an outside principal: what would settle it (or deny it)

    @property
    def verdict(self) -> Verdict:
        if self.diagnosis is not None:
            return self.diagnosis.verdict
        return self.folded_verdict or "unknown"

    @property
    def locks_shut(self) -> list[str]:
        return self.diagnosis.shut_locks() if self.diagnosis else []

    @property
    def findings(self) -> list[Finding]:
        return list(self.diagnosis.findings) if self.diagnosis else []

    @property
    def line(self) -> int:
        return self.expectation.line

    @property
    def name(self) -> str:
        """The expectation's name; for a readers/writers result, which principal it is about."""
        if self.expectation.kind == "access":
            return self.expectation.name
        if self.principal is None:
            return f"{self.expectation.name}: every other principal"
        if self.outside is not None:
            return f"{self.expectation.name}: {outside_label(self.outside)}"
        return f"{self.expectation.name}: {self.principal.rsplit('/', 1)[-1]}"

    def deciding_findings(self) -> list[Finding]:
        """The findings that explain the outcome: errors on the shut locks first."""
        shut = set(self.locks_shut)
        on_shut = [f for f in self.findings if f.lock in shut and f.severity == "error"]
        if on_shut:
            return on_shut
        return [f for f in self.findings if f.severity == "error"]

    def unknown_locks(self) -> list[str]:
        """The needed locks that could not be read (what makes the verdict unknown)."""
        if self.diagnosis is None:
            return []
        return [
            name
            for name, lock in self.diagnosis.locks.items()
            if lock.status == "unknown" and name not in CEILING_LOCKS
        ]


@dataclass
class CheckReport:
    check_file: CheckFile
    results: list[CheckResult]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for result in self.results:
            counts[result.status] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """0 every expectation held, 1 one failed, 3 none failed but one was undecidable."""
        summary = self.summary()
        if summary["fail"]:
            return EXIT_DENY
        if summary["unknown"]:
            return EXIT_UNKNOWN
        return EXIT_ALLOW

    def ordered(self) -> list[CheckResult]:
        """Failures first, then undecidable, then passes; file order within each."""
        rank = {"fail": 0, "unknown": 1, "pass": 2}
        return sorted(self.results, key=lambda r: (rank[r.status], r.expectation.index, r.line))


# -- building results ------------------------------------------------------------------------


def group_outcomes(
    expectation: Expectation, principal: str, expected: Access, outcomes: list[ObjectOutcome]
) -> list[CheckResult]:
    """One result per distinct outcome among one principal's objects, in first-seen order."""
    if not outcomes:
        return [
            CheckResult(
                expectation=expectation,
                principal=principal,
                expected=expected,
                diagnosis=None,
                status="unknown",
                objects=0,
                of_objects=0,
                notes=[f"no object under {expectation.address}: nothing to check"],
            )
        ]
    groups: dict[tuple, list[ObjectOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome_signature(outcome.diagnosis), []).append(outcome)
    results: list[CheckResult] = []
    for members in groups.values():
        first = members[0]
        results.append(
            CheckResult(
                expectation=expectation,
                principal=principal,
                expected=expected,
                diagnosis=first.diagnosis,
                status=status_of(expected, first.diagnosis.verdict),
                objects=len(members),
                of_objects=len(outcomes),
                example_keys=_example_keys(members),
            )
        )
    return results


def access_results(expectation: Expectation, outcomes: list[ObjectOutcome]) -> list[CheckResult]:
    """The results of a `principal` + `access` expectation."""
    assert expectation.principal is not None and expectation.access is not None
    return group_outcomes(expectation, expectation.principal, expectation.access, outcomes)


def membership_results(
    expectation: Expectation,
    outcomes_by_principal: dict[str, list[ObjectOutcome]],
    notes: Iterable[str] = (),
    others_unknown: str | None = None,
    outside: Sequence[OutsideOnObject] = (),
    accounts: Collection[str] = (),
) -> list[CheckResult]:
    """The results of a `readers`/`writers` expectation.

    `outcomes_by_principal`: every principal considered (the listed ones and every other one
    found in the check file's accounts), with its outcome per object. A listed principal must
    get through on every object; any other must not. The others that do not get through are
    folded into one passing result that counts them. `others_unknown`: why the other
    principals could not all be listed (an account that could not be read): the folded result
    is then unknown, with that reason. `outside`: per object, the principals outside the
    listed accounts that the resource policies open to (`outside_results`); a resource
    policy that could not be walked for them makes the folded result unknown too.
    """
    listed = set(expectation.principals)
    results: list[CheckResult] = []
    for principal in expectation.principals:
        outcomes = outcomes_by_principal.get(principal, [])
        results.extend(group_outcomes(expectation, principal, "allow", outcomes))
    held_out = 0
    objects = 0
    for principal, outcomes in outcomes_by_principal.items():
        if principal in listed:
            continue
        grouped = group_outcomes(expectation, principal, "deny", outcomes)
        if all(result.status == "pass" for result in grouped):
            held_out += 1
            objects = max(objects, len(outcomes))
            continue
        results.extend(result for result in grouped if result.status != "pass")
    opened, outside_notes = outside_results(expectation, outside, accounts)
    results.extend(opened)
    unwalked = [note for seen in outside for note in seen.notes]
    if others_unknown is None and unwalked:
        others_unknown = unwalked[0]
    others = CheckResult(
        expectation=expectation,
        principal=None,
        expected="deny",
        diagnosis=None,
        status="pass" if others_unknown is None else "unknown",
        objects=objects,
        principals=held_out,
        notes=list(notes),
        folded_verdict="deny" if others_unknown is None else "unknown",
    )
    if others_unknown is not None:
        others.notes.insert(0, others_unknown)
    elif held_out == 0 and not others.notes:
        others.notes.append("no other principal was found in the accounts of [accounts]")
    for note in outside_notes:
        if note not in others.notes:
            others.notes.append(note)
    results.append(others)
    return results


# -- principals outside the [accounts] (who-can's outside principals) ------------------------


@dataclass(frozen=True)
class OutsideOnObject:
    """The outside principals the resource policies open one object to, and what of those
    policies could not be walked."""

    object_key: str | None
    outside: Sequence[OutsidePrincipal]
    notes: Sequence[str] = ()


def outside_label(outside: OutsidePrincipal) -> str:
    """`account 333333333333`, `anyone (*)`, `PartnerReader (333333333333)`, a service name."""
    if outside.kind == "account":
        return f"account {outside.account}"
    if outside.kind == "anyone":
        return "anyone (*)"
    if outside.kind in ("role", "user") and outside.account:
        return f"{outside.principal.rsplit('/', 1)[-1]} ({outside.account})"
    return outside.principal


def opening_text(outside: OutsidePrincipal) -> str:
    """`bucket policy PartnerRead; key policy PartnerDecrypt when StringEquals …`."""
    opened = []
    for opening in outside.openings:
        when = f" when {' and '.join(opening.conditions)}" if opening.conditions else ""
        opened.append(opening.statement + when)
    return "; ".join(opened)


def outside_status(
    outside: OutsidePrincipal, accounts: Collection[str] = ()
) -> tuple[Status, Verdict, list[str], str] | None:
    """What an outside principal means for "exactly these principals may do it": None when
    it cannot get through on the resource account's side (so it keeps the expectation), else
    the status, the verdict, why (notes), and what would settle it (or deny it). `accounts`:
    the check file's [accounts] (an outside principal of one of them is in an account whose
    principals could not be listed)."""
    if outside.denied_always or outside.resource_side == "partly":
        return None
    if outside.kind in ("unique_id", "service"):
        return None  # nobody matches a deleted principal's id; a service is not a principal
    statements = ", ".join(o.statement for o in outside.openings)
    remove = f"remove or narrow {statements} if it should not"
    if outside.resource_side == "unknown":
        return (
            "unknown",
            "unknown",
            [
                f"{outside_label(outside)}, opened by {opening_text(outside)}: "
                f"{outside.missing}, so whether the resource account's side lets it through is "
                "unknown",
            ],
            "to decide it, give kmsdoctor read access to that policy",
        )
    conditional = any(o.conditions for o in outside.openings) or outside.denied_by
    if outside.kind == "anyone" and not conditional:
        return (
            "fail",
            "allow",
            [
                f"opened to anyone by {opening_text(outside)}: any AWS account can let its own "
                "principals through (for S3 alone, even unsigned requests), unless the "
                "account-wide S3 Block Public Access, which kmsdoctor does not read, stops it",
            ],
            f"to deny it, remove or narrow {statements}",
        )
    said = [f"opened by {opening_text(outside)}"]
    if outside.denied_by:
        said.append(f"unless denied by {', '.join(outside.denied_by)}")
    if outside.kind == "anyone":
        said.append(
            "anyone whose request meets those conditions gets through on the resource "
            "account's side; kmsdoctor cannot list who does"
        )
        settle = f"to decide it, {remove}"
    elif outside.account:
        said.append(
            f"{outside.why_outside}: its own IAM policies decide which of its principals "
            "get through"
        )
        if outside.account in accounts:
            settle = (
                f"to decide it, let the profile of account {outside.account} list its roles "
                f"and users (iam:GetAccountAuthorizationDetails), or {remove}"
            )
        else:
            settle = (
                f"to decide it, add account {outside.account} to [accounts] with a profile "
                f"that can read it (its roles and users are then listed and checked), or "
                f"{remove}"
            )
    else:
        said.append(f"{outside.why_outside}: kmsdoctor cannot tell whose principal it is")
        settle = f"to decide it, {remove}"
    return "unknown", "unknown", said, settle


def outside_results(
    expectation: Expectation,
    per_object: Sequence[OutsideOnObject],
    accounts: Collection[str] = (),
) -> tuple[list[CheckResult], list[str]]:
    """One result per outside principal that may get through (per distinct outcome, over a
    prefix's objects), and notes on the outside principals that cannot and on what could not
    be walked."""
    groups: dict[tuple, list[tuple[str | None, OutsidePrincipal]]] = {}
    notes: list[str] = []
    for seen in per_object:
        for note in seen.notes:
            if note not in notes:
                notes.append(note)
        for outside in seen.outside:
            decided = outside_status(outside, accounts)
            if decided is None:
                note = _shut_outside_note(outside)
                if note not in notes:
                    notes.append(note)
                continue
            status, verdict, said, settle = decided
            signature = (outside.principal, status, verdict, tuple(said), settle)
            groups.setdefault(signature, []).append((seen.object_key, outside))
    results: list[CheckResult] = []
    for (_, status, verdict, said, settle), members in groups.items():
        first = members[0][1]
        keys = [key for key, _ in members if key is not None]
        results.append(
            CheckResult(
                expectation=expectation,
                principal=first.principal,
                expected="deny",
                diagnosis=None,
                status=status,
                objects=len(members),
                of_objects=len(per_object),
                example_keys=list(dict.fromkeys(keys))[:MAX_EXAMPLE_KEYS],
                notes=list(said),
                folded_verdict=verdict,
                outside=first,
                outside_fix=settle,
            )
        )
    return results, notes


def _shut_outside_note(outside: OutsidePrincipal) -> str:
    label = outside_label(outside)
    opened = opening_text(outside)
    if outside.kind == "service":
        return (
            f"the AWS service {outside.principal}, opened by {opened}, is a service, not a "
            "principal of an account: what it does with the object is up to its own "
            "configuration"
        )
    if outside.kind == "unique_id":
        return f"{label}, named by {opened}, is a deleted principal's unique id: it matches nobody"
    if outside.denied_always:
        return f"{label}, opened by {opened}, is denied by {', '.join(outside.denied_by)}"
    return f"{label}, opened by {opened}, cannot get through: {outside.missing}"


def _example_keys(members: list[ObjectOutcome]) -> list[str]:
    keys: list[str] = []
    for member in members:
        if member.object_key is not None and member.object_key not in keys:
            keys.append(member.object_key)
        if len(keys) == MAX_EXAMPLE_KEYS:
            break
    return keys


__all__ = [
    "CheckReport",
    "CheckResult",
    "ObjectOutcome",
    "OutsideOnObject",
    "access_results",
    "group_outcomes",
    "membership_results",
    "outcome_signature",
    "outside_results",
    "outside_status",
    "status_of",
]
