"""Findings about the object itself (the `object` lock)."""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.locks import object_owned_by_other_account
from kmsdoctor.analyze.model import Fix
from kmsdoctor.analyze.rules.base import RuleHit, rule
from kmsdoctor.analyze.rules.key_state import same_key
from kmsdoctor.s3_request import KMS_ALGORITHMS


@rule(
    code="KD601",
    title="The object does not exist",
    lock="object",
    severity="error",
    example=(
        "s3://datalake-curated-a/sales/2026/q1.parquet was renamed; a caller without "
        "s3:ListBucket gets 403 AccessDenied, not 404, and suspects the policies."
    ),
    fix="Check the key (case, prefix, version); grant s3:ListBucket if callers should see 404s.",
)
def object_missing(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 answers 403 instead of 404 for a missing key when the caller may not list the bucket,
    so a missing object looks exactly like a permissions problem."""
    ctx = ev.ctx
    fetched = ctx.snapshot.source.object
    if ctx.operation != "read" or fetched is None or fetched.status != "absent":
        return []
    detail = f"{ctx.object_arn} does not exist ({fetched.reason()})."
    fix = Fix(
        account=ctx.resource_account,
        where=f"bucket {ctx.bucket_name} in A ({ctx.resource_account})",
        change="Check the object key; list the prefix to find the object's current name.",
        statement=None,
        show_current=[
            fixes.show_object(ctx),
            fixes.aws_cli(
                [
                    "s3api",
                    "list-objects-v2",
                    "--bucket",
                    ctx.bucket_name,
                    "--prefix",
                    (ctx.snapshot.request.key or "").rsplit("/", 1)[0],
                    "--max-items",
                    "20",
                ],
                ctx.source_profile,
            ),
        ],
    )
    return [RuleHit(detail, fix)]


@rule(
    code="KD602",
    title="The object is not encrypted with SSE-KMS",
    lock="object",
    severity="info",
    example=(
        "The object was written before default encryption changed and uses SSE-S3 (AES256): no "
        "KMS key is involved, so the key policy is not the problem for this object."
    ),
    fix="Nothing to fix for KMS; if the error names kms:Decrypt, check which object fails.",
)
def object_not_sse_kms(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Only SSE-KMS (and DSSE-KMS) objects need kms:Decrypt. SSE-S3 objects are read with the
    bucket and identity policies alone."""
    ctx = ev.ctx
    obj = ctx.object_info
    if ctx.operation != "read" or obj is None or (obj.sse_algorithm or "") in KMS_ALGORITHMS:
        return []
    algorithm = obj.sse_algorithm or "no server-side encryption"
    encryption = ctx.bucket_encryption
    default = f" (the bucket default is {encryption.sse_algorithm})" if encryption else ""
    detail = f"{ctx.object_arn} uses {algorithm}{default}: the KMS locks do not apply to it."
    fix = Fix(
        account=ctx.resource_account,
        where=f"object {ctx.object_arn}",
        change="No change needed for this object.",
        statement=None,
        show_current=[fixes.show_object(ctx)],
    )
    return [RuleHit(detail, fix)]


@rule(
    code="KD603",
    title="The object is owned by another account",
    lock="object",
    severity="error",
    example=(
        "A vendor account uploaded the object without bucket-owner-full-control while the bucket "
        "still used ObjectWriter ownership; A's bucket policy does not cover it."
    ),
    fix=(
        "In A, set Object Ownership to BucketOwnerEnforced (ACLs off, A owns every object), or "
        "have the uploader re-upload it."
    ),
)
def object_other_owner(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A bucket policy only applies to objects the bucket owner owns. With ACLs enabled, an
    object uploaded by another account belongs to that account and only its ACL can grant reads."""
    ctx = ev.ctx
    sentence = object_owned_by_other_account(ctx)
    if sentence is None:
        return []
    fix = Fix(
        account=ctx.resource_account,
        where=f"ownership controls of bucket {ctx.bucket_name} in A ({ctx.resource_account})",
        change=(
            "Set Object Ownership to BucketOwnerEnforced so A owns every object and the bucket "
            "policy applies (check that no workflow depends on object ACLs first)."
        ),
        statement={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        show_current=[fixes.show_ownership(ctx), fixes.show_object(ctx)],
    )
    return [RuleHit(sentence[0].upper() + sentence[1:] + ".", fix)]


@rule(
    code="KD604",
    title="The object is encrypted under another key than the bucket's default",
    lock="object",
    severity="warning",
    example=(
        "The bucket default was switched to a new key last month; this object was written before, "
        "under the old key, whose policy never named the BI role."
    ),
    fix="Open the object's key for the caller, or re-encrypt the object under the default key.",
)
def object_other_key(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 decrypts with the key recorded on the object, not the bucket's current default. Fixing
    the default key's policy does nothing for objects written under an older key."""
    ctx = ev.ctx
    obj = ctx.object_info
    encryption = ctx.bucket_encryption
    if ctx.operation != "read" or obj is None or encryption is None:
        return []
    if (obj.sse_algorithm or "") not in KMS_ALGORITHMS or not obj.kms_key_id:
        return []
    default = encryption.kms_master_key_id
    aliases: list[str] = []
    if ctx.key is not None and ctx.key.aliases.is_ok and ctx.key.aliases.value:
        aliases = list(ctx.key.aliases.value)
    if encryption.sse_algorithm in KMS_ALGORITHMS and same_key(obj.kms_key_id, default, aliases):
        return []
    default_text = (
        default if encryption.sse_algorithm in KMS_ALGORITHMS else encryption.sse_algorithm
    )
    if encryption.sse_algorithm in KMS_ALGORITHMS and not default:
        default_text = "the AWS managed key aws/s3"
    detail = (
        f"{ctx.object_arn} is encrypted under {obj.kms_key_id}; the bucket default is "
        f"{default_text}. kmsdoctor checked the object's key, which is the one S3 uses."
    )
    object_key = ctx.snapshot.request.key or "OBJECT_KEY"
    fix = Fix(
        account=ctx.resource_account,
        where=f"object {ctx.object_arn} in A ({ctx.resource_account})",
        change=(
            "Either open the object's key for the caller (see the key_policy findings), or "
            "re-encrypt the object under the default key: aws s3api copy-object --bucket "
            f"{ctx.bucket_name} --key {object_key} --copy-source {ctx.bucket_name}/{object_key} "
            "--server-side-encryption aws:kms --ssekms-key-id DEFAULT_KEY_ARN (a write: run it "
            "yourself after review)."
        ),
        statement=None,
        show_current=[fixes.show_object(ctx), fixes.show_bucket_encryption(ctx)],
    )
    return [RuleHit(detail, fix)]
