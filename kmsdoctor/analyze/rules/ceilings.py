"""Findings about the ceilings: SCPs, RCPs, permissions boundary, session policy, VPC endpoint.

A ceiling never grants; it shuts a request either with an explicit Deny or by not allowing it
(an allow-list SCP, a boundary without kms:Decrypt).
"""

from __future__ import annotations

from typing import Any

from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import Fix
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
                hits.append(RuleHit(detail, fix_for(ev.ctx, action, trace.policy_name)))
        else:
            detail = (
                f"No statement allows {action} on {request.resource}: this ceiling lists "
                "what may be done, and this request is not on the list."
            )
            hits.append(RuleHit(detail, fix_for(ev.ctx, action, None)))
    return hits


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
