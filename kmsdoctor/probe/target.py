"""What the probe calls are about, read from the snapshot.

The probe never re-reads configuration: the bucket, the object, the key S3 will use and the
encryption context S3 will send all come from what `collect` recorded, so the probe asks AWS
about exactly the request the analysis reasons about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kmsdoctor.snapshot import PrincipalInfo, Snapshot

KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


@dataclass(frozen=True)
class ProbeTarget:
    operation: Literal["read", "write"]
    bucket: str
    object_key: str | None  # None when no --key was given: nothing to HEAD or GET
    s3_region: str  # the bucket's Region (S3 calls are made there)
    key_arn: str | None  # the key S3 uses for this object; None: no KMS key, or not resolved
    why_no_key: str  # why key_arn is None, for the skipped calls' detail
    # {"aws:s3:arn": …} as S3 sends it to KMS; None when the object ARN is not known
    encryption_context: dict[str, str] | None

    @property
    def key_region(self) -> str:
        """KMS calls go to the key's own Region (a key in another Region is a trap to show)."""
        if self.key_arn and self.key_arn.count(":") >= 5:
            return self.key_arn.split(":")[3] or self.s3_region
        return self.s3_region


@dataclass(frozen=True)
class ProbePrincipal:
    """One principal to probe as: the target profile itself, or a --role-arn to assume."""

    arn: str  # the IAM role or user ARN, as the analysis names the principal
    assume: bool  # True: assume this role from the target profile first


def probe_target(snapshot: Snapshot) -> ProbeTarget:
    request = snapshot.request
    source = snapshot.source
    bucket = source.bucket
    s3_region = bucket.region.value if bucket.region.is_ok and bucket.region.value else ""
    s3_region = s3_region or request.region

    obj = source.object.value if source.object is not None and source.object.is_ok else None
    encryption = bucket.encryption.value if bucket.encryption.is_ok else None
    if request.operation == "read" and obj is not None:
        uses_kms = (obj.sse_algorithm or "") in KMS_ALGORITHMS
        bucket_key = obj.bucket_key_enabled
        no_kms_reason = f"the object uses {obj.sse_algorithm or 'no encryption'}: no KMS key"
    elif encryption is not None:
        uses_kms = encryption.sse_algorithm in KMS_ALGORITHMS
        bucket_key = uses_kms and encryption.bucket_key_enabled
        no_kms_reason = f"the bucket default is {encryption.sse_algorithm}: no KMS key"
    else:
        uses_kms = source.key is not None
        bucket_key = False
        no_kms_reason = "no KMS key is involved"

    key_arn: str | None = None
    why_no_key = no_kms_reason
    if uses_kms and source.key is not None:
        key = source.key
        key_arn = key.arn or (key.metadata.value.arn if key.metadata.value else None)
        if key_arn is None:
            why_no_key = f"the key {key.reference} could not be resolved to a key ARN"
    elif uses_kms:
        why_no_key = "the key could not be identified from the object or the bucket"

    context: dict[str, str] | None = None
    if request.key is not None:
        # With an S3 Bucket Key, S3 asks KMS for the bucket key under the bucket ARN.
        context_arn = bucket.arn if bucket_key else f"{bucket.arn}/{request.key}"
        context = {"aws:s3:arn": context_arn}

    return ProbeTarget(
        operation=request.operation,
        bucket=bucket.name,
        object_key=request.key,
        s3_region=s3_region,
        key_arn=key_arn,
        why_no_key=why_no_key,
        encryption_context=context,
    )


def probe_principals(snapshot: Snapshot) -> list[ProbePrincipal]:
    """The principals the analysis covers, each with how to become it."""
    return [_probe_principal(p) for p in snapshot.target.principals]


def _probe_principal(principal: PrincipalInfo) -> ProbePrincipal:
    return ProbePrincipal(arn=principal.arn, assume=principal.source == "role_arn")
