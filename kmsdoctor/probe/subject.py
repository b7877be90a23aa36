"""What the probe asks AWS about, and as whom: read from the snapshot, never re-read.

The probe never re-reads configuration: the bucket, the object, the key S3 will use and the
encryption context S3 will send all come from `kmsdoctor.s3_request` — the same model of the
request the analysis reasons about — over what `collect` recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kmsdoctor.s3_request import s3_request
from kmsdoctor.snapshot import PrincipalInfo, SnapshotView


@dataclass(frozen=True)
class ProbeSubject:
    """The object (and the key) the probe's calls are about."""

    operation: Literal["read", "write"]
    bucket: str
    object_key: str | None  # None when no --key was given: nothing to HEAD or GET
    s3_region: str  # the bucket's Region (S3 calls are made there)
    key_arn: str | None  # the key S3 uses for this object; None: no KMS key, or not resolved
    key_region: str  # KMS calls go to the key's own Region (another Region is a trap to show)
    why_no_key: str  # why key_arn is None, for the skipped calls' detail
    # {"aws:s3:arn": …} as S3 sends it to KMS; None when the object ARN is not known
    encryption_context: dict[str, str] | None


@dataclass(frozen=True)
class ProbePrincipal:
    """One principal to probe as: the caller profile itself, or a --role-arn to assume."""

    arn: str  # the IAM role or user ARN, as the analysis names the principal
    assume: bool  # True: assume this role from the caller profile first


def probe_subject(snapshot: SnapshotView) -> ProbeSubject:
    request = s3_request(snapshot)
    return ProbeSubject(
        operation=request.operation,
        bucket=request.bucket,
        object_key=request.object_key,
        s3_region=request.region,
        key_arn=request.key_arn,
        key_region=request.key_region,
        why_no_key=request.why_no_key_arn,
        encryption_context=request.encryption_context,
    )


def probe_principals(snapshot: SnapshotView) -> list[ProbePrincipal]:
    """The principals the analysis covers, each with how to become it."""
    return [_probe_principal(p) for p in snapshot.target.principals]


def _probe_principal(principal: PrincipalInfo) -> ProbePrincipal:
    return ProbePrincipal(arn=principal.arn, assume=principal.source == "role_arn")
