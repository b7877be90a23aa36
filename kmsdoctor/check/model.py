"""The results of a check run: one `CheckResult` per group of objects with the same outcome.

An expectation about one key gives one result per principal. An expectation about a prefix
gives one result per distinct outcome — verdict, shut locks, finding codes — with how many
objects share it and a few of their keys: 10,000 objects under two keys are two results, not
10,000. A `readers`/`writers` expectation gives the results of each listed principal (expected
to get through) and of every other principal considered (expected not to); the others that
behave as expected are folded into one result that counts them.

The analysis (kmsdoctor.analyze) decides verdicts; this module only compares them with the
check file and groups them. No boto3, no CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from kmsdoctor.analyze.model import CEILING_LOCKS, Finding, PrincipalDiagnosis, Verdict
from kmsdoctor.check.file import Access, CheckFile, Expectation
from kmsdoctor.errors import EXIT_ALLOW, EXIT_DENY, EXIT_UNKNOWN

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
) -> list[CheckResult]:
    """The results of a `readers`/`writers` expectation.

    `outcomes_by_principal`: every principal considered (the listed ones and every other one
    found in the check file's accounts), with its outcome per object. A listed principal must
    get through on every object; any other must not. The others that do not get through are
    folded into one passing result that counts them. `others_unknown`: why the other
    principals could not all be listed (an account that could not be read): the folded result
    is then unknown, with that reason.
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
    results.append(others)
    return results


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
    "access_results",
    "group_outcomes",
    "membership_results",
    "outcome_signature",
    "status_of",
]
