"""Findings about the ceilings: SCPs, RCPs, permissions boundary, session policy, VPC endpoint.

A ceiling never grants; it shuts a request either with an explicit Deny or by not allowing it
(an allow-list SCP, a boundary without kms:Decrypt).
"""

from __future__ import annotations

from typing import Any

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import Fix, FixTarget
from kmsdoctor.analyze.rules.base import (
    RuleHit,
    applying_denies,
    describe_condition,
    rule,
    statement_place,
)
from kmsdoctor.analyze.show_current import show_current


def _ceiling_hits(
    ev: PrincipalEvaluation,
    lock_name: str,
    engine_layer: str,
    fix_for: Any,
) -> list[RuleHit]:
    lock = ev.locks.get(lock_name)
    if lock is None or lock.status not in ("implicit_deny", "explicit_deny"):
        return []
    hits = []
    for request in lock.evidence.requests or []:
        decision = request.decision
        if decision not in ("implicit_deny", "explicit_deny"):
            continue
        action = request.action
        auth_name = "s3" if action.startswith("s3:") else "kms"
        if decision == "explicit_deny":
            for trace in applying_denies(ev.results(auth_name, engine_layer)):
                conditions = "; ".join(describe_condition(c) for c in trace.conditions)
                detail = f"{statement_place(trace)} denies {action} on {request.resource}"
                detail += f": {conditions}." if conditions else "."
                fix = fix_for(ev.ctx, action, trace.policy_name)
                hits.append(RuleHit(detail, _patched(ev, engine_layer, fix, trace.policy_name)))
        else:
            detail = (
                f"No statement allows {action} on {request.resource}: this ceiling lists "
                "what may be done, and this request is not on the list."
            )
            hits.append(RuleHit(detail, _patched(ev, engine_layer, fix_for(ev.ctx, action, None))))
    return hits


def _denied_requests(ev: PrincipalEvaluation, engine_layer: str) -> list[tuple[str, str]]:
    """(authorization, decision) for every required request this ceiling shuts."""
    found = []
    for auth in ev.ctx.authorizations:
        decision = ev.decision(auth.name)
        if not auth.required or decision is None:
            continue
        layer = decision.layers.get(engine_layer)
        shut = layer is not None and layer.decision is not None
        if shut and layer.decision.value in ("implicit_deny", "explicit_deny"):
            found.append((auth.name, layer.decision.value))
    return found


def _patched(
    ev: PrincipalEvaluation, engine_layer: str, fix: Fix, policy_name: str | None = None
) -> Fix:
    """The ceiling policy with every request of this lock let through: Denies that apply are
    narrowed (the caller exempted in an SCP, RCP or endpoint policy; the resource excluded in
    the caller's own boundary), and a missing Allow is added where one document can hold it."""
    ctx = ev.ctx
    if engine_layer == "session":
        return fixes.unverifiable(
            fix,
            "a session policy is passed by whatever creates the session (sts:AssumeRole "
            "Policy/PolicyArns); AWS never shows it, so there is no document to patch",
        )
    layer = _layer(ev, engine_layer)
    candidates = layer.all_policies()
    if policy_name is not None:
        candidates = [p for p in candidates if p.name == policy_name]
    elif len(candidates) != 1:
        return fixes.unverifiable(
            fix,
            f"{len(candidates)} policies make up this ceiling and each level must allow the "
            "request: add the statement at the level that lacks it",
        )
    if not candidates:
        return fixes.unverifiable(fix, f"{policy_name or 'the policy'} is not among those read")
    policy = candidates[0]
    target, document, why = _target(ctx, policy)
    if target is None or document is None:
        return fixes.unverifiable(fix, why)
    raw = fixes.document_statements(document)
    for auth_name, decision in _denied_requests(ev, engine_layer):
        auth = ctx.authorization(auth_name)
        assert auth is not None
        if decision == "implicit_deny":
            if not any(r.policy_name == policy.name for r in ev.results(auth_name, engine_layer)):
                continue
            needed = _needed_statement(ctx, auth.action)
            if engine_layer in ("vpc_endpoint", "rcp"):
                # Endpoint policies and RCPs are resource-style: every statement has a Principal.
                who = {"AWS": ctx.entity_arn} if engine_layer == "vpc_endpoint" else "*"
                needed = {"Effect": "Allow", "Principal": who, **_without_effect(needed)}
            raw.append(needed)
            continue
        for trace in applying_denies(ev.results(auth_name, engine_layer)):
            if trace.policy_name != policy.name or trace.index >= len(raw):
                continue
            if engine_layer == "permissions_boundary":
                narrowed, why = fixes.exclude_resource(raw[trace.index], auth.resource)
                if narrowed is None:
                    return fixes.unverifiable(fix, why)
                raw[trace.index] = narrowed
            else:
                raw[trace.index] = fixes.exempt_principal(raw[trace.index], ctx.entity_arn)
    patched = dict(document)
    patched["Statement"] = raw
    return fixes.set_patch(fix, ctx, target, patched)


def _without_effect(statement: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k != "Effect"}


def _layer(ev: PrincipalEvaluation, engine_layer: str) -> Any:
    policies = ev.policies
    return {
        "permissions_boundary": policies.permissions_boundary,
        "scp": policies.scp,
        "rcp": policies.rcp,
        "vpc_endpoint": policies.vpc_endpoint,
    }[engine_layer]


def _target(ctx: RequestContext, policy: Any) -> tuple[Any, Any, str]:
    if policy.origin == "vpce":
        document = fixes.parsed(policy.named.document)
        if document is None:
            return None, None, f"{policy.name} is not a JSON object kmsdoctor can rewrite"
        return FixTarget("vpc_endpoint_policy", policy.named.name), document, ""
    return fixes.identity_policy_target(ctx, policy)


def _needed_statement(ctx: RequestContext, action: str) -> dict[str, Any]:
    resource = ctx.object_arn if action.startswith("s3:") else ctx.key_arn
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _scp_fix(ctx: RequestContext, action: str, policy: str | None) -> Fix:
    return Fix(
        account="",
        where=f"SCPs on the path to B ({ctx.caller_account}), in the management account",
        change=(
            f"Allow {action} for this resource in {policy or 'an SCP at every level'}"
            + (
                " by excluding it from the Deny (e.g. an ArnNotEquals aws:PrincipalArn exception)"
                if policy
                else ""
            )
            + ". SCPs are changed only from the management account."
        ),
        statement=_needed_statement(ctx, action) if policy is None else None,
        show_current=show_current(ctx, "scp"),
    )


def _rcp_fix(ctx: RequestContext, action: str, policy: str | None) -> Fix:
    return Fix(
        account="",
        where=f"RCPs on the path to A ({ctx.resource_account}), in the management account",
        change=(
            f"Let {action} by {ctx.entity_arn} through {policy or 'the RCPs'}: RCPs usually deny "
            "principals outside the organization; add an exception for this role "
            "(aws:PrincipalArn) or its account."
        ),
        statement=None,
        show_current=show_current(ctx, "rcp"),
    )


def _boundary_fix(ctx: RequestContext, action: str, policy: str | None) -> Fix:
    boundary = ctx.principal.permissions_boundary.value
    arn = boundary.arn if boundary else None
    return Fix(
        account=ctx.caller_account,
        where=f"permissions boundary {arn or ''} of {ctx.entity_name} in B ({ctx.caller_account})",
        change=(
            f"Add this statement to the boundary policy (a boundary must allow {action} too)"
            if policy is None
            else f"Narrow the Deny in {policy} so it does not cover {action} on this resource"
        ),
        statement=_needed_statement(ctx, action) if policy is None else None,
        show_current=show_current(ctx, "permissions_boundary"),
    )


def _session_fix(ctx: RequestContext, action: str, policy: str | None) -> Fix:
    return Fix(
        account=ctx.caller_account,
        where="the session policy passed to sts:AssumeRole by whatever creates the session",
        change=(
            f"Include {action} on this resource in the session policy (Policy / PolicyArns of "
            "AssumeRole), or assume the role without a session policy."
        ),
        statement=_needed_statement(ctx, action),
        show_current=show_current(ctx, "session_policy"),
    )


def _endpoint_fix(ctx: RequestContext, action: str, policy: str | None) -> Fix:
    ids = [e.endpoint_id for e in ctx.s3_endpoints]
    return Fix(
        account=ctx.caller_account,
        where=f"S3 endpoint policy ({', '.join(ids)}) in B ({ctx.caller_account})",
        change=f"Allow {action} on {ctx.object_arn} for {ctx.entity_arn} in the endpoint policy.",
        statement={
            "Effect": "Allow",
            "Principal": {"AWS": ctx.entity_arn},
            "Action": action,
            "Resource": ctx.object_arn,
        },
        show_current=show_current(ctx, "vpc_endpoint"),
    )


@rule(
    code="KD401",
    title="A service control policy over B denies the request",
    lock="scp",
    severity="error",
    example=(
        "An SCP on the Workloads OU denies kms:Decrypt on keys outside the organization "
        '("aws:ResourceOrgID" not o-exampleorg); A is a vendor account.'
    ),
    fix="Change the SCP from the management account (an exception for this key or role).",
)
def scp_denies(ev: PrincipalEvaluation) -> list[RuleHit]:
    """SCPs cap what any principal in B may do. Every level from the root to the account must
    allow the action, and no SCP may deny it."""
    return _ceiling_hits(ev, "scp", "scp", _scp_fix)


@rule(
    code="KD402",
    title="A resource control policy over A denies the request",
    lock="rcp",
    severity="error",
    example=(
        "An RCP on A's OU denies s3:* and kms:* to principals outside o-exampleorg; B is a partner "
        "account, so A's own bucket and key policies are overruled."
    ),
    fix="Change the RCP from the management account (an exception for the partner role).",
)
def rcp_denies(ev: PrincipalEvaluation) -> list[RuleHit]:
    """RCPs cap what anyone may do to resources in A, whatever the bucket and key policies say."""
    return _ceiling_hits(ev, "rcp", "rcp", _rcp_fix)


@rule(
    code="KD403",
    title="The caller's permissions boundary does not allow the request",
    lock="permissions_boundary",
    severity="error",
    example=(
        "BIAnalyticsRole's boundary allows s3:* only; its inline policy allows kms:Decrypt, but "
        "the boundary does not, so Decrypt is denied."
    ),
    fix="In B, add the action on the exact resource to the boundary policy.",
)
def boundary_denies(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A permissions boundary is an upper limit: an action is allowed only when both the
    identity policy and the boundary allow it."""
    return _ceiling_hits(ev, "permissions_boundary", "permissions_boundary", _boundary_fix)


@rule(
    code="KD404",
    title="The session policy does not allow the request",
    lock="session_policy",
    severity="error",
    example=(
        "The pipeline assumes DeployRole with a session policy listing s3:GetObject only; "
        "kms:Decrypt is cut from the session."
    ),
    fix="Pass a session policy that includes the action, or none.",
)
def session_policy_denies(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A session policy passed to AssumeRole limits that session to what both it and the role's
    policies allow."""
    return _ceiling_hits(ev, "session_policy", "session", _session_fix)


@rule(
    code="KD405",
    title="The S3 VPC endpoint policy does not allow the request",
    lock="vpc_endpoint",
    severity="error",
    example=(
        "B's S3 gateway endpoint allows s3:GetObject only on arn:aws:s3:::b-team-*; the bucket "
        "in A is not on the list, so reads through the endpoint are denied."
    ),
    fix="In B, allow the object ARN for the role in the endpoint policy.",
)
def endpoint_denies(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Requests that go through a VPC endpoint are also checked against the endpoint policy; the
    S3 endpoint in B's VPC must allow reading A's bucket."""
    return _ceiling_hits(ev, "vpc_endpoint", "vpc_endpoint", _endpoint_fix)
