"""Least-privilege statement builders and the fixes built from them.

Every statement names the one principal (the role ARN, never the account root or `*`), the exact
actions, and the exact object and key ARNs. kmsdoctor never applies a change: the commands here
only read (get-key-policy, get-bucket-policy, get-role-policy, …).
"""

from __future__ import annotations

import re
from typing import Any

from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.model import Fix

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
from kmsdoctor.lock_catalogue import aws_cli  # noqa: F401  (one quoting of command lines)


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


def identity_kms_fix(ctx: RequestContext) -> Fix:
    actions = " and ".join(kms_actions(ctx))
    return Fix(
        account=ctx.caller_account,
        where=where_identity(ctx),
        change=(
            f"Add this statement to an inline policy of {ctx.entity_name} (or a managed policy "
            f"attached to it) so it may ask for {actions} on the key ARN."
        ),
        statement=identity_kms_statement(ctx),
        show_current=show_identity_policies(ctx),
    )


def identity_s3_fix(ctx: RequestContext) -> Fix:
    return Fix(
        account=ctx.caller_account,
        where=where_identity(ctx),
        change=(
            f"Add this statement to an inline policy of {ctx.entity_name} (or a managed policy "
            f"attached to it) so it may ask for {ctx.s3_action} on the object."
        ),
        statement=identity_s3_statement(ctx),
        show_current=show_identity_policies(ctx),
    )


def bucket_policy_fix(ctx: RequestContext) -> Fix:
    return Fix(
        account=ctx.resource_account,
        where=f"bucket policy of {ctx.bucket_name} in A ({ctx.resource_account})",
        change="Add this statement to the bucket policy (it names the role, not account B).",
        statement=bucket_policy_statement(ctx),
        show_current=[show_bucket_policy(ctx)],
    )


def key_policy_fix(ctx: RequestContext) -> Fix:
    return Fix(
        account=ctx.resource_account,
        where=f"key policy of {ctx.key_arn} in A ({ctx.resource_account})",
        change=(
            "Add this statement to the key policy: it names the role and allows the key only "
            "through S3 in the bucket's Region."
        ),
        statement=key_policy_statement(ctx),
        show_current=[show_key_policy(ctx)],
    )


def changed_statement_fix(
    ctx: RequestContext,
    policy_name: str,
    account: str,
    change: str,
    statement: dict[str, Any],
) -> Fix:
    """A fix that edits one existing statement (given as the corrected copy)."""
    place = policy_name
    if policy_name == "key policy":
        place = f"key policy of {ctx.key_arn}"
    elif policy_name == "bucket policy":
        place = f"bucket policy of {ctx.bucket_name}"
    elif account == ctx.caller_account:
        place = f"{policy_name} of {ctx.entity_name}"
    side = "A" if account == ctx.resource_account else "B"
    return Fix(
        account=account,
        where=f"{place} in {side} ({account})",
        change=change,
        statement=statement,
        show_current=show_policy_by_name(ctx, policy_name),
    )
