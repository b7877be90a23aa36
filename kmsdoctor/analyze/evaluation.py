"""Feeding the policy engine: the snapshot's policies per layer, and one decision per request.

The engine (`kmsdoctor.policy`) decides; this module only gathers, for one principal, which
policies take part in each layer, which could not be read, and which KMS grants match. Locks and
rules read the resulting `PrincipalEvaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmsdoctor.analyze.context import Authorization, RequestContext
from kmsdoctor.analyze.model import LockResult
from kmsdoctor.analyze.object_class import SharedWork
from kmsdoctor.lock_catalogue import LockName
from kmsdoctor.policy import evaluate_access, parse_policy
from kmsdoctor.policy.model import (
    AccessDecision,
    AccessInputs,
    PolicyError,
    PolicyKind,
    PolicyResult,
)
from kmsdoctor.snapshot import Fetched, Grant, NamedPolicy, PolicyLevel

# What AWS returns for an endpoint created without a policy: full access.
DEFAULT_ENDPOINT_POLICY: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
}


@dataclass
class SourcedPolicy:
    """A compiled policy and where it came from (for evidence and fixes)."""

    name: str  # the display name the engine puts in its traces
    origin: str  # inline | managed | group | bucket | key | boundary | session | scp | rcp | vpce
    named: NamedPolicy
    compiled: Any  # kmsdoctor.policy.Policy


@dataclass
class PolicyLayer:
    """The policies of one layer for one principal."""

    policies: list[SourcedPolicy] = field(default_factory=list)
    # SCP / RCP only: one list per level (root → OU → account); every level must allow.
    levels: list[list[SourcedPolicy]] | None = None
    takes_part: bool = True
    not_part_reason: str = ""  # why the layer does not take part
    unknown_reasons: list[str] = field(default_factory=list)  # facts that could not be read

    @property
    def is_unknown(self) -> bool:
        return bool(self.unknown_reasons)

    def all_policies(self) -> list[SourcedPolicy]:
        if self.levels is None:
            return list(self.policies)
        flat: list[SourcedPolicy] = []
        for level in self.levels:
            flat.extend(level)
        return flat


@dataclass
class PolicySet:
    identity: PolicyLayer
    bucket_policy: PolicyLayer
    key_policy: PolicyLayer
    permissions_boundary: PolicyLayer
    session_policy: PolicyLayer
    scp: PolicyLayer
    rcp: PolicyLayer
    vpc_endpoint: PolicyLayer

    def by_lock(self) -> dict[LockName, PolicyLayer]:
        """Each policy lock of the catalogue and the layer of policies that decides it."""
        return {
            "identity": self.identity,
            "bucket_policy": self.bucket_policy,
            "key_policy": self.key_policy,
            "permissions_boundary": self.permissions_boundary,
            "session_policy": self.session_policy,
            "scp": self.scp,
            "rcp": self.rcp,
            "vpc_endpoint": self.vpc_endpoint,
        }

    def find(self, policy_name: str) -> SourcedPolicy | None:
        for layer in self.by_lock().values():
            for policy in layer.all_policies():
                if policy.name == policy_name:
                    return policy
        return None


@dataclass
class GrantMatch:
    grant: Grant
    matches: bool
    reason: str  # why it does or does not open the key for this request


@dataclass
class PrincipalEvaluation:
    """Everything the locks and rules need for one principal."""

    ctx: RequestContext
    policies: PolicySet
    decisions: dict[str, AccessDecision]  # keyed by Authorization.name
    grant_matches: dict[str, list[GrantMatch]]  # keyed by Authorization.name (KMS ones)
    grants_unknown_reason: str | None = None
    # Filled once the locks are evaluated; rules read them (e.g. "is the key policy lock shut?").
    locks: dict[str, LockResult] = field(default_factory=dict)

    def decision(self, authorization: str) -> AccessDecision | None:
        return self.decisions.get(authorization)

    def results(self, authorization: str, layer: str) -> tuple[PolicyResult, ...]:
        decision = self.decisions.get(authorization)
        if decision is None:
            return ()
        layer_result = decision.layers.get(layer)
        return layer_result.results if layer_result is not None else ()

    def matching_grants(self, authorization: str) -> list[Grant]:
        return [m.grant for m in self.grant_matches.get(authorization, []) if m.matches]


# --- gathering policies ------------------------------------------------------------------------


def _compile(
    named: NamedPolicy, display: str, origin: str, kind: PolicyKind, layer: PolicyLayer
) -> None:
    try:
        compiled = parse_policy(named.document, name=display, kind=kind)
    except PolicyError as exc:
        # An error about the whole document (not JSON, too large) has no place inside it.
        place = exc.location or "the document"
        layer.unknown_reasons.append(f"{display} could not be read: {place}: {exc.message}")
        return
    layer.policies.append(SourcedPolicy(display, origin, named, compiled))


def _identity_layer(ctx: RequestContext) -> PolicyLayer:
    principal = ctx.principal
    layer = PolicyLayer()
    entity = principal.entity
    if entity.status == "absent":
        layer.takes_part = False
        layer.not_part_reason = (
            f"{principal.arn} does not exist in the caller account {ctx.caller_account} "
            f"({entity.reason()})"
        )
        return layer
    if entity.is_unknown:
        layer.unknown_reasons.append(f"{principal.arn} could not be read ({entity.reason()})")

    sources: list[tuple[str, Fetched[list[NamedPolicy]]]] = [
        ("inline", principal.inline_policies),
        ("managed", principal.attached_policies),
    ]
    if principal.kind == "user":
        sources.append(("group", principal.group_policies))
    for origin, fetched in sources:
        if fetched.is_unknown:
            layer.unknown_reasons.append(f"{origin} policies not readable ({fetched.reason()})")
            continue
        for named in fetched.value or []:
            display = _identity_display_name(origin, named)
            _compile(named, display, origin, "identity", layer)
    return layer


def _identity_display_name(origin: str, named: NamedPolicy) -> str:
    if origin == "inline":
        return f"inline policy {named.name}"
    if origin == "group":
        return f"group policy {named.name}"
    return f"managed policy {named.name}"


def _boundary_display(boundary: Fetched[NamedPolicy]) -> str:
    if boundary.value is None:
        return "permissions boundary"
    return f"permissions boundary {boundary.value.name}"


def _single_policy_layer(
    fetched: Fetched[NamedPolicy],
    display: str,
    origin: str,
    kind: PolicyKind,
    absent_reason: str,
) -> PolicyLayer:
    layer = PolicyLayer()
    if fetched.status == "absent":
        layer.takes_part = False
        layer.not_part_reason = absent_reason
        return layer
    if fetched.is_unknown or fetched.value is None:
        layer.unknown_reasons.append(f"{display} not readable ({fetched.reason()})")
        return layer
    _compile(fetched.value, display, origin, kind, layer)
    return layer


def _org_layer(
    fetched: Fetched[list[PolicyLevel]],
    kind: PolicyKind,
    label: str,
    account_label: str,
    exempt_reason: str | None,
) -> PolicyLayer:
    layer = PolicyLayer(levels=[])
    if exempt_reason:
        layer.takes_part = False
        layer.not_part_reason = exempt_reason
        return layer
    if fetched.status == "absent":
        layer.takes_part = False
        layer.not_part_reason = f"{account_label} is not in an organization with {label}s"
        return layer
    if fetched.is_unknown or fetched.value is None:
        layer.unknown_reasons.append(
            f"{label}s over {account_label} not readable ({fetched.reason()})"
        )
        return layer
    if not fetched.value:
        layer.takes_part = False
        layer.not_part_reason = f"no {label}s apply to {account_label}"
        return layer
    levels: list[list[SourcedPolicy]] = []
    for level in fetched.value:
        compiled_level = PolicyLayer()
        for named in level.policies:
            target = f"{level.target_type.lower()} {level.name or level.target_id}"
            display = f"{label} {named.name} on {target}"
            _compile(named, display, kind, kind, compiled_level)
        layer.unknown_reasons.extend(compiled_level.unknown_reasons)
        levels.append(compiled_level.policies)
    layer.levels = levels
    return layer


def _vpc_endpoint_layer(ctx: RequestContext) -> PolicyLayer:
    fetched = ctx.snapshot.target.vpc_endpoints
    layer = PolicyLayer()
    if fetched.is_unknown:
        layer.unknown_reasons.append(
            f"the VPC endpoints of the caller account {ctx.caller_account} not readable "
            f"({fetched.reason()})"
        )
        return layer
    if not ctx.s3_endpoints:
        layer.takes_part = False
        layer.not_part_reason = (
            f"the caller account {ctx.caller_account} has no S3 VPC endpoint in {ctx.region}"
        )
        return layer
    for endpoint in ctx.s3_endpoints:
        named = endpoint.policy or NamedPolicy(
            name=endpoint.endpoint_id, document=DEFAULT_ENDPOINT_POLICY
        )
        display = f"endpoint policy of {endpoint.endpoint_id}"
        _compile(named, display, "vpce", "vpc_endpoint", layer)
    return layer


def gather_policies(ctx: RequestContext, shared: SharedWork | None = None) -> PolicySet:
    """The policies of every layer for this principal. With `shared` (the objects of one
    question), layers read from the same facts are gathered and compiled once: nothing changes
    a PolicySet once gathered."""
    if shared is None:
        return _gather_policies(ctx)
    snapshot = ctx.snapshot
    source, target = snapshot.source, snapshot.target
    facts = (
        id(ctx.principal),
        id(source.bucket),
        id(ctx.key.policy) if ctx.key is not None else None,
        id(source.organization),
        id(target.organization),
        id(source.rcps),
        id(target.scps),
        id(target.vpc_endpoints),
        ctx.caller_account,
        ctx.resource_account,
        ctx.region,
        ctx.entity_name,
    )
    found = shared.policy_sets.get(facts)
    if found is None:
        found = _gather_policies(ctx)
        shared.policy_sets[facts] = found
        shared.views.append(snapshot)  # keeps the ids above from being reused
    return found


def _gather_policies(ctx: RequestContext) -> PolicySet:
    snapshot = ctx.snapshot
    principal = ctx.principal
    bucket = snapshot.source.bucket

    key_layer = PolicyLayer()
    if ctx.key is None:
        key_layer.takes_part = False
        key_layer.not_part_reason = "no KMS key is involved"
    else:
        key_layer = _single_policy_layer(
            ctx.key.policy,
            "key policy",
            "key",
            "resource",
            absent_reason="the key has no key policy",
        )

    target_org = snapshot.target.organization.value if snapshot.target.organization.is_ok else None
    source_org = snapshot.source.organization.value if snapshot.source.organization.is_ok else None
    scp_exempt = None
    if target_org and target_org.management_account_id == ctx.caller_account:
        scp_exempt = "B is the organization's management account: SCPs do not apply to it"
    rcp_exempt = None
    if source_org and source_org.management_account_id == ctx.resource_account:
        rcp_exempt = "A is the organization's management account: RCPs do not apply to it"

    return PolicySet(
        identity=_identity_layer(ctx),
        bucket_policy=_single_policy_layer(
            bucket.policy,
            "bucket policy",
            "bucket",
            "resource",
            absent_reason=f"bucket {bucket.name} has no bucket policy",
        ),
        key_policy=key_layer,
        permissions_boundary=_single_policy_layer(
            principal.permissions_boundary,
            _boundary_display(principal.permissions_boundary),
            "boundary",
            "permissions_boundary",
            absent_reason=f"{ctx.entity_name} has no permissions boundary",
        ),
        session_policy=_single_policy_layer(
            principal.session_policy,
            "session policy",
            "session",
            "session",
            absent_reason="the session was made without a session policy",
        ),
        scp=_org_layer(
            snapshot.target.scps,
            "scp",
            "SCP",
            f"the caller account {ctx.caller_account}",
            scp_exempt,
        ),
        rcp=_org_layer(
            snapshot.source.rcps,
            "rcp",
            "RCP",
            f"the resource account {ctx.resource_account}",
            rcp_exempt,
        ),
        vpc_endpoint=_vpc_endpoint_layer(ctx),
    )


# --- grants --------------------------------------------------------------------------------------

GRANT_OPERATION = {"kms:Decrypt": "Decrypt", "kms:GenerateDataKey": "GenerateDataKey"}


def match_grant(grant: Grant, ctx: RequestContext, action: str) -> GrantMatch:
    """Does this grant let the caller make this KMS request (grantee, operation, constraints)?"""
    grantees = {
        ctx.entity_arn,
        ctx.request_principal.arn,
        f"arn:aws:iam::{ctx.caller_account}:root",
        ctx.caller_account,
    }
    if grant.grantee_principal not in grantees:
        return GrantMatch(grant, False, f"grantee is {grant.grantee_principal}, not the caller")
    operation = GRANT_OPERATION.get(action, action.split(":", 1)[-1])
    if operation not in grant.operations:
        listed = ", ".join(grant.operations) or "none"
        return GrantMatch(grant, False, f"operations are {listed}; {operation} is not among them")
    request_context = {"aws:s3:arn": ctx.encryption_context_arn}
    constraints = grant.constraints or {}
    equals = constraints.get("EncryptionContextEquals")
    if equals is not None and dict(equals) != request_context:
        return GrantMatch(
            grant,
            False,
            f"EncryptionContextEquals {equals} differs from the request's {request_context}",
        )
    subset = constraints.get("EncryptionContextSubset")
    if subset is not None:
        for key, value in dict(subset).items():
            if request_context.get(key) != value:
                return GrantMatch(
                    grant,
                    False,
                    f"EncryptionContextSubset needs {key}={value}; the request has "
                    f"{key}={request_context.get(key, '(absent)')}",
                )
    return GrantMatch(
        grant, True, f"grant {grant.grant_id} allows {operation} for {grant.grantee_principal}"
    )


# --- the decisions ----------------------------------------------------------------------------


def _inputs_for(
    auth: Authorization, ctx: RequestContext, policies: PolicySet, by_grant: bool
) -> AccessInputs:
    def compiled(layer: PolicyLayer) -> list[Any]:
        return [p.compiled for p in layer.policies]

    def single(layer: PolicyLayer) -> Any | None:
        return layer.policies[0].compiled if layer.policies else None

    def levels(layer: PolicyLayer) -> list[list[Any]] | None:
        if not layer.takes_part or layer.levels is None or layer.is_unknown:
            return None
        return [[p.compiled for p in level] for level in layer.levels]

    resource = policies.bucket_policy if auth.service == "s3" else policies.key_policy
    # The S3→KMS call is made by S3, not through the caller's network: endpoint policies in the
    # caller account take part only in the S3 request.
    endpoints = compiled(policies.vpc_endpoint) if auth.service == "s3" else []
    return AccessInputs(
        resource_account=ctx.resource_account,
        resource_service=auth.service,
        identity=compiled(policies.identity),
        resource_policy=single(resource),
        permissions_boundary=single(policies.permissions_boundary),
        session_policies=compiled(policies.session_policy),
        scps=levels(policies.scp),
        rcps=levels(policies.rcp),
        vpc_endpoint_policies=endpoints,
        resource_allowed_by_grant=by_grant,
    )


def evaluate_principal(
    ctx: RequestContext, shared: SharedWork | None = None
) -> PrincipalEvaluation:
    policies = gather_policies(ctx, shared)
    grants_fetched = ctx.key.grants if ctx.key is not None else None
    grants_unknown = None
    grants: list[Grant] = []
    if grants_fetched is not None:
        if grants_fetched.is_unknown:
            grants_unknown = f"grants not readable ({grants_fetched.reason()})"
        elif grants_fetched.is_ok:
            grants = list(grants_fetched.value or [])

    decisions: dict[str, AccessDecision] = {}
    grant_matches: dict[str, list[GrantMatch]] = {}
    for auth in ctx.authorizations:
        by_grant = False
        if auth.service == "kms":
            matches = [match_grant(g, ctx, auth.action) for g in grants]
            grant_matches[auth.name] = matches
            by_grant = any(m.matches for m in matches)
        inputs = _inputs_for(auth, ctx, policies, by_grant)
        decisions[auth.name] = evaluate_access(inputs, auth.request)
    return PrincipalEvaluation(
        ctx=ctx,
        policies=policies,
        decisions=decisions,
        grant_matches=grant_matches,
        grants_unknown_reason=grants_unknown,
    )
