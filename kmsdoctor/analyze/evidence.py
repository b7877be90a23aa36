"""A lock's evidence, typed: the requests it checked and what each came to, the statements that
decided them, the grants, the key or object it read, where CloudTrail records a denial, and what
the probe added.

The analysis, the rules and the report read these fields; `to_dict()` turns them into the
`locks.*.evidence` object of the JSON report (docs/json-output.md) only when it is written, with
the same keys, in the same order, as always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConditionEvidence:
    operator: str
    key: str
    policy_values: list[str]
    request_values: list[str] | None  # None: the key is absent from the request
    matched: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "key": self.key,
            "policy_values": list(self.policy_values),
            "request_values": (
                list(self.request_values) if self.request_values is not None else None
            ),
            "matched": self.matched,
        }


@dataclass
class StatementEvidence:
    """A statement that decided a request, or nearly allowed it."""

    policy: str  # the policy's display name ("inline policy ReadCurated", "key policy")
    statement: str  # its Sid, or its position
    effect: str
    applies: bool
    summary: str  # one line: what the statement says and whether it matched
    conditions: list[ConditionEvidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "statement": self.statement,
            "effect": self.effect,
            "applies": self.applies,
            "summary": self.summary,
            "conditions": [c.to_dict() for c in self.conditions],
        }


@dataclass
class RequestEvidence:
    """One request a lock checked (`s3:GetObject` on the object, `kms:Decrypt` on the key)."""

    action: str
    resource: str
    # allow | implicit_deny | explicit_deny | not_applicable | unknown (a condition tests a value
    # that could not be read, e.g. tags); None: not evaluated (the layer is
    # missing altogether, e.g. no bucket policy cross-account)
    decision: str | None = None
    # None: the layer did not take part, so no statement was looked at
    statements: list[StatementEvidence] | None = None
    more_statements: int = 0  # statements left out of `statements` (only the first few are kept)

    @property
    def denied(self) -> bool:
        return self.decision in ("implicit_deny", "explicit_deny")

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"action": self.action, "resource": self.resource}
        if self.statements is not None:
            report["statements"] = [s.to_dict() for s in self.statements]
        if self.more_statements:
            report["more_statements"] = self.more_statements
        if self.decision is not None:
            report["decision"] = self.decision
        return report


@dataclass
class GrantEvidence:
    grant_id: str
    grantee: str
    matches: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "grant_id": self.grant_id,
            "grantee": self.grantee,
            "matches": self.matches,
            "reason": self.reason,
        }


@dataclass
class KeyEvidence:
    """The key the key_state lock read; the metadata fields only when it could be read."""

    reference: str
    found_on: str
    key_arn: str | None = None
    key_state: str | None = None
    key_manager: str | None = None
    region: str | None = None
    metadata_read: bool = False

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"reference": self.reference, "found_on": self.found_on}
        if self.metadata_read:
            report.update(
                {
                    "key_arn": self.key_arn,
                    "key_state": self.key_state,
                    "key_manager": self.key_manager,
                    "region": self.region,
                }
            )
        return report


@dataclass
class ObjectEvidence:
    """The object the object lock read; the encryption fields only when it could be read."""

    object_arn: str
    sse_algorithm: str | None = None
    kms_key_id: str | None = None
    bucket_key_enabled: bool = False
    head_read: bool = False

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"object_arn": self.object_arn}
        if self.head_read:
            report.update(
                {
                    "sse_algorithm": self.sse_algorithm,
                    "kms_key_id": self.kms_key_id,
                    "bucket_key_enabled": self.bucket_key_enabled,
                }
            )
        return report


@dataclass
class LockEvidence:
    """Everything a lock result rests on. Empty fields are left out of the JSON."""

    requests: list[RequestEvidence] | None = None  # None: the lock checked no request
    grants: list[GrantEvidence] | None = None  # key_policy only
    key: KeyEvidence | None = None  # key_state only
    object: ObjectEvidence | None = None  # object only
    cloudtrail: str | None = None  # where a denial of this lock is recorded
    cloudtrail_lookup: str | None = None  # what --cloudtrail found (reconcile.py)
    probe: list[str] = field(default_factory=list)  # where the probe's answers disagree
    # key_state only: KMS refused the probe's direct Decrypt for the key's state (KD710)
    probe_decrypt: str | None = None

    def denied_actions(self) -> set[str]:
        return {r.action for r in self.requests or [] if r.denied}

    def decision_for(self, action: str) -> str | None:
        for request in self.requests or []:
            if request.action == action:
                return request.decision
        return None

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        if self.requests is not None:
            report["requests"] = [r.to_dict() for r in self.requests]
        if self.grants is not None:
            report["grants"] = [g.to_dict() for g in self.grants]
        if self.key is not None:
            report.update(self.key.to_dict())
        if self.object is not None:
            report.update(self.object.to_dict())
        if self.cloudtrail is not None:
            report["cloudtrail"] = self.cloudtrail
        if self.cloudtrail_lookup is not None:
            report["cloudtrail_lookup"] = self.cloudtrail_lookup
        if self.probe:
            report["probe"] = list(self.probe)
        if self.probe_decrypt is not None:
            report["probe_decrypt"] = self.probe_decrypt
        return report
