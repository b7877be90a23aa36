"""Results of the analysis: lock results, findings, one diagnosis per principal, the whole run.

`Diagnosis.to_dict()` is the JSON contract documented in docs/json-output.md (and kept by
tests/analyze/test_json_contract.py); the report layer only prints what is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from kmsdoctor.analyze.evidence import LockEvidence
from kmsdoctor.errors import EXIT_ALLOW, EXIT_DENY, EXIT_UNKNOWN

# The locks, their report order and which are ceilings: from the lock catalogue.
from kmsdoctor.lock_catalogue import CEILING_LOCKS, LOCK_NAMES, LockName  # noqa: F401

# Version of the JSON report (not of the snapshot). Bump on any incompatible change.
REPORT_SCHEMA_VERSION = 1

LockStatus = Literal["allow", "implicit_deny", "explicit_deny", "not_applicable", "unknown"]
LOCK_STATUSES: tuple[LockStatus, ...] = get_args(LockStatus)
DENY_STATUSES: frozenset[str] = frozenset({"implicit_deny", "explicit_deny"})

Verdict = Literal["allow", "deny", "unknown"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)


@dataclass
class LockResult:
    status: LockStatus
    reason: str  # one sentence a person can act on
    # Typed: the requests checked, the deciding statements, the CloudTrail hint (evidence.py).
    evidence: LockEvidence = field(default_factory=LockEvidence)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "evidence": self.evidence.to_dict()}


FixTargetKind = Literal[
    "key_policy",
    "bucket_policy",
    "role_inline_policy",
    "user_inline_policy",
    "permissions_boundary",
    "managed_policy",  # a customer managed policy attached to the caller (create-policy-version)
    "scp",
    "rcp",
    "vpc_endpoint_policy",  # arn: the endpoint id
]


@dataclass(frozen=True)
class FixTarget:
    """The policy document a fix changes (`fix.target` in docs/json-output.md)."""

    kind: FixTargetKind
    arn: str  # the key, bucket, role or user, or the boundary/SCP/RCP policy
    policy_name: str | None = None  # inline policy name; None for resource policies

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arn": self.arn, "policy_name": self.policy_name}


@dataclass
class Fix:
    """The smallest change that opens a lock, in the account that must make it.
    kmsdoctor never applies it: `show_current` holds read-only commands that print what is there
    now, and `apply_command` the command that would apply `patched_policy` (printed, never run).
    `verified` is true only when the analysis, re-run with `patched_policy`, opens the lock
    without opening it to anyone else; `verification` says what was checked, or why it could not
    be.
    """

    account: str  # account id where the change is made ("" when not known)
    where: str  # "key policy of arn:aws:kms:…", "inline policy of role BIAnalyticsRole"
    change: str  # one or two sentences: what to add, change or remove
    statement: dict[str, Any] | None = None  # the statement to add, or the corrected statement
    show_current: list[str] = field(default_factory=list)  # read-only AWS CLI commands
    target: FixTarget | None = None  # None: a configuration step, not a policy change
    patched_policy: dict[str, Any] | None = None  # the whole document after the change
    apply_command: str | None = None  # the AWS CLI command that would apply patched_policy
    verified: bool = False
    verification: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "where": self.where,
            "change": self.change,
            "statement": self.statement,
            "show_current": list(self.show_current),
            "target": self.target.to_dict() if self.target else None,
            "patched_policy": self.patched_policy,
            "apply_command": self.apply_command,
            "verified": self.verified,
            "verification": self.verification,
        }


@dataclass
class Finding:
    code: str  # stable, e.g. "KD301"
    severity: Severity
    lock: LockName
    title: str
    detail: str  # the statement Sid and the condition that did or did not match, with values
    fix: Fix | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "lock": self.lock,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix.to_dict() if self.fix else None,
        }


def verdict_of_locks(locks: dict[str, LockResult]) -> Verdict:
    """deny if any lock is shut; else unknown if a needed lock is unknown; else allow.

    An unknown ceiling does not count here (see CEILING_LOCKS); its reason says so.
    """
    for result in locks.values():
        if result.status in DENY_STATUSES:
            return "deny"
    for name, result in locks.items():
        if result.status == "unknown" and name not in CEILING_LOCKS:
            return "unknown"
    return "allow"


def worst_verdict(verdicts: list[Verdict]) -> Verdict:
    """Across principals a deny anywhere must surface: deny > unknown > allow.

    No principals at all is `unknown`: there was nobody to decide for.
    """
    if not verdicts:
        return "unknown"
    if "deny" in verdicts:
        return "deny"
    if "unknown" in verdicts:
        return "unknown"
    return "allow"


def exit_code_of(verdict: Verdict) -> int:
    if verdict == "deny":
        return EXIT_DENY
    if verdict == "unknown":
        return EXIT_UNKNOWN
    return EXIT_ALLOW


@dataclass
class PrincipalDiagnosis:
    principal: str  # the IAM role or user ARN in the caller account
    locks: dict[str, LockResult]  # keyed by lock name, in LOCK_NAMES order
    findings: list[Finding] = field(default_factory=list)
    # Set by the probe reconciliation (reconcile.py) when AWS's answers to the probe decide the
    # verdict on their own (a GET that worked or was denied); None leaves it to the locks.
    probe_verdict: Verdict | None = None
    probe: dict[str, Any] | None = None  # the reconciliation, JSON-ready; None: not probed

    @property
    def verdict(self) -> Verdict:
        if self.probe_verdict is not None:
            return self.probe_verdict
        return verdict_of_locks(self.locks)

    def shut_locks(self) -> list[str]:
        return [name for name, result in self.locks.items() if result.status in DENY_STATUSES]

    def to_dict(self) -> dict[str, Any]:
        report = {
            "principal": self.principal,
            "verdict": self.verdict,
            "locks": {name: result.to_dict() for name, result in self.locks.items()},
            "findings": [finding.to_dict() for finding in self.findings],
        }
        if self.probe is not None:
            report["probe"] = self.probe
        return report


@dataclass
class Diagnosis:
    principals: list[PrincipalDiagnosis]
    # Things the reader must know that are not about one lock: no object key given (analysed
    # against the bucket default and a placeholder ARN), no probe was run, ...
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return worst_verdict([p.verdict for p in self.principals])

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report. One principal: flat shape plus `principal`; several: `principals`."""
        if len(self.principals) == 1:
            only = self.principals[0].to_dict()
            flat = {
                "schema_version": REPORT_SCHEMA_VERSION,
                "verdict": self.verdict,
                "principal": only["principal"],
                "locks": only["locks"],
                "findings": only["findings"],
                "notes": list(self.notes),
            }
            if "probe" in only:
                flat["probe"] = only["probe"]
            return flat
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "verdict": self.verdict,
            "principals": [p.to_dict() for p in self.principals],
            "notes": list(self.notes),
        }
