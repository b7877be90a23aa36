"""Where each shut lock leaves its trace in CloudTrail.

The three failures look the same to the client (403 AccessDenied) but not in CloudTrail:

- bucket policy: only A's S3 data events record it (GetObject, AccessDenied); there is no KMS
  event anywhere, because the request never reached KMS;
- identity policy on kms:Decrypt: B's trail (the caller's account) records the Decrypt denial;
- key policy: A's trail (the key owner's account) records the Decrypt denial.

KMS events are management events, so `aws cloudtrail lookup-events` finds them; S3 object-level
events are data events, recorded only when a trail or event data store logs them for the bucket.
"""

from __future__ import annotations

from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.model import LockResult
from kmsdoctor.lock_catalogue import aws_cli, lock_spec


def _lookup_decrypt(ctx: RequestContext, account_side: str) -> str:
    profile = ctx.source_profile if account_side == "A" else ctx.target_profile
    event = "GenerateDataKey" if ctx.operation == "write" else "Decrypt"
    return aws_cli(
        [
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            f"AttributeKey=EventName,AttributeValue={event}",
        ],
        profile,
        ctx.region,
    )


def _s3_data_event(ctx: RequestContext) -> str:
    event = "PutObject" if ctx.operation == "write" else "GetObject"
    return (
        f"eventSource s3.amazonaws.com, eventName {event}, errorCode AccessDenied, "
        f"resources {ctx.object_arn}, userIdentity.arn {ctx.request_principal.arn}"
    )


def _kms_event(ctx: RequestContext, error_code: str = "AccessDenied") -> str:
    event = "GenerateDataKey" if ctx.operation == "write" else "Decrypt"
    return (
        f"eventSource kms.amazonaws.com, eventName {event}, errorCode {error_code}, "
        f"resources {ctx.key_arn}, userIdentity.arn {ctx.request_principal.arn}, "
        "invokedBy/sourceIPAddress s3.amazonaws.com"
    )


def _identity_hint(ctx: RequestContext, lock: LockResult) -> str:
    actions = lock.evidence.denied_actions()
    parts = []
    if ctx.kms_action in actions:
        parts.append(
            f"kms: B's trail ({ctx.caller_account}) records the denial — {_kms_event(ctx)}; "
            f"no matching denial in A's KMS events. Look up: {_lookup_decrypt(ctx, 'B')}"
        )
    if ctx.s3_action in actions:
        parts.append(
            f"s3: A's S3 data events ({ctx.resource_account}) record {_s3_data_event(ctx)} (B's "
            "trail too, if B logs S3 data events); no KMS event, the request stopped at S3"
        )
    return " | ".join(parts)


def _ceiling_hint(
    ctx: RequestContext, lock: LockResult, policy_type: str, account_label: str
) -> str:
    actions = lock.evidence.denied_actions()
    parts = []
    if ctx.s3_action in actions:
        parts.append(f"s3: A's S3 data events — {_s3_data_event(ctx)}")
    if ctx.kms_action in actions:
        parts.append(f"kms: {account_label}'s trail — {_kms_event(ctx)}")
    where = "; ".join(parts) or "the denied call's trail"
    return (
        f'{where}; the errorMessage names a {policy_type} ("because no {policy_type} allows" '
        f'or "with an explicit deny in a {policy_type}")'
    )


def cloudtrail_hint(lock_name: str, lock: LockResult, ctx: RequestContext) -> str | None:
    """One line saying where the denial of this lock is recorded, or None when it is not shut."""
    if lock.status not in ("implicit_deny", "explicit_deny"):
        return None
    if lock_name == "identity":
        return _identity_hint(ctx, lock) or None
    if lock_name == "bucket_policy":
        return (
            f"only in A's S3 data events ({ctx.resource_account}): {_s3_data_event(ctx)}. "
            "No KMS event in either account — S3 denied before calling KMS. Data events must be "
            "enabled for the bucket (a trail with S3 data events, or CloudTrail Lake)"
        )
    if lock_name == "key_policy":
        return (
            f"A's trail ({ctx.resource_account}) records the denial — {_kms_event(ctx)}. "
            f"Look up: {_lookup_decrypt(ctx, 'A')}"
        )
    policy_type = lock_spec(lock_name).policy_type or lock_name
    if lock_name == "rcp":
        # An RCP guards the resource account: its trail records the denied KMS call.
        return _ceiling_hint(ctx, lock, policy_type, f"A ({ctx.resource_account})")
    if lock_name in ("scp", "permissions_boundary", "session_policy"):
        return _ceiling_hint(ctx, lock, policy_type, f"B ({ctx.caller_account})")
    if lock_name == "vpc_endpoint":
        return (
            f"A's S3 data events — {_s3_data_event(ctx)}, with vpcEndpointId set; the "
            "errorMessage names a VPC endpoint policy"
        )
    if lock_name == "key_state":
        state = lock.evidence.key.key_state if lock.evidence.key else None
        code = {
            "Disabled": "DisabledException",
            "PendingDeletion": "KMSInvalidStateException",
        }.get(str(state), "AccessDenied / NotFoundException")
        return (
            f"A's trail ({ctx.resource_account}) and B's trail record {_kms_event(ctx, code)}; the "
            "client sees it through S3 as a KMS error"
        )
    if lock_name == "object":
        return (
            f"A's S3 data events: {ctx.s3_action.split(':')[1]} on {ctx.object_arn} with errorCode "
            "NoSuchKey (or AccessDenied when the caller may not s3:ListBucket)"
        )
    return None
