"""Findings about the key itself: managed by whom, its state, its Region, how it is named."""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.locks import is_aws_managed
from kmsdoctor.analyze.model import Fix
from kmsdoctor.analyze.rules.base import RuleHit, rule
from kmsdoctor.arn import alias_name_of, is_alias_reference, key_id_of
from kmsdoctor.snapshot import KeyMetadata


def _metadata(ev: PrincipalEvaluation) -> KeyMetadata | None:
    key = ev.ctx.key
    if key is None or not key.metadata.is_ok:
        return None
    return key.metadata.value


def _key_fix(ev: PrincipalEvaluation, change: str, show: list[str] | None = None) -> Fix:
    ctx = ev.ctx
    reference = ctx.key.reference if ctx.key else ""
    return Fix(
        account=ctx.resource_account,
        where=f"KMS key {ctx.key_arn or reference} in A ({ctx.resource_account})",
        change=change,
        statement=None,
        show_current=show if show is not None else [fixes.show_key(ctx)],
    )


@rule(
    code="KD501",
    title="The object is encrypted with the AWS managed key aws/s3",
    lock="key_state",
    severity="error",
    example=(
        "Objects were uploaded with SSE-KMS and no key id, so S3 used A's aws/s3 key; no other "
        "account can ever decrypt them."
    ),
    fix=(
        "In A, set the bucket's default encryption to a customer managed key (by ARN) and "
        "re-encrypt existing objects by copying them onto themselves with that key."
    ),
)
def aws_managed_key(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An AWS managed key's policy cannot be edited and trusts only its own account, so it can
    never be shared across accounts."""
    ctx = ev.ctx
    if not ctx.kms_involved or not ctx.cross_account or not is_aws_managed(ev):
        return []
    key = ctx.key_arn or (ctx.key.reference if ctx.key else "")
    detail = (
        f"{key} is A's AWS managed key for S3 (aws/s3). Its key policy only trusts principals of "
        f"{ctx.resource_account} calling through S3; {ctx.caller_account} can never be added."
    )
    object_key = ctx.snapshot.request.key or "OBJECT_KEY"
    change = (
        "Create (or choose) a customer managed key in A, set it as the bucket default by key ARN, "
        "and re-encrypt the object, e.g. aws s3api copy-object --bucket "
        f"{ctx.bucket_name} --key {object_key} --copy-source {ctx.bucket_name}/{object_key} "
        "--server-side-encryption aws:kms --ssekms-key-id CUSTOMER_KEY_ARN (a write: run it "
        "yourself after review)."
    )
    return [
        RuleHit(
            detail, _key_fix(ev, change, [fixes.show_key(ctx), fixes.show_bucket_encryption(ctx)])
        )
    ]


@rule(
    code="KD502",
    title="The key is disabled",
    lock="key_state",
    severity="error",
    example=(
        "Someone disabled the key during an audit; every read of its objects fails with "
        "DisabledException."
    ),
    fix="In A, enable the key (aws kms enable-key) once you know why it was disabled.",
)
def key_disabled(ev: PrincipalEvaluation) -> list[RuleHit]:
    """KMS refuses every cryptographic operation with a disabled key, whatever the policies say."""
    metadata = _metadata(ev)
    if metadata is None or not ev.ctx.kms_involved or metadata.key_state != "Disabled":
        return []
    detail = f"{metadata.arn} has KeyState Disabled (Enabled: {str(metadata.enabled).lower()})."
    return [
        RuleHit(
            detail,
            _key_fix(
                ev,
                f"Find out who disabled it (CloudTrail DisableKey in A), then aws kms enable-key "
                f"--key-id {metadata.arn} (a change: run it yourself after review).",
            ),
        )
    ]


@rule(
    code="KD503",
    title="The key is pending deletion",
    lock="key_state",
    severity="error",
    example=(
        "The key was scheduled for deletion by a cleanup script; until the date, KMS answers "
        "KMSInvalidStateException; after it, the data is gone."
    ),
    fix="In A, cancel the deletion (aws kms cancel-key-deletion) and enable the key again.",
)
def key_pending_deletion(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A key pending deletion cannot be used. Once deleted, objects encrypted under it can never
    be decrypted again, so this is urgent."""
    metadata = _metadata(ev)
    if metadata is None or not ev.ctx.kms_involved or metadata.key_state != "PendingDeletion":
        return []
    when = metadata.deletion_date or "a date KMS did not report"
    detail = f"{metadata.arn} is PendingDeletion; it will be deleted on {when}."
    return [
        RuleHit(
            detail,
            _key_fix(
                ev,
                f"Before {when}: aws kms cancel-key-deletion --key-id {metadata.arn}, then aws kms "
                f"enable-key --key-id {metadata.arn} (changes: run them yourself after review).",
            ),
        )
    ]


@rule(
    code="KD504",
    title="The key is in another Region than the bucket",
    lock="key_state",
    severity="error",
    example=(
        "The bucket is in eu-west-1 and its default encryption names a key in us-east-1; S3 only "
        "uses keys in the bucket's Region."
    ),
    fix="Use a key in the bucket's Region (a multi-Region replica key works too).",
)
def key_other_region(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 encrypts and decrypts with KMS keys in the bucket's own Region only."""
    ctx = ev.ctx
    metadata = _metadata(ev)
    if (
        metadata is None
        or not ctx.kms_involved
        or not metadata.region
        or metadata.region == ctx.region
    ):
        return []
    detail = f"{metadata.arn} is in {metadata.region}; bucket {ctx.bucket_name} is in {ctx.region}."
    change = (
        f"Create a key in {ctx.region} (or a replica of a multi-Region key) and set it as the "
        "bucket default by key ARN; re-encrypt objects written under the other key."
    )
    return [
        RuleHit(
            detail, _key_fix(ev, change, [fixes.show_key(ctx), fixes.show_bucket_encryption(ctx)])
        )
    ]


@rule(
    code="KD505",
    title="The key was not found",
    lock="key_state",
    severity="error",
    example=(
        "The bucket default names arn:aws:kms:eu-west-1:111111111111:key/0000…, a key that was "
        "deleted or never existed in that Region."
    ),
    fix="Point the bucket default at an existing key ARN; objects under a deleted key are lost.",
)
def key_not_found(ev: PrincipalEvaluation) -> list[RuleHit]:
    """KMS does not know the key that the object or the bucket default names: deleted, in
    another Region, or a typo."""
    ctx = ev.ctx
    key = ctx.key
    if key is None or not ctx.kms_involved or key.metadata.status != "absent":
        return []
    where = key.found_on.replace("_", " ")
    detail = f"The key {key.reference} (on the {where}) was not found: {key.metadata.reason()}."
    return [
        RuleHit(
            detail,
            _key_fix(
                ev,
                "Check the key reference on the object/bucket; set the bucket default to an "
                "existing customer managed key ARN.",
                [fixes.show_key(ctx), fixes.show_bucket_encryption(ctx)],
            ),
        )
    ]


@rule(
    code="KD506",
    title="The bucket's default encryption names the key by alias",
    lock="key_state",
    severity="warning",
    example=(
        '"KMSMasterKeyID": "alias/datalake" on the bucket: A\'s own writes use A\'s key, but S3 '
        "resolves an alias in the requester's account, so B's writes look for alias/datalake in B."
    ),
    fix="In A, set the bucket default encryption to the full key ARN.",
)
def bucket_default_alias(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 resolves a key alias (or key id) in the account of the requester. For cross-account
    writers the bucket default must be the fully qualified key ARN."""
    ctx = ev.ctx
    encryption = ctx.bucket_encryption
    if encryption is None or not is_alias_reference(encryption.kms_master_key_id):
        return []
    target = ctx.key_arn if ctx.key and ctx.key.found_on == "bucket_default" else None
    detail = (
        f"Bucket {ctx.bucket_name}'s default encryption names {encryption.kms_master_key_id}. S3 "
        "resolves an alias in the requester's account: only A resolves it to its own key; a "
        f"writer in {ctx.caller_account} would look for the alias in its own account."
    )
    statement = {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": encryption.sse_algorithm,
                    "KMSMasterKeyID": target or "KEY_ARN",
                },
                "BucketKeyEnabled": encryption.bucket_key_enabled,
            }
        ]
    }
    fix = Fix(
        account=ctx.resource_account,
        where=f"default encryption of bucket {ctx.bucket_name} in A ({ctx.resource_account})",
        change="Set the default encryption to the key ARN (this is the configuration to put).",
        statement=statement,
        show_current=[fixes.show_bucket_encryption(ctx)],
    )
    return [RuleHit(detail, fix)]


@rule(
    code="KD507",
    title="The key is in a state that cannot be used",
    lock="key_state",
    severity="error",
    example="A key with imported material is PendingImport (the material expired); decrypts fail.",
    fix="In A, bring the key back to Enabled (re-import material, wait for Creating/Updating).",
)
def key_unusable_state(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Only an Enabled key works: PendingImport, Unavailable (custom key store disconnected),
    Creating, Updating and PendingReplicaDeletion all refuse cryptographic operations."""
    metadata = _metadata(ev)
    if metadata is None or not ev.ctx.kms_involved:
        return []
    if metadata.key_state in ("Enabled", "Disabled", "PendingDeletion"):
        return []
    detail = f"{metadata.arn} has KeyState {metadata.key_state} (origin {metadata.origin})."
    return [
        RuleHit(detail, _key_fix(ev, f"Resolve the {metadata.key_state} state of the key in A."))
    ]


AWS_S3_ALIAS = "alias/aws/s3"


def same_key(reference: str | None, other: str | None, aliases: list[str]) -> bool:
    """Do two key references name the same key (ARN, key id, alias name or alias ARN)?

    A bucket default of aws:kms without a key id (`other` None) means the AWS managed key
    aws/s3.
    """
    if not reference:
        return False
    if not other:
        names = {alias_name_of(a) for a in aliases}
        return alias_name_of(reference) == AWS_S3_ALIAS or AWS_S3_ALIAS in names
    if key_id_of(reference) == key_id_of(other):
        return True
    names = {alias_name_of(a) for a in aliases}
    for ref in (reference, other):
        if is_alias_reference(ref) and alias_name_of(ref) in names:
            return True
    return False
