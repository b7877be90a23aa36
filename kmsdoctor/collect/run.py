"""`collect_snapshot`: read both accounts concurrently into one Snapshot.

The calls form a few short chains; everything that does not wait for another answer starts at
once, so a collection costs about its longest chain:

    A  GetCallerIdentity -> ListParents (up to the root) -> ListPoliciesForTarget -> DescribePolicy
    A  HeadObject -> DescribeKey -> GetKeyPolicy | ListGrants | ListAliases
    A  GetBucket{Location,Policy,Encryption,OwnershipControls,Acl}, GetPublicAccessBlock
    B  GetCallerIdentity -> GetRole | ListRolePolicies | ListAttachedRolePolicies -> Get* ...
    B  GetCallerIdentity -> organization chain as for A (SCPs)
    B  DescribeVpcEndpoints

Clients are made up front in this thread (boto3 sessions are not thread-safe; clients are).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import boto3

from kmsdoctor import __version__
from kmsdoctor.aws import (
    CONNECTION_ERROR_CODES,
    CallResult,
    call,
    client,
    profile_label,
    session_for,
)
from kmsdoctor.collect.organization import PolicyType, collect_organization
from kmsdoctor.collect.request import CollectRequest
from kmsdoctor.collect.source import (
    bucket_default_key,
    collect_bucket,
    collect_key,
    collect_object,
    describe_key,
)
from kmsdoctor.collect.target import (
    PrincipalRef,
    caller_identity,
    caller_principal,
    collect_principal,
    collect_vpc_endpoints,
    role_arn_principal,
)
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.errors import UsageError
from kmsdoctor.snapshot import (
    BucketInfo,
    CallerIdentity,
    Fetched,
    KeyInfo,
    ObjectInfo,
    Organization,
    PolicyLevel,
    PrincipalInfo,
    RequestSpec,
    Snapshot,
    SourceSide,
    TargetSide,
)

# Top-level chains run in this pool; each fans out in pools of its own (see fetch.parallel).
_TOP_LEVEL_WORKERS = 16


class _KmsClients:
    """KMS clients by Region: the key may live in another Region than the bucket."""

    def __init__(self, session: boto3.Session, region: str) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._clients = {region: client(session, "kms", region)}

    def __call__(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = client(self._session, "kms", region)
            return self._clients[region]


def collect_snapshot(request: CollectRequest) -> Snapshot:
    source = session_for(request.source_profile, request.region)
    target = session_for(request.target_profile, request.region)
    region = request.region or source.region_name or target.region_name
    if not region:
        raise UsageError("no Region: pass --region or set one in the source profile")
    role_refs = [role_arn_principal(arn) for arn in request.role_arns]
    a_label, b_label = profile_label(source), profile_label(target)

    a_sts, a_s3, a_org = (client(source, s, region) for s in ("sts", "s3", "organizations"))
    kms_for_region = _KmsClients(source, region)
    b_sts, b_iam, b_org, b_ec2 = (
        client(target, s, region) for s in ("sts", "iam", "organizations", "ec2")
    )

    with worker_pool(_TOP_LEVEL_WORKERS) as pool:
        a_ident = pool.submit(call, a_sts, "GetCallerIdentity")
        b_ident = pool.submit(call, b_sts, "GetCallerIdentity")
        bucket_f = pool.submit(collect_bucket, a_s3, request.bucket, a_label)
        object_f = (
            pool.submit(collect_object, a_s3, request.bucket, request.key, a_label)
            if request.key
            else None
        )
        requested_key_f = (
            pool.submit(describe_key, kms_for_region, request.kms_key, region)
            if request.kms_key
            else None
        )
        key_f = pool.submit(
            _key_after, object_f, request.kms_key, requested_key_f, bucket_f, kms_for_region, region
        )
        rcps_f = pool.submit(
            _organization_after, a_ident, a_org, "RESOURCE_CONTROL_POLICY", a_label
        )
        scps_f = pool.submit(_organization_after, b_ident, b_org, "SERVICE_CONTROL_POLICY", b_label)
        principal_fs = [pool.submit(collect_principal, b_iam, ref) for ref in role_refs]
        if not role_refs:
            principal_fs.append(pool.submit(_caller_principal_after, b_ident, b_iam, b_label))
        vpce_f = pool.submit(collect_vpc_endpoints, b_ec2, region)

        # Identities first: a credential or connection problem is the error the user sees.
        a_caller = _identity(a_ident.result(), a_label)
        b_caller = _identity(b_ident.result(), b_label)
        if requested_key_f is not None:
            _refuse_missing_key(requested_key_f.result(), request.kms_key, a_label)
        bucket = bucket_f.result()
        obj = object_f.result() if object_f else None
        key = _key_visibility(key_f.result(), a_caller.account)
        a_org_info, rcps = rcps_f.result()
        b_org_info, scps = scps_f.result()
        principals: list[PrincipalInfo] = [f.result() for f in principal_fs]
        vpc_endpoints = vpce_f.result()

    return Snapshot(
        request=RequestSpec(
            bucket=request.bucket,
            key=request.key,
            operation=request.operation,
            region=region,
            role_arns=list(request.role_arns),
        ),
        source=SourceSide(
            profile=request.source_profile,
            account_id=Fetched.ok(a_caller.account),
            organization=a_org_info,
            rcps=rcps,
            bucket=bucket,
            object=obj,
            key=key,
        ),
        target=TargetSide(
            profile=request.target_profile,
            account_id=Fetched.ok(b_caller.account),
            caller=Fetched.ok(b_caller),
            organization=b_org_info,
            scps=scps,
            vpc_endpoints=vpc_endpoints,
            principals=principals,
        ),
        tool_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _identity(result: CallResult, label: str) -> CallerIdentity:
    """GetCallerIdentity needs no permission, so its failure is never a policy fact: the
    profile cannot reach AWS at all, and nothing else from it would be worth reading."""
    if result.ok:
        assert result.response is not None
        return caller_identity(result.response)
    assert result.error is not None
    if result.error.code in CONNECTION_ERROR_CODES:
        raise UsageError(f"cannot reach AWS with profile {label}: {result.error.message}")
    raise UsageError(
        f"cannot identify profile {label}: sts:GetCallerIdentity failed with {result.error.code}"
    )


def _key_after(
    object_f: Future[Fetched[ObjectInfo]] | None,
    requested_key: str | None,
    requested_key_f: Future[CallResult] | None,
    bucket_f: Future[BucketInfo],
    kms_for_region: _KmsClients,
    region: str,
) -> KeyInfo | None:
    obj = object_f.result() if object_f else None
    if obj is not None and obj.is_ok:
        # The object was read: S3 decrypts with the key recorded on it, not the bucket's
        # current default, and an SSE-S3 object involves no key at all.
        assert obj.value is not None
        if not obj.value.kms_key_id:
            return None
        return collect_key(kms_for_region, obj.value.kms_key_id, "object", region)
    if requested_key and requested_key_f is not None:
        described = requested_key_f.result()
        return collect_key(kms_for_region, requested_key, "request", region, described)
    # No object given, or it could not be read: the bucket default's key is the best lead.
    bucket = bucket_f.result()
    reference = bucket_default_key(bucket.encryption)
    if reference is None:
        return None
    if bucket.region.is_ok and bucket.region.value:
        region = bucket.region.value  # key ids and alias names resolve in the bucket's Region
    return collect_key(kms_for_region, reference, "bucket_default", region)


def _refuse_missing_key(described: CallResult, reference: str | None, label: str) -> None:
    if described.code == "NotFoundException":
        raise UsageError(f"KMS key {reference} does not exist or is not visible to profile {label}")


def _key_visibility(key: KeyInfo | None, source_account: str) -> KeyInfo | None:
    """DescribeKey's NotFoundException proves a key does not exist only in the key's own
    account; for a key ARN in another account it just means A cannot see it."""
    if key is None or key.metadata.status != "absent" or key.arn is None:
        return key
    if key.arn.split(":")[4] == source_account:
        return key
    assert key.metadata.error is not None
    gap: Fetched[Any] = Fetched.unknown(key.metadata.error)
    key.metadata, key.policy, key.grants, key.aliases = gap, gap, gap, gap
    return key


def _organization_after(
    identity_f: Future[CallResult], org: Any, policy_type: PolicyType, label: str
) -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
    account = _identity(identity_f.result(), label).account
    return collect_organization(org, account, policy_type)


def _caller_principal_after(identity_f: Future[CallResult], iam: Any, label: str) -> PrincipalInfo:
    ref: PrincipalRef = caller_principal(_identity(identity_f.result(), label))
    return collect_principal(iam, ref)
