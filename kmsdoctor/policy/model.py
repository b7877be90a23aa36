"""Public types of the policy engine: requests in, decisions and traces out.

The engine knows nothing of boto3, snapshots or the CLI. The analysis builds `Request`s and
`AccessInputs` from a snapshot and reads `AccessDecision`s back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# A condition-context value: one string, or a multivalued key (list of strings). Booleans and
# numbers are given as strings exactly as AWS puts them in the request context ("true", "42").
ContextValue = str | Sequence[str]

PolicyKind = Literal[
    "identity", "resource", "permissions_boundary", "session", "scp", "rcp", "vpc_endpoint"
]


class PolicyError(ValueError):
    """A policy the engine cannot read. Names the policy and the place inside it."""

    def __init__(self, policy_name: str, location: str, message: str) -> None:
        self.policy_name = policy_name
        self.location = location  # e.g. "Statement[2].Condition.StringEquals"
        self.message = message
        super().__init__(f"{policy_name}: {location}: {message}")


@dataclass(frozen=True)
class PolicyWarning:
    """Something in a policy that AWS accepts or might accept but that rarely means what it says.

    Parsing still succeeds; the report can show these next to the policy.
    """

    policy_name: str
    location: str  # e.g. "Statement[2].Condition"
    message: str


class Decision(StrEnum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit_deny"
    EXPLICIT_DENY = "explicit_deny"


@dataclass(frozen=True)
class RequestPrincipal:
    """Who makes the request, as AWS sees it."""

    arn: str  # session ARN for assumed roles (arn:aws:sts::B:assumed-role/Role/sess), else entity
    account: str
    entity_arn: str | None = None  # the IAM role/user ARN (aws:PrincipalArn); role for sessions
    unique_id: str | None = None  # AROA.../AIDA... of the entity that holds the name *now*
    service: str | None = None  # for service principals, e.g. "s3.amazonaws.com"


@dataclass(frozen=True)
class Request:
    action: str  # "kms:Decrypt"
    resource: str  # ARN
    principal: RequestPrincipal
    # Condition keys, matched case-insensitively by key name: "aws:PrincipalOrgID",
    # "kms:ViaService", "kms:EncryptionContext:aws:s3:arn", "aws:SecureTransport" ("true"), ...
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ConditionTrace:
    operator: str  # as written, e.g. "ForAnyValue:StringLike" or "StringEqualsIfExists"
    key: str  # as written in the policy
    policy_values: tuple[str, ...]
    request_values: tuple[str, ...] | None  # None when the key is not in the request
    matched: bool
    note: str = ""  # e.g. "key absent; ...IfExists matches"


# How a statement's Principal matched the request, strongest first. AWS treats a resource policy
# that names the calling session (or user) directly differently from one that names the role
# behind the session, and both differently from one that names the whole account.
#   "wildcard": "*" or {"AWS": "*"}
#   "exact":    the calling principal itself (session ARN, user ARN, service, a user's unique id)
#   "entity":   the role (or IAM user) behind the calling session, by ARN or by unique id
#   "account":  the caller's account (account id or :root): delegates to that account's IAM
PrincipalMatch = Literal["wildcard", "exact", "entity", "account"]


@dataclass(frozen=True)
class StatementText:
    """A statement's elements as written, kept for sentences about why it did (not) apply."""

    actions: tuple[str, ...]
    actions_negated: bool  # NotAction
    resources: tuple[str, ...]
    resources_negated: bool  # NotResource
    principals: tuple[str, ...]  # "AWS:arn:aws:iam::111122223333:root", "Service:s3...", "*"
    principals_negated: bool  # NotPrincipal


@dataclass(frozen=True)
class StatementTrace:
    policy_name: str
    index: int  # position in the Statement list
    sid: str | None
    effect: Literal["Allow", "Deny"]
    action_matched: bool
    resource_matched: bool
    principal_matched: bool | None  # None when the policy kind has no Principal element
    conditions: tuple[ConditionTrace, ...]
    applies: bool  # every element matched: the statement's effect takes part in the decision
    # True when the statement matched the principal only through an account principal
    # (account id or :root), which delegates the decision to that account's IAM policies.
    via_account_principal: bool = False
    principal_match: PrincipalMatch | None = None  # None when no principal matched (or no element)
    notes: tuple[str, ...] = ()  # rare extras: an unresolved ${variable}, the NotPrincipal rule
    # The statement as written and the request it was evaluated against; for describe_statement.
    text: StatementText | None = field(default=None, compare=False, repr=False)
    request: Request | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return self.sid if self.sid else f"Statement[{self.index}]"


@dataclass(frozen=True)
class PolicyResult:
    policy_name: str
    decision: Decision
    statements: tuple[StatementTrace, ...]

    @property
    def deciding(self) -> tuple[StatementTrace, ...]:
        """The statements that made the decision: applying Denies, else applying Allows."""
        wanted = "Deny" if self.decision is Decision.EXPLICIT_DENY else "Allow"
        if self.decision is Decision.IMPLICIT_DENY:
            return ()
        return tuple(s for s in self.statements if s.applies and s.effect == wanted)


LayerName = Literal[
    "identity",
    "resource",
    "permissions_boundary",
    "session",
    "scp",
    "rcp",
    "vpc_endpoint",
]


@dataclass(frozen=True)
class LayerResult:
    layer: LayerName
    # None when the layer does not take part (no boundary, not in an organization, ...).
    decision: Decision | None
    results: tuple[PolicyResult, ...]
    reason: str  # one sentence, e.g. "no statement in the key policy allows kms:Decrypt"
    # For SCP / RCP / VPC endpoint layers: the decision of each level, in the order given.
    level_decisions: tuple[Decision, ...] = ()


@dataclass(frozen=True)
class AccessDecision:
    decision: Decision
    layers: Mapping[str, LayerResult]
    deciding_layer: LayerName | None  # the layer that shut the request, None when allowed
    reason: str


@dataclass
class AccessInputs:
    """Every policy that takes part in one authorization, grouped by layer.

    `scps` / `rcps` are lists of levels (root → OU → account); every level must allow. `None`
    means the layer does not apply (the account is not in an organization).
    """

    resource_account: str
    resource_service: Literal["s3", "kms", "other"]
    identity: Sequence[object] = ()  # compiled Policy objects
    resource_policy: object | None = None
    permissions_boundary: object | None = None
    session_policies: Sequence[object] = ()
    scps: Sequence[Sequence[object]] | None = None
    rcps: Sequence[Sequence[object]] | None = None
    vpc_endpoint_policies: Sequence[object] = ()
    # A KMS grant for this principal and operation: an alternative to the key policy's allow.
    resource_allowed_by_grant: bool = False
