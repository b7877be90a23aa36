"""The request S3 will make: one model, read from the snapshot, for the analysis and the probe.

A read of an SSE-KMS object is S3 checking `s3:GetObject` on the object ARN, then calling KMS, as
the caller, on the key recorded *on the object* (not the bucket default), with the encryption
context `aws:s3:arn` = the object ARN — or the bucket ARN when the object was written with an S3
Bucket Key. A write, or an object not read, goes by the bucket's default encryption: what S3
would use for a new object. The analysis (`analyze/context.py`) builds its policy requests from
this model and the probe (`probe/subject.py`) makes its calls from it, so both reason about the
same key, context and ARNs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kmsdoctor.arn import is_key_arn, region_of
from kmsdoctor.snapshot import KeyInfo, ObjectInfo, SnapshotView

# The server-side encryption algorithms that involve a KMS key.
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


@dataclass(frozen=True)
class S3Request:
    operation: Literal["read", "write"]
    bucket: str
    bucket_arn: str
    object_key: str | None  # None when no key was given
    object_arn: str  # the real object ARN, or arn:aws:s3:::BUCKET/* when no key was given
    region: str  # the bucket's Region (S3 calls KMS there); the calls' Region when not known
    kms_involved: bool  # False for SSE-S3 / unencrypted objects, or no key identified
    key: KeyInfo | None  # the key S3 will use; None when no KMS key is involved
    key_arn: str | None  # None when no KMS key, or the reference could not be resolved
    bucket_key: bool  # an S3 Bucket Key is in use: KMS sees the bucket ARN as context
    no_key_reason: str  # why no KMS key is involved (when kms_involved is False)
    # Values the model had to assume (the bucket's Region, a placeholder object ARN).
    assumptions: list[str] = field(default_factory=list)

    @property
    def object_is_placeholder(self) -> bool:
        return self.object_key is None

    @property
    def encryption_context_arn(self) -> str:
        """The value S3 sends as kms:EncryptionContext:aws:s3:arn."""
        return self.bucket_arn if self.bucket_key else self.object_arn

    @property
    def encryption_context(self) -> dict[str, str] | None:
        """{"aws:s3:arn": …} as S3 sends it to KMS; None when the object ARN is not known."""
        if self.object_key is None:
            return None
        return {"aws:s3:arn": self.encryption_context_arn}

    @property
    def key_region(self) -> str:
        """KMS calls go to the key's own Region (a key in another Region is a trap to show)."""
        if self.key_arn:
            return region_of(self.key_arn) or self.region
        return self.region

    @property
    def why_no_key_arn(self) -> str:
        """Why `key_arn` is None: no KMS key at all, or a key that could not be resolved."""
        if self.kms_involved and self.key is not None and self.key_arn is None:
            return f"the key {self.key.reference} could not be resolved to a key ARN"
        return self.no_key_reason


def object_info_of(snapshot: SnapshotView) -> ObjectInfo | None:
    fetched = snapshot.source.object
    if fetched is not None and fetched.is_ok:
        return fetched.value
    return None


def s3_request(snapshot: SnapshotView) -> S3Request:
    """The request S3 will make for the snapshot's question."""
    request = snapshot.request
    source = snapshot.source
    bucket = source.bucket
    assumptions: list[str] = []

    region = bucket.region.value if bucket.region.is_ok and bucket.region.value else ""
    if not region:
        region = request.region
        assumptions.append(
            f"bucket Region not known ({bucket.region.reason()}); used {region}, the Region "
            "the calls were made in"
        )

    if request.key is not None:
        object_arn = f"{bucket.arn}/{request.key}"
    else:
        object_arn = f"{bucket.arn}/*"
        assumptions.append(
            f"no object key given: checked against the bucket's default key and the "
            f"placeholder object ARN {object_arn}"
        )

    uses_kms, bucket_key, no_key_reason = _encryption_in_play(snapshot)
    kms_involved = uses_kms and source.key is not None
    if uses_kms and source.key is None:
        no_key_reason = "the key could not be identified from the object or the bucket"
    key = source.key if kms_involved else None

    return S3Request(
        operation=request.operation,
        bucket=bucket.name,
        bucket_arn=bucket.arn,
        object_key=request.key,
        object_arn=object_arn,
        region=region,
        kms_involved=kms_involved,
        key=key,
        key_arn=resolved_key_arn(key),
        bucket_key=bucket_key,
        no_key_reason=no_key_reason,
        assumptions=assumptions,
    )


def _encryption_in_play(snapshot: SnapshotView) -> tuple[bool, bool, str]:
    """(does the encryption use KMS, is a Bucket Key in use, why no KMS key when it does not).

    An existing object decides by what is recorded on it; a write or a missing/unnamed object
    goes by the bucket's default encryption (what S3 would use for a new object).
    """
    object_info = object_info_of(snapshot)
    if snapshot.request.operation == "read" and object_info is not None:
        algorithm = object_info.sse_algorithm or "no server-side encryption"
        return (
            (object_info.sse_algorithm or "") in KMS_ALGORITHMS,
            object_info.bucket_key_enabled,
            f"the object uses {algorithm}: no KMS key is involved",
        )
    encryption = snapshot.source.bucket.encryption
    if encryption.is_ok and encryption.value is not None:
        uses_kms = encryption.value.sse_algorithm in KMS_ALGORITHMS
        return (
            uses_kms,
            uses_kms and encryption.value.bucket_key_enabled,
            f"the bucket default is {encryption.value.sse_algorithm}: no KMS key is involved",
        )
    # Default encryption not readable: the key collect found (a --kms-key) decides.
    return snapshot.source.key is not None, False, "no KMS key is involved"


def resolved_key_arn(key: KeyInfo | None) -> str | None:
    """The key's ARN: as resolved by collect, from its metadata, or the reference when it is one."""
    if key is None:
        return None
    if key.arn:
        return key.arn
    if key.metadata.is_ok and key.metadata.value is not None:
        return key.metadata.value.arn
    if is_key_arn(key.reference):
        return key.reference
    return None
