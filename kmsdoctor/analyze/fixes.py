"""Least-privilege statement builders and the fixes built from them.

Every statement names the one principal (the role ARN, never the account root or `*`), the exact
actions, and the exact object and key ARNs. kmsdoctor never applies a change: the commands here
only read (get-key-policy, get-bucket-policy, get-role-policy, …).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.evaluation import PrincipalEvaluation, SourcedPolicy
from kmsdoctor.analyze.model import Fix, FixTarget

# The read-only commands are the lock catalogue's, filled in for the context by show_current.py.
from kmsdoctor.analyze.show_current import (  # noqa: F401  (rules call them as fixes.show_…)
    show_bucket_encryption,
    show_bucket_policy,
    show_grants,
    show_identity_policies,
    show_key,
    show_key_policy,
    show_object,
    show_ownership,
    show_policy_by_name,
)
from kmsdoctor.arn import name_of, parse_arn
from kmsdoctor.lock_catalogue import aws_cli
from kmsdoctor.policy.model import ConditionTrace


def _sid_word(text: str) -> str:
    """Sids allow only letters and digits: `datalake-curated-a` → `DatalakeCuratedA`."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    return "".join(w[0].upper() + w[1:] for w in words) or "Caller"


# --- statements ----------------------------------------------------------------------------------


def kms_actions(ctx: RequestContext) -> list[str]:
    if ctx.operation == "write":
        # GenerateDataKey for every upload, Decrypt for multipart uploads.
        return ["kms:GenerateDataKey", "kms:Decrypt"]
    return ["kms:Decrypt"]


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def identity_s3_statement(ctx: RequestContext) -> dict[str, Any]:
    verb = "Write" if ctx.operation == "write" else "Read"
    return {
        "Sid": f"{verb}{_sid_word(ctx.bucket_name)}Objects",
        "Effect": "Allow",
        "Action": ctx.s3_action,
        "Resource": ctx.object_arn,
    }


def identity_kms_statement(ctx: RequestContext) -> dict[str, Any]:
    return {
        "Sid": f"Use{_sid_word(ctx.bucket_name)}Key",
        "Effect": "Allow",
        "Action": _one_or_list(kms_actions(ctx)),
        "Resource": ctx.key_arn or "KEY_ARN",
    }


def bucket_policy_statement(ctx: RequestContext) -> dict[str, Any]:
    verb = "Write" if ctx.operation == "write" else "Read"
    return {
        "Sid": f"Allow{_sid_word(ctx.entity_name)}{verb}",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.entity_arn},
        "Action": ctx.s3_action,
        "Resource": ctx.object_arn,
    }


def key_policy_statement(ctx: RequestContext) -> dict[str, Any]:
    """The caller may use the key only through S3 in the bucket's Region.

    `Resource: "*"` is right here: in a key policy it means "this key".
    """
    return {
        "Sid": f"Allow{_sid_word(ctx.entity_name)}ViaS3",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.entity_arn},
        "Action": _one_or_list(kms_actions(ctx)),
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}},
    }


# --- whole fixes --------------------------------------------------------------------------------


def where_identity(ctx: RequestContext) -> str:
    kind = "user" if ctx.principal.kind == "user" else "role"
    return f"identity policy of {kind} {ctx.entity_name} in B ({ctx.caller_account})"


def identity_policy_name(ctx: RequestContext) -> str:
    """The caller's inline policy a missing statement goes into (kmsdoctor's suggestion)."""
    verb = "Write" if ctx.operation == "write" else "Read"
    return f"{verb}{_sid_word(ctx.bucket_name)}"


def identity_fix(ev: PrincipalEvaluation, half: str) -> Fix:
    """Allow the caller the S3 (`half="s3"`) or KMS action in its own identity policy. The
    patched inline policy carries every statement the identity lock lacks, so applying it opens
    the lock even when both halves are missing."""
    ctx = ev.ctx
    if half == "kms":
        actions = " and ".join(kms_actions(ctx))
        statement = identity_kms_statement(ctx)
    else:
        actions = ctx.s3_action
        statement = identity_s3_statement(ctx)
    what = "the key ARN" if half == "kms" else "the object"
    fix = Fix(
        account=ctx.caller_account,
        where=where_identity(ctx),
        change=(
            f"Add this statement to an inline policy of {ctx.entity_name} (or a managed policy "
            f"attached to it) so it may ask for {actions} on {what}."
        ),
        statement=statement,
        show_current=show_identity_policies(ctx),
    )
    target, document = new_inline_target(ctx, identity_policy_name(ctx))
    patched = with_statement(document, statement)
    other = "kms" if half == "s3" else "s3"
    other_auth = ctx.authorization(other)
    if other_auth is not None and _identity_lacks(ev, other):
        extra = identity_kms_statement(ctx) if other == "kms" else identity_s3_statement(ctx)
        patched = with_statement(patched, extra)
        fix.change += f" The patched policy also allows {other_auth.action}, which it lacks too."
    return set_patch(fix, ctx, target, patched)


def _identity_lacks(ev: PrincipalEvaluation, auth_name: str) -> bool:
    decision = ev.decision(auth_name)
    if decision is None:
        return False
    layer = decision.layers.get("identity")
    return (
        layer is not None and layer.decision is not None and layer.decision.value == "implicit_deny"
    )


def identity_kms_fix(ev: PrincipalEvaluation) -> Fix:
    return identity_fix(ev, "kms")


def identity_s3_fix(ev: PrincipalEvaluation) -> Fix:
    return identity_fix(ev, "s3")


def bucket_policy_fix(ev: PrincipalEvaluation) -> Fix:
    ctx = ev.ctx
    statement = bucket_policy_statement(ctx)
    fix = Fix(
        account=ctx.resource_account,
        where=f"bucket policy of {ctx.bucket_name} in A ({ctx.resource_account})",
        change="Add this statement to the bucket policy (it names the role, not account B).",
        statement=statement,
        show_current=[show_bucket_policy(ctx)],
    )
    return resource_policy_fix(ev, "s3", fix, add=statement)


def key_policy_fix(ev: PrincipalEvaluation) -> Fix:
    ctx = ev.ctx
    statement = key_policy_statement(ctx)
    fix = Fix(
        account=ctx.resource_account,
        where=f"key policy of {ctx.key_arn} in A ({ctx.resource_account})",
        change=(
            "Add this statement to the key policy: it names the role and allows the key only "
            "through S3 in the bucket's Region."
        ),
        statement=statement,
        show_current=[show_key_policy(ctx)],
    )
    return resource_policy_fix(ev, "kms", fix, add=statement)


def changed_statement_fix(
    ctx: RequestContext,
    policy_name: str,
    account: str,
    change: str,
    statement: dict[str, Any],
    *,
    ev: PrincipalEvaluation | None = None,
    index: int | None = None,
    add_if_no_allow: bool = False,
) -> Fix:
    """A fix that edits one existing statement (given as the corrected copy). With `ev` and
    `index`, the fix also carries the whole patched document (the statement replaced; in a bucket
    or key policy, every other Deny that applies exempts the caller too, and with
    `add_if_no_allow` the least-privilege Allow is added when none applies)."""
    place = policy_name
    if policy_name == "key policy":
        place = f"key policy of {ctx.key_arn}"
    elif policy_name == "bucket policy":
        place = f"bucket policy of {ctx.bucket_name}"
    elif account == ctx.caller_account:
        place = f"{policy_name} of {ctx.entity_name}"
    side = "A" if account == ctx.resource_account else "B"
    fix = Fix(
        account=account,
        where=f"{place} in {side} ({account})",
        change=change,
        statement=statement,
        show_current=show_policy_by_name(ctx, policy_name),
    )
    if ev is None or index is None:
        return fix
    return patch_statement(ev, fix, policy_name, index, statement, add_if_no_allow)


def patch_statement(
    ev: PrincipalEvaluation,
    fix: Fix,
    policy_name: str,
    index: int,
    statement: dict[str, Any],
    add_if_no_allow: bool = False,
) -> Fix:
    """Put the corrected statement back into its whole document."""
    ctx = ev.ctx
    if policy_name in ("key policy", "bucket policy"):
        auth_name = "kms" if policy_name == "key policy" else "s3"
        target, document, why = resource_target(ctx, auth_name)
        if target is None or document is None:
            return unverifiable(fix, why)
        replaced = with_replaced_statement(document, index, statement)
        patched, done = open_resource_policy(
            ev, auth_name, replaced, skip_index=index, add_if_no_allow=add_if_no_allow
        )
        if done:
            fix.change += " In the same policy, " + "; ".join(done) + "."
        return set_patch(fix, ctx, target, patched)
    policy = ev.policies.find(policy_name)
    if policy is None:
        return unverifiable(fix, f"{policy_name} is not among the policies read")
    target, document, why = identity_policy_target(ctx, policy)
    if target is None or document is None:
        return unverifiable(fix, why)
    return set_patch(fix, ctx, target, with_replaced_statement(document, index, statement))


# --- proven fixes: the document a fix changes, the whole document after it, the command -------
#
# A policy fix names its target (which document), carries `patched_policy` (the whole document
# after the change) and the command that would apply it (printed, never run). proof.py re-runs
# the analysis with the patched document before the fix is shown.

NEW_POLICY_VERSION = "2012-10-17"


def policy_file(target: FixTarget) -> str:
    """The file name the apply command reads the patched policy from."""
    if target.kind == "key_policy":
        return "key-policy.json"
    if target.kind == "bucket_policy":
        return "bucket-policy.json"
    if target.kind == "permissions_boundary":
        return "permissions-boundary.json"
    name = target.policy_name or name_of(target.arn)
    return f"{_file_word(target.kind)}-{_file_safe(name)}.json"


def _file_word(kind: str) -> str:
    return {
        "role_inline_policy": "role-policy",
        "user_inline_policy": "user-policy",
        "managed_policy": "managed-policy",
        "scp": "scp",
        "rcp": "rcp",
        "vpc_endpoint_policy": "endpoint-policy",
    }.get(kind, kind)


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "policy"


def apply_command(ctx: RequestContext, target: FixTarget) -> str:
    """The AWS CLI command that would put the patched document (kmsdoctor never runs it)."""
    document = f"file://{policy_file(target)}"
    if target.kind == "key_policy":
        args = ["kms", "put-key-policy", "--key-id", target.arn, "--policy-name", "default"]
        return aws_cli([*args, "--policy", document], ctx.source_profile, ctx.region)
    if target.kind == "bucket_policy":
        bucket = parse_arn(target.arn).resource if parse_arn(target.arn) else target.arn
        return aws_cli(
            ["s3api", "put-bucket-policy", "--bucket", bucket, "--policy", document],
            ctx.source_profile,
        )
    if target.kind in ("role_inline_policy", "user_inline_policy"):
        entity = "role" if target.kind == "role_inline_policy" else "user"
        name = name_of(target.arn)
        args = [f"put-{entity}-policy", f"--{entity}-name", name]
        args += ["--policy-name", target.policy_name or "", "--policy-document", document]
        return aws_cli(["iam", *args], ctx.target_profile)
    if target.kind in ("permissions_boundary", "managed_policy"):
        # A managed policy keeps at most five versions: delete an old one first if it has five.
        args = ["iam", "create-policy-version", "--policy-arn", target.arn]
        return aws_cli(
            [*args, "--policy-document", document, "--set-as-default"], ctx.target_profile
        )
    if target.kind in ("scp", "rcp"):
        policy_id = name_of(target.arn)
        args = ["organizations", "update-policy", "--policy-id", policy_id, "--content", document]
        return aws_cli(args, None) + "  # from the organization's management account"
    if target.kind == "vpc_endpoint_policy":
        args = ["ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", target.arn]
        return aws_cli([*args, "--policy-document", document], ctx.target_profile, ctx.region)
    raise ValueError(f"no apply command for {target.kind}")  # pragma: no cover


def set_patch(fix: Fix, ctx: RequestContext, target: FixTarget, patched: dict[str, Any]) -> Fix:
    """Give a fix its target, the whole patched document and the command that would apply it."""
    fix.target = target
    fix.patched_policy = patched
    fix.apply_command = apply_command(ctx, target)
    return fix


def unverifiable(fix: Fix, reason: str) -> Fix:
    """A fix kmsdoctor cannot turn into a whole document: shown as unverified, with why."""
    fix.verified = False
    fix.verification = f"not verified: {reason}"
    return fix


def empty_policy() -> dict[str, Any]:
    return {"Version": NEW_POLICY_VERSION, "Statement": []}


def document_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    raw = document.get("Statement")
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return list(raw)
    return []


def with_statement(document: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document with `statement` added (its Sid made unique in the document)."""
    patched = copy.deepcopy(document)
    existing = document_statements(patched)
    added = copy.deepcopy(statement)
    sids = {str(s.get("Sid")) for s in existing if isinstance(s, dict) and s.get("Sid")}
    if added.get("Sid") in sids:
        base, number = str(added["Sid"]), 2
        while f"{base}{number}" in sids:
            number += 1
        added["Sid"] = f"{base}{number}"
    patched["Statement"] = [*existing, added]
    patched.setdefault("Version", NEW_POLICY_VERSION)
    return patched


def with_replaced_statement(
    document: dict[str, Any], index: int, statement: dict[str, Any]
) -> dict[str, Any]:
    patched = copy.deepcopy(document)
    existing = document_statements(patched)
    existing[index] = copy.deepcopy(statement)
    patched["Statement"] = existing
    return patched


def parsed(document: Any) -> dict[str, Any] | None:
    """The document as a JSON object, or None when it is text kmsdoctor cannot rewrite."""
    if isinstance(document, dict):
        return document
    if isinstance(document, str):
        try:
            loaded = json.loads(document)
        except ValueError:
            return None
        return loaded if isinstance(loaded, dict) else None
    return None


# --- targets: where each kind of document lives ---------------------------------------------


def key_policy_target(ctx: RequestContext) -> tuple[FixTarget | None, dict[str, Any] | None, str]:
    """(target, current document, why not) for the key policy."""
    if ctx.key is None or not ctx.key_arn:
        return None, None, "the key could not be resolved to an ARN"
    fetched = ctx.key.policy
    if not fetched.is_ok or fetched.value is None:
        return None, None, f"the current key policy could not be read ({fetched.reason()})"
    document = parsed(fetched.value.document)
    if document is None:
        return None, None, "the current key policy is not a JSON object kmsdoctor can rewrite"
    return FixTarget("key_policy", ctx.key_arn), document, ""


def bucket_policy_target(
    ctx: RequestContext,
) -> tuple[FixTarget | None, dict[str, Any] | None, str]:
    fetched = ctx.snapshot.source.bucket.policy
    target = FixTarget("bucket_policy", ctx.bucket_arn)
    if fetched.status == "absent":
        return target, empty_policy(), ""
    if not fetched.is_ok or fetched.value is None:
        return None, None, f"the current bucket policy could not be read ({fetched.reason()})"
    document = parsed(fetched.value.document)
    if document is None:
        return None, None, "the current bucket policy is not a JSON object kmsdoctor can rewrite"
    return target, document, ""


def identity_policy_target(
    ctx: RequestContext, policy: SourcedPolicy
) -> tuple[FixTarget | None, dict[str, Any] | None, str]:
    """The caller's identity policy (inline or managed) a statement of it lives in."""
    document = parsed(policy.named.document)
    if document is None:
        return None, None, f"{policy.name} is not a JSON object kmsdoctor can rewrite"
    if policy.origin == "inline":
        kind: Any = "user_inline_policy" if ctx.principal.kind == "user" else "role_inline_policy"
        return FixTarget(kind, ctx.entity_arn, policy.named.name), document, ""
    if policy.origin in ("managed", "boundary") and policy.named.arn:
        kind = "managed_policy" if policy.origin == "managed" else "permissions_boundary"
        name = policy.named.name if policy.origin == "managed" else None
        return FixTarget(kind, policy.named.arn, name), document, ""
    if policy.origin in ("scp", "rcp") and policy.named.arn:
        return FixTarget(policy.origin, policy.named.arn, policy.named.name), document, ""
    if policy.origin == "group":
        return None, None, f"{policy.name} is a group's policy: change it in the group"
    return None, None, f"kmsdoctor does not know how to put {policy.name} back"


def new_inline_target(ctx: RequestContext, policy_name: str) -> tuple[FixTarget, dict[str, Any]]:
    """An inline policy of the caller to add a statement to: the one of that name if the caller
    has it, else a new one."""
    kind: Any = "user_inline_policy" if ctx.principal.kind == "user" else "role_inline_policy"
    target = FixTarget(kind, ctx.entity_arn, policy_name)
    inline = ctx.principal.inline_policies
    for named in inline.value or []:
        if named.name == policy_name:
            document = parsed(named.document)
            if document is not None:
                return target, document
    return target, empty_policy()


def patch_with_statement(
    fix: Fix,
    ctx: RequestContext,
    found: tuple[FixTarget | None, dict[str, Any] | None, str],
    statement: dict[str, Any],
) -> Fix:
    """Add `statement` to the target's document (or say why that cannot be shown)."""
    target, document, why = found
    if target is None or document is None:
        return unverifiable(fix, why)
    return set_patch(fix, ctx, target, with_statement(document, statement))


# --- narrowing a Deny, opening a resource policy ---------------------------------------------

# Operators whose values exclude the principal (a Deny applies when the caller is NOT listed).
_PRINCIPAL_EXCLUSIONS = ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike")


def exempt_principal(statement: dict[str, Any], principal_arn: str) -> dict[str, Any]:
    """A copy of a resource-policy (or SCP/RCP) Deny that no longer covers `principal_arn`:
    condition blocks are ANDed, so `ArnNotEquals aws:PrincipalArn` exempts exactly that role or
    user and nobody else. An existing exclusion list on aws:PrincipalArn is extended."""
    narrowed = copy.deepcopy(statement)
    condition = narrowed.get("Condition")
    if not isinstance(condition, dict):
        condition = {}
    for operator in _PRINCIPAL_EXCLUSIONS:
        block = condition.get(operator)
        if not isinstance(block, dict):
            continue
        for key in list(block):
            if str(key).lower() == "aws:principalarn":
                values = [str(v) for v in _as_list(block[key])]
                if principal_arn not in values:
                    values.append(principal_arn)
                block[key] = values[0] if len(values) == 1 else values
                narrowed["Condition"] = condition
                return narrowed
    block = condition.setdefault("ArnNotEquals", {})
    block["aws:PrincipalArn"] = principal_arn
    narrowed["Condition"] = condition
    return narrowed


def exclude_resource(statement: dict[str, Any], resource: str) -> tuple[dict[str, Any] | None, str]:
    """A copy of an identity-side Deny (identity policy, boundary) that no longer covers
    `resource`. The caller's own policies always apply to the caller, so the principal cannot be
    exempted: the resource is. Returns (None, why) when one statement cannot say it."""
    narrowed = copy.deepcopy(statement)
    if "NotResource" in narrowed:
        values = [str(v) for v in _as_list(narrowed["NotResource"])]
        if resource not in values:
            values.append(resource)
        narrowed["NotResource"] = values[0] if len(values) == 1 else values
        return narrowed, ""
    listed = [str(v) for v in _as_list(narrowed.get("Resource"))]
    if "*" in listed:
        del narrowed["Resource"]
        narrowed["NotResource"] = resource
        return narrowed, ""
    kept = [value for value in listed if value != resource]
    if kept and len(kept) < len(listed) and not any(_covers(v, resource) for v in kept):
        narrowed["Resource"] = kept[0] if len(kept) == 1 else kept
        return narrowed, ""
    return None, (
        f"the Deny names {', '.join(listed) or 'no Resource'}; a single statement cannot cover "
        f"that pattern except {resource}: split it by hand"
    )


def _covers(pattern: str, value: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def applying_deny_indexes(
    ev: PrincipalEvaluation, auth_names: tuple[str, ...], layer: str
) -> list[int]:
    """Indexes of Deny statements (of the single policy of a resource layer) that apply."""
    found: list[int] = []
    for auth_name in auth_names:
        for result in ev.results(auth_name, layer):
            for trace in result.statements:
                if trace.effect == "Deny" and trace.applies and trace.index not in found:
                    found.append(trace.index)
    return found


def allow_applies(ev: PrincipalEvaluation, auth_name: str, layer: str) -> bool:
    return any(
        trace.effect == "Allow" and trace.applies
        for result in ev.results(auth_name, layer)
        for trace in result.statements
    )


def _resource_auths(auth_name: str) -> tuple[str, ...]:
    return ("s3",) if auth_name == "s3" else ("kms", "kms_multipart")


def open_resource_policy(
    ev: PrincipalEvaluation,
    auth_name: str,
    document: dict[str, Any],
    *,
    add: dict[str, Any] | None = None,
    skip_index: int | None = None,
    add_if_no_allow: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """The bucket or key policy with what it takes to open it for this caller: every Deny that
    applies to the request exempts the caller (other than `skip_index`, which the rule already
    rewrote), and `add` — or, with `add_if_no_allow`, the least-privilege statement when no
    Allow applies — is added. Returns the document and what was done, in words."""
    ctx = ev.ctx
    patched = copy.deepcopy(document)
    done: list[str] = []
    raw = document_statements(patched)
    for index in applying_deny_indexes(ev, _resource_auths(auth_name), "resource"):
        if index == skip_index or index >= len(raw):
            continue
        raw[index] = exempt_principal(raw[index], ctx.entity_arn)
        label = raw[index].get("Sid") or f"Statement[{index}]"
        done.append(
            f"the Deny {label} now exempts {ctx.entity_arn} (ArnNotEquals aws:PrincipalArn)"
        )
    patched["Statement"] = raw
    if add is None and add_if_no_allow and not allow_applies(ev, auth_name, "resource"):
        grant_opens = auth_name == "kms" and bool(ev.matching_grants("kms"))
        if ctx.cross_account and not grant_opens:
            add = bucket_policy_statement(ctx) if auth_name == "s3" else key_policy_statement(ctx)
            done.append(f"the statement {add['Sid']} names the role (no Allow applies today)")
    if add is not None:
        patched = with_statement(patched, add)
    return patched, done


def resource_target(
    ctx: RequestContext, auth_name: str
) -> tuple[FixTarget | None, dict[str, Any] | None, str]:
    return bucket_policy_target(ctx) if auth_name == "s3" else key_policy_target(ctx)


def resource_policy_fix(
    ev: PrincipalEvaluation,
    auth_name: str,
    fix: Fix,
    *,
    add: dict[str, Any] | None = None,
    add_if_no_allow: bool = False,
) -> Fix:
    """Attach the opened bucket or key policy to a fix that adds `add` (or narrows a Deny)."""
    target, document, why = resource_target(ev.ctx, auth_name)
    if target is None or document is None:
        return unverifiable(fix, why)
    patched, done = open_resource_policy(
        ev, auth_name, document, add=add, add_if_no_allow=add_if_no_allow
    )
    if done:
        fix.change += " In the same policy, " + "; ".join(done) + "."
    return set_patch(fix, ev.ctx, target, patched)


def corrected_conditions(
    statement: dict[str, Any], failed: list[ConditionTrace]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of an Allow whose failed conditions are set to what the request carries: a positive
    operator gets the request's values, a negated one loses the values the request has, and a
    condition on a key the request does not carry is removed (nothing could satisfy it)."""
    corrected = copy.deepcopy(statement)
    changes: list[str] = []
    condition = corrected.get("Condition")
    if not isinstance(condition, dict):
        return corrected, ["no condition to correct"]
    for trace in failed:
        block = condition.get(trace.operator)
        if not isinstance(block, dict):
            continue
        key = next((k for k in block if str(k).lower() == trace.key.lower()), None)
        if key is None:
            continue
        negated = "Not" in trace.operator or trace.operator.startswith("Null")
        request = list(trace.request_values) if trace.request_values is not None else None
        if request is None or (negated and trace.operator.startswith("Null")):
            del block[key]
            changes.append(f"remove {trace.operator} {trace.key} (the request does not carry it)")
        elif negated:
            kept = [str(v) for v in _as_list(block[key]) if str(v) not in request]
            if kept:
                block[key] = kept[0] if len(kept) == 1 else kept
                changes.append(f"drop {', '.join(request)} from {trace.operator} {trace.key}")
            else:
                del block[key]
                changes.append(f"remove {trace.operator} {trace.key}")
        else:
            block[key] = request[0] if len(request) == 1 else request
            changes.append(f"set {trace.operator} {trace.key} to {', '.join(request)}")
        if not block:
            del condition[trace.operator]
    if not condition:
        del corrected["Condition"]
    return corrected, changes or ["no condition could be corrected"]
