"""Checks shared by the two resource policies in A: the bucket policy and the key policy.

Each bucket/key rule is still its own registered rule with its own code; these functions hold the
logic they have in common (a stale unique id, a broad principal, an org condition, …).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation, SourcedPolicy
from kmsdoctor.analyze.model import Fix
from kmsdoctor.analyze.rules.base import (
    RuleHit,
    allow_near_misses,
    applying_denies,
    blocking_conditions,
    describe_condition,
    iter_statements,
    key_is,
    statement_place,
    targets_request,
)
from kmsdoctor.analyze.statement_text import (
    aws_principals,
    copy_statement,
    has_conditions,
    is_account_root,
    is_unique_id,
    remove_condition_keys,
    statements,
)
from kmsdoctor.policy.model import StatementTrace

FixBuilder = Callable[[], Fix]


def _policy(ev: PrincipalEvaluation, auth_name: str) -> SourcedPolicy | None:
    layer = ev.policies.bucket_policy if auth_name == "s3" else ev.policies.key_policy
    return layer.policies[0] if layer.policies else None


def _lock_name(auth_name: str) -> str:
    return "bucket_policy" if auth_name == "s3" else "key_policy"


def _what(auth_name: str) -> str:
    return "bucket policy" if auth_name == "s3" else "key policy"


def _action(ev: PrincipalEvaluation, auth_name: str) -> str:
    auth = ev.ctx.authorization(auth_name)
    return auth.action if auth else ""


def _traces_by_index(ev: PrincipalEvaluation, auth_name: str) -> dict[int, StatementTrace]:
    return {t.index: t for t in iter_statements(ev.results(auth_name, "resource"))}


def _lock_is(ev: PrincipalEvaluation, auth_name: str, *statuses: str) -> bool:
    result = ev.locks.get(_lock_name(auth_name))
    return result is not None and result.status in statuses


def missing_principal_hits(
    ev: PrincipalEvaluation, auth_name: str, fix_builder: FixBuilder, extra: str = ""
) -> list[RuleHit]:
    """The lock is implicitly shut and no Allow statement even names the caller for the action."""
    ctx = ev.ctx
    if not _lock_is(ev, auth_name, "implicit_deny"):
        return []
    action = _action(ev, auth_name)
    results = ev.results(auth_name, "resource")
    if allow_near_misses(results):
        return []  # a statement names the caller but a condition failed: the condition rules say so
    policy = _policy(ev, auth_name)
    what = _what(auth_name)
    if policy is None:
        detail = f"There is no {what}, so nothing in A allows {ctx.entity_arn} {action}."
        return [RuleHit(detail + extra, fix_builder())]

    trusted: list[str] = []
    for trace in iter_statements(results):
        if trace.effect != "Allow" or not targets_request(trace):
            continue
        raw = statements(policy.named.document)
        if trace.index < len(raw):
            for principal in aws_principals(raw[trace.index]):
                trusted.append(f"{principal} ({trace.label})")
    if trusted:
        listing = "; ".join(trusted[:6])
        detail = (
            f"No statement in the {what} allows {ctx.entity_arn} {action}. Statements that allow "
            f"{action} name only: {listing}."
        )
    else:
        detail = f"No statement in the {what} allows {action} to any principal."
    if auth_name == "kms":
        detail += (
            " A key policy never delegates to IAM in another account: naming account A's root "
            "does not let a role in B use the key."
        )
    return [RuleHit(detail + extra, fix_builder())]


def explicit_deny_hits(ev: PrincipalEvaluation, auth_name: str) -> list[RuleHit]:
    ctx = ev.ctx
    action = _action(ev, auth_name)
    policy = _policy(ev, auth_name)
    hits = []
    for trace in applying_denies(ev.results(auth_name, "resource")):
        conditions = [describe_condition(c) for c in trace.conditions]
        detail = f"{statement_place(trace)} denies {action} to {ctx.request_principal.arn}"
        detail += (": " + "; ".join(conditions)) if conditions else " with no condition"
        raw = statements(policy.named.document)[trace.index] if policy else {}
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.resource_account,
            f"Narrow this Deny so it does not cover {ctx.entity_arn} doing {action}: the "
            "corrected statement exempts the role with ArnNotEquals aws:PrincipalArn and denies "
            "everyone else as before.",
            fixes.exempt_principal(raw, ctx.entity_arn),
            ev=ev,
            index=trace.index,
            add_if_no_allow=True,
        )
        hits.append(RuleHit(detail + ".", fix))
    return hits


def unique_id_hits(ev: PrincipalEvaluation, auth_name: str) -> list[RuleHit]:
    """Statements about this action whose Principal shows a bare unique id (AROA…/AIDA…)."""
    ctx = ev.ctx
    if not _lock_is(ev, auth_name, "implicit_deny", "explicit_deny"):
        return []
    policy = _policy(ev, auth_name)
    if policy is None:
        return []
    traces = _traces_by_index(ev, auth_name)
    current = ctx.request_principal.unique_id
    hits = []
    for index, raw in enumerate(statements(policy.named.document)):
        trace = traces.get(index)
        if trace is None or not trace.action_matched:
            continue
        stale = [p for p in aws_principals(raw) if is_unique_id(p) and p != current]
        if not stale:
            continue
        corrected = copy_statement(raw)
        _replace_principals(corrected, set(stale), ctx.entity_arn)
        now = f"; {ctx.entity_name} now has unique id {current}" if current else ""
        detail = (
            f"{statement_place(trace)} names {', '.join(stale)}: AWS shows a unique id in place of "
            f"an ARN when the role or user it named was deleted. A role re-created under the same "
            f"name gets a new id and is not matched{now}."
        )
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.resource_account,
            f"Replace the stale unique id with the role ARN {ctx.entity_arn} (if it named this "
            "role) and save the policy again.",
            corrected,
            ev=ev,
            index=index,
        )
        hits.append(RuleHit(detail, fix))
    return hits


def _replace_principals(statement: dict[str, Any], stale: set[str], arn: str) -> None:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return
    values = principal.get("AWS")
    listed = values if isinstance(values, list) else [values]
    replaced: list[str] = []
    for value in listed:
        new = arn if value in stale else value
        if new not in replaced:
            replaced.append(new)
    principal["AWS"] = replaced[0] if len(replaced) == 1 else replaced


def broad_principal_hits(ev: PrincipalEvaluation, auth_name: str, form: str) -> list[RuleHit]:
    """Allow statements for the action whose principal is a whole other account (`form="root"`)
    or anyone (`form="star"`), with no condition narrowing it."""
    ctx = ev.ctx
    policy = _policy(ev, auth_name)
    if policy is None:
        return []
    traces = _traces_by_index(ev, auth_name)
    action = _action(ev, auth_name)
    what = _what(auth_name)
    hits = []
    for index, raw in enumerate(statements(policy.named.document)):
        trace = traces.get(index)
        if trace is None or trace.effect != "Allow" or not trace.action_matched:
            continue
        if has_conditions(raw):
            continue
        principals = aws_principals(raw)
        if form == "star":
            broad = [p for p in principals if p == "*"]
            who = "anyone"
        else:
            broad = [
                p
                for p in principals
                if is_account_root(p) and is_account_root(p) != ctx.resource_account
            ]
            who = "every principal of that account whose IAM policies allow it"
        if not broad:
            continue
        corrected = copy_statement(raw)
        corrected["Principal"] = {"AWS": ctx.entity_arn}
        detail = (
            f"{statement_place(trace)} allows {action} to {', '.join(broad)} with no condition: "
            f"that is {who}, not just {ctx.entity_name}."
        )
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.resource_account,
            f"Name the role instead of {', '.join(broad)} in this {what} statement (or add a "
            "condition such as aws:PrincipalArn) so only the intended principal is trusted.",
            corrected,
            ev=ev,
            index=index,
        )
        hits.append(RuleHit(detail, fix))
    return hits


ORG_KEYS = ("aws:PrincipalOrgID", "aws:PrincipalOrgPaths")


def org_condition_hits(
    ev: PrincipalEvaluation, auth_name: str, fix_builder: FixBuilder
) -> list[RuleHit]:
    ctx = ev.ctx
    found = blocking_conditions(ev.results(auth_name, "resource"), key_is(*ORG_KEYS))
    if not found:
        return []
    org = ctx.snapshot.target.organization
    if org.is_ok and org.value is not None:
        where = f"B ({ctx.caller_account}) is in organization {org.value.id}"
    elif org.status == "absent":
        where = f"B ({ctx.caller_account}) is not in any organization"
    else:
        where = f"B's organization could not be read ({org.reason()})"
    hits = []
    for trace, condition in found:
        detail = f"{statement_place(trace)}: {describe_condition(condition)}. {where}."
        fix = fix_builder()
        # Keep what the builder did to the rest of the same policy (a Deny narrowed with it).
        same_policy = fix.change.partition(" In the same policy, ")[2]
        fix.change = (
            f"{where}, so the organization condition cannot match. Add this statement naming the "
            "role (least privilege), rather than widening the condition to another organization."
        )
        if same_policy:
            fix.change += f" In the same policy, {same_policy}"
        hits.append(RuleHit(detail, fix))
    return hits


def condition_near_miss_hits(ev: PrincipalEvaluation, auth_name: str) -> list[RuleHit]:
    """Allow statements for the caller and action that a condition kept from applying."""
    ctx = ev.ctx
    if not _lock_is(ev, auth_name, "implicit_deny"):
        return []
    policy = _policy(ev, auth_name)
    hits = []
    for trace in allow_near_misses(ev.results(auth_name, "resource")):
        failed = [c for c in trace.conditions if not c.matched]
        if not failed:
            continue
        detail = (
            f"{statement_place(trace)} would allow {_action(ev, auth_name)} but "
            + "; ".join(describe_condition(c) for c in failed)
            + "."
        )
        raw = statements(policy.named.document)[trace.index] if policy else {}
        corrected, changes = fixes.corrected_conditions(raw, failed)
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.resource_account,
            "Correct the conditions that do not match to what the request carries: "
            + "; ".join(changes)
            + ". Check that this is the intent before applying it.",
            corrected,
            ev=ev,
            index=trace.index,
        )
        hits.append(RuleHit(detail, fix))
    return hits


NETWORK_KEYS = ("aws:SourceVpce", "aws:SourceVpc", "aws:VpcSourceIp", "aws:SourceIp")


def source_vpce_hits(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Key-policy conditions on network keys, which the S3→KMS call never carries."""
    ctx = ev.ctx
    policy = _policy(ev, "kms")
    found = blocking_conditions(ev.results("kms", "resource"), key_is(*NETWORK_KEYS))
    hits = []
    for trace, condition in found:
        raw = statements(policy.named.document)[trace.index] if policy else {}
        if trace.effect == "Allow":
            corrected = remove_condition_keys(raw, set(NETWORK_KEYS))
            block = corrected.setdefault("Condition", {}).setdefault("StringEquals", {})
            block["kms:ViaService"] = f"s3.{ctx.region}.amazonaws.com"
            change = (
                "Drop the network condition from this key-policy statement; to keep the key "
                "usable only through S3, use kms:ViaService (and put the VPC condition in the "
                "bucket policy, where the caller's network is seen)."
            )
        else:
            # Removing the condition from a Deny would deny everyone: exempt calls that an AWS
            # service makes on the caller's behalf instead.
            corrected = copy_statement(raw)
            block = corrected.setdefault("Condition", {}).setdefault("Bool", {})
            block["aws:ViaAWSService"] = "false"
            change = (
                "Keep this Deny for direct calls only: add the condition Bool aws:ViaAWSService "
                "false, so calls S3 makes on the caller's behalf are not denied."
            )
        detail = (
            f"{statement_place(trace)}: {describe_condition(condition)}. When S3 calls KMS for the "
            "caller, the request comes from S3, not from the caller's VPC: aws:SourceVpce, "
            "aws:SourceVpc and aws:SourceIp are never the caller's values."
        )
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.resource_account,
            change,
            corrected,
            ev=ev,
            index=trace.index,
        )
        hits.append(RuleHit(detail, fix))
    return hits
