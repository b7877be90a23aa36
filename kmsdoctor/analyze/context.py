"""The request context: what AWS sees when one principal of the caller account reads (or writes)
the object in the resource account.

A cross-account read of an SSE-KMS object is two authorizations made as the caller:
`s3:GetObject` on the object ARN, then — S3 calling KMS on the caller's behalf — `kms:Decrypt` on
the key recorded on the object, with `kms:ViaService`, `kms:CallerAccount` and the S3 encryption
context in the request. A write is `s3:PutObject` and `kms:GenerateDataKey` (plus `kms:Decrypt`
for multipart uploads). This module turns a snapshot and one `PrincipalInfo` into those
`kmsdoctor.policy.Request`s, and records every value it had to assume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kmsdoctor.arn import account_of, name_of
from kmsdoctor.policy.condition_keys import tested_condition_keys
from kmsdoctor.policy.model import ContextValue, Request, RequestPrincipal
from kmsdoctor.s3_request import KMS_ALGORITHMS, S3Request, object_info_of, s3_request
from kmsdoctor.snapshot import (
    BucketEncryption,
    KeyInfo,
    ObjectInfo,
    PrincipalInfo,
    SnapshotView,
    VpcEndpoint,
)

# Session name used when the snapshot has no session ARN for a role (a --role-arn that was
# analysed, not assumed). Only policies that name session ARNs could tell the difference.
PLACEHOLDER_SESSION_NAME = "kmsdoctor"


@dataclass(frozen=True)
class Authorization:
    """One authorization AWS makes for the operation, as the caller."""

    name: Literal["s3", "kms", "kms_multipart"]
    service: Literal["s3", "kms"]
    request: Request
    # False for kms:Decrypt on writes: only multipart uploads need it, so a deny there is a
    # warning (finding), not a shut lock.
    required: bool = True
    # Context keys whose values could not be read (tags): lower-case key prefix -> why. A
    # condition testing one of them is undecided, and the lock that needs it says `unknown`.
    undecided: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def action(self) -> str:
        return self.request.action

    @property
    def resource(self) -> str:
        return self.request.resource


@dataclass
class RequestContext:
    snapshot: SnapshotView
    principal: PrincipalInfo
    s3_request: S3Request  # the request S3 will make (kmsdoctor/s3_request.py); fields below
    operation: Literal["read", "write"]
    caller_account: str  # the caller account, from the principal ARN
    resource_account: str  # owns the bucket and key ("" when it could not be learnt)
    region: str  # the bucket's Region (where S3 calls KMS)
    bucket_name: str
    bucket_arn: str
    object_arn: str  # the real object ARN, or arn:aws:s3:::BUCKET/* when no key was given
    object_is_placeholder: bool
    kms_involved: bool  # False for SSE-S3 / unencrypted objects
    key: KeyInfo | None
    key_arn: str | None  # None when the key reference could not be resolved to an ARN
    bucket_key_enabled: bool
    encryption_context_arn: str  # the value of kms:EncryptionContext:aws:s3:arn
    request_principal: RequestPrincipal
    authorizations: list[Authorization] = field(default_factory=list)
    s3_endpoints: list[VpcEndpoint] = field(default_factory=list)
    # Values kmsdoctor had to assume; shown in the evidence so nobody mistakes them for facts.
    assumptions: list[str] = field(default_factory=list)

    @property
    def cross_account(self) -> bool:
        return bool(self.resource_account) and self.caller_account != self.resource_account

    @property
    def entity_arn(self) -> str:
        return self.principal.arn

    @property
    def entity_name(self) -> str:
        return name_of(self.principal.arn)

    @property
    def source_profile(self) -> str | None:
        return self.snapshot.source.profile

    @property
    def target_profile(self) -> str | None:
        return self.snapshot.target.profile

    @property
    def object_info(self) -> ObjectInfo | None:
        return object_info_of(self.snapshot)

    @property
    def bucket_encryption(self) -> BucketEncryption | None:
        fetched = self.snapshot.source.bucket.encryption
        return fetched.value if fetched.is_ok else None

    @property
    def caller_org_id(self) -> str | None:
        org = self.snapshot.target.organization
        return org.value.id if org.is_ok and org.value else None

    @property
    def resource_org_id(self) -> str | None:
        org = self.snapshot.source.organization
        return org.value.id if org.is_ok and org.value else None

    def authorization(self, name: str) -> Authorization | None:
        for auth in self.authorizations:
            if auth.name == name:
                return auth
        return None

    @property
    def s3_action(self) -> str:
        return "s3:PutObject" if self.operation == "write" else "s3:GetObject"

    @property
    def kms_action(self) -> str:
        return "kms:GenerateDataKey" if self.operation == "write" else "kms:Decrypt"


# --- building the context ----------------------------------------------------------------------


def build_request_context(snapshot: SnapshotView, principal: PrincipalInfo) -> RequestContext:
    source = snapshot.source
    s3 = s3_request(snapshot)
    assumptions: list[str] = list(s3.assumptions)

    resource_account = source.account_id.value if source.account_id.is_ok else None
    if not resource_account and source.key is not None and source.key.arn:
        resource_account = account_of(source.key.arn)
    resource_account = resource_account or ""

    request_principal, principal_keys = _principal_and_keys(snapshot, principal, assumptions)
    principal_undecided = _principal_tags(snapshot, principal, principal_keys, assumptions)

    s3_endpoints = _s3_endpoints(snapshot)
    ctx = RequestContext(
        snapshot=snapshot,
        principal=principal,
        s3_request=s3,
        operation=s3.operation,
        caller_account=account_of(principal.arn),
        resource_account=resource_account,
        region=s3.region,
        bucket_name=s3.bucket,
        bucket_arn=s3.bucket_arn,
        object_arn=s3.object_arn,
        object_is_placeholder=s3.object_is_placeholder,
        kms_involved=s3.kms_involved,
        key=s3.key,
        key_arn=s3.key_arn,
        bucket_key_enabled=s3.bucket_key,
        encryption_context_arn=s3.encryption_context_arn,
        request_principal=request_principal,
        s3_endpoints=s3_endpoints,
        assumptions=assumptions,
    )
    ctx.authorizations = _authorizations(ctx, principal_keys, principal_undecided)
    return ctx


PRINCIPAL_TAG = "aws:principaltag/"
RESOURCE_TAG = "aws:resourcetag/"
EXISTING_OBJECT_TAG = "s3:existingobjecttag/"


def _principal_tags(
    snapshot: SnapshotView,
    principal: PrincipalInfo,
    keys: dict[str, ContextValue],
    assumptions: list[str],
) -> dict[str, str]:
    """aws:PrincipalTag/K for each tag of the role or user (GetRole/GetUser return them).

    Returns the undecided prefixes: when the tags could not be read, conditions on
    aws:PrincipalTag are left undecided rather than evaluated as if the role were untagged."""
    entity = principal.entity
    if not entity.is_ok or entity.value is None:
        return {PRINCIPAL_TAG: f"the tags of {principal.arn} could not be read ({entity.reason()})"}
    tags = entity.value.tags
    if tags is None:
        return {PRINCIPAL_TAG: "this snapshot was written before tags were read"}
    for tag_key in sorted(tags):
        keys[f"aws:PrincipalTag/{tag_key}"] = tags[tag_key]
    if principal.session_arn and principal.source == "caller":
        # A session made elsewhere may carry session tags, which AWS never shows: worth saying
        # only when a policy in play tests aws:PrincipalTag, naming the keys it tests.
        tested = tested_condition_keys(_documents_in_play(snapshot, principal), PRINCIPAL_TAG)
        if tested:
            assumptions.append(
                f"{', '.join(tested)} {'is' if len(tested) == 1 else 'are'} taken from the tags "
                f"of {principal.arn}; a session tag with the same key, passed when the caller's "
                "session was made, would override it"
            )
    return {}


def _documents_in_play(snapshot: SnapshotView, principal: PrincipalInfo) -> list[Any]:
    """Every policy document the principal's request meets: bucket and key policies, its
    identity policies and boundary, the SCPs, RCPs and endpoint policies."""
    source, target = snapshot.source, snapshot.target
    documents: list[Any] = []
    for fetched in (source.bucket.policy, source.key.policy if source.key else None):
        if fetched is not None and fetched.is_ok and fetched.value is not None:
            documents.append(fetched.value.document)
    for policies in (
        principal.inline_policies,
        principal.attached_policies,
        principal.group_policies,
    ):
        documents += [policy.document for policy in policies.value or []]
    boundary = principal.permissions_boundary
    if boundary.is_ok and boundary.value is not None:
        documents.append(boundary.value.document)
    for levels in (target.scps, source.rcps):
        for level in levels.value or []:
            documents += [policy.document for policy in level.policies]
    for endpoint in target.vpc_endpoints.value or []:
        if endpoint.policy is not None:
            documents.append(endpoint.policy.document)
    return documents


def _key_tags(ctx: RequestContext, kms_keys: dict[str, ContextValue]) -> dict[str, str]:
    """aws:ResourceTag/K on the KMS request: KMS evaluates the key's tags (kms:ListResourceTags).
    Returns the undecided prefixes when they could not be read."""
    if ctx.key is None:
        return {}
    fetched = ctx.key.tags
    if not fetched.is_ok or fetched.value is None:
        return {RESOURCE_TAG: f"the key's tags could not be read ({fetched.reason()})"}
    for tag_key in sorted(fetched.value):
        kms_keys[f"aws:ResourceTag/{tag_key}"] = fetched.value[tag_key]
    return {}


def _bucket_tags(ctx: RequestContext, s3_keys: dict[str, ContextValue]) -> dict[str, str]:
    """aws:ResourceTag/K on the S3 request: the bucket's tags, which S3 evaluates only once ABAC
    is enabled on the bucket (GetBucketAbac); with ABAC disabled the key is absent. Returns the
    undecided prefix when the status or the tags are not known."""
    bucket = ctx.snapshot.source.bucket
    if bucket.abac is None:
        return {
            RESOURCE_TAG: "whether the bucket has ABAC enabled was not read (no policy "
            "collected with the snapshot tested aws:ResourceTag)"
        }
    if not bucket.abac.is_ok:
        return {
            RESOURCE_TAG: "whether the bucket has ABAC enabled could not be read "
            f"({bucket.abac.reason()})"
        }
    if bucket.abac.value != "Enabled":
        return {}  # S3 does not evaluate aws:ResourceTag for this bucket: the key is absent
    if bucket.tags is None or not bucket.tags.is_ok or bucket.tags.value is None:
        why = bucket.tags.reason() if bucket.tags is not None else "not read"
        return {RESOURCE_TAG: f"the bucket's tags could not be read ({why})"}
    for tag_key in sorted(bucket.tags.value):
        s3_keys[f"aws:ResourceTag/{tag_key}"] = bucket.tags.value[tag_key]
    return {}


def _object_tags(ctx: RequestContext, s3_keys: dict[str, ContextValue]) -> dict[str, str]:
    """s3:ExistingObjectTag/K on the read, for each tag of the object (s3:GetObjectTagging, read
    only when a collected policy tested the key). Returns the undecided prefix when the tags
    are not known."""
    if ctx.object_is_placeholder:
        return {EXISTING_OBJECT_TAG: "no object was named, so its tags are not known"}
    info = ctx.object_info
    if info is None:
        fetched = ctx.snapshot.source.object
        why = fetched.reason() if fetched is not None else "it was not read"
        return {EXISTING_OBJECT_TAG: f"the object could not be read ({why})"}
    if info.tags is None:
        return {
            EXISTING_OBJECT_TAG: "the object's tags were not read (no policy collected with "
            "the snapshot tested s3:ExistingObjectTag)"
        }
    if not info.tags.is_ok or info.tags.value is None:
        return {EXISTING_OBJECT_TAG: f"the object's tags could not be read ({info.tags.reason()})"}
    for tag_key in sorted(info.tags.value):
        s3_keys[f"s3:ExistingObjectTag/{tag_key}"] = info.tags.value[tag_key]
    return {}


def _principal_and_keys(
    snapshot: SnapshotView, principal: PrincipalInfo, assumptions: list[str]
) -> tuple[RequestPrincipal, dict[str, ContextValue]]:
    account = account_of(principal.arn)
    entity = principal.entity.value if principal.entity.is_ok else None
    unique_id = entity.unique_id if entity is not None else None
    name = name_of(principal.arn)

    keys: dict[str, ContextValue] = {
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalIsAWSService": "false",
        "aws:SecureTransport": "true",
    }
    if principal.kind == "role":
        session_arn = principal.session_arn
        if not session_arn:
            session_arn = f"arn:aws:sts::{account}:assumed-role/{name}/{PLACEHOLDER_SESSION_NAME}"
            assumptions.append(
                "principals given with --role-arn were analysed as a session named "
                f"'{PLACEHOLDER_SESSION_NAME}' (no real session of them was observed)"
            )
        session_name = name_of(session_arn)
        keys["aws:PrincipalType"] = "AssumedRole"
        if unique_id:
            keys["aws:userid"] = f"{unique_id}:{session_name}"
        request_arn = session_arn
    else:
        keys["aws:PrincipalType"] = "User"
        keys["aws:username"] = name
        if unique_id:
            keys["aws:userid"] = unique_id
        request_arn = principal.arn

    org = snapshot.target.organization
    if org.is_ok and org.value is not None:
        keys["aws:PrincipalOrgID"] = org.value.id
    elif org.is_unknown:
        assumptions.append(
            f"the caller account's organization is not known ({org.reason()}): "
            "aws:PrincipalOrgID left out of the request, so conditions on it do not match"
        )

    request_principal = RequestPrincipal(
        arn=request_arn, account=account, entity_arn=principal.arn, unique_id=unique_id
    )
    return request_principal, keys


def _s3_endpoints(snapshot: SnapshotView) -> list[VpcEndpoint]:
    fetched = snapshot.target.vpc_endpoints
    if not fetched.is_ok or not fetched.value:
        return []
    endpoints = [e for e in fetched.value if e.service_name.endswith(".s3")]
    return sorted(endpoints, key=lambda e: e.endpoint_id)


def _authorizations(
    ctx: RequestContext,
    principal_keys: dict[str, ContextValue],
    principal_undecided: dict[str, str],
) -> list[Authorization]:
    common: dict[str, ContextValue] = dict(principal_keys)
    common["aws:RequestedRegion"] = ctx.region
    common.update(_time_keys(ctx.snapshot.created_at))
    if ctx.resource_account:
        common["aws:ResourceAccount"] = ctx.resource_account
    if ctx.resource_org_id:
        common["aws:ResourceOrgID"] = ctx.resource_org_id

    s3_keys: dict[str, ContextValue] = dict(common)
    s3_keys["aws:ViaAWSService"] = "false"
    s3_keys["s3:signatureversion"] = "AWS4-HMAC-SHA256"
    s3_keys["s3:authType"] = "REST-HEADER"
    if len(ctx.s3_endpoints) == 1:
        # With one S3 endpoint in the caller account's Region, the caller is taken to reach S3
        # through it.
        endpoint = ctx.s3_endpoints[0]
        s3_keys["aws:SourceVpce"] = endpoint.endpoint_id
        s3_keys["aws:SourceVpc"] = endpoint.vpc_id
        ctx.assumptions.append(
            f"the caller is taken to reach S3 through {endpoint.endpoint_id} in {endpoint.vpc_id}"
        )
    elif len(ctx.s3_endpoints) > 1:
        ids = ", ".join(e.endpoint_id for e in ctx.s3_endpoints)
        ctx.assumptions.append(
            f"the caller account has several S3 endpoints ({ids}); which one the caller uses is "
            "not known, so aws:SourceVpce is left out and every endpoint policy is checked"
        )
    if ctx.operation == "write":
        _add_write_encryption_headers(ctx, s3_keys)

    s3_undecided = dict(principal_undecided)
    s3_undecided.update(_bucket_tags(ctx, s3_keys))
    if ctx.operation == "read":
        # S3 evaluates s3:ExistingObjectTag for GetObject, not for PutObject.
        s3_undecided.update(_object_tags(ctx, s3_keys))

    authorizations = [
        Authorization(
            name="s3",
            service="s3",
            request=Request(
                action=ctx.s3_action,
                resource=ctx.object_arn,
                principal=ctx.request_principal,
                context=s3_keys,
            ),
            undecided=s3_undecided,
        )
    ]
    if not ctx.kms_involved or not ctx.key_arn:
        return authorizations

    # S3 calls KMS as the caller (a forward access session): the principal keys stay, the
    # network keys (aws:SourceVpce, aws:SourceIp) do not — S3 makes the call, not the caller's
    # network. aws:ViaAWSService is true for any such call, but aws:CalledVia* are only set by
    # the few services the IAM condition-key reference lists for them (Athena, CloudFormation,
    # DynamoDB, KMS), not by S3: a condition on aws:CalledVia never sees s3.amazonaws.com.
    kms_keys: dict[str, ContextValue] = dict(common)
    kms_keys["aws:ViaAWSService"] = "true"
    kms_keys["kms:ViaService"] = f"s3.{ctx.region}.amazonaws.com"
    kms_keys["kms:CallerAccount"] = ctx.caller_account
    kms_keys["kms:EncryptionContext:aws:s3:arn"] = ctx.encryption_context_arn
    kms_keys["kms:EncryptionContextKeys"] = ["aws:s3:arn"]
    kms_keys["kms:EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
    if ctx.operation == "write":
        kms_keys["kms:DataKeySpec"] = "AES_256"
    kms_undecided = dict(principal_undecided)
    kms_undecided.update(_key_tags(ctx, kms_keys))

    authorizations.append(
        Authorization(
            name="kms",
            service="kms",
            request=Request(
                action=ctx.kms_action,
                resource=ctx.key_arn,
                principal=ctx.request_principal,
                context=kms_keys,
            ),
            undecided=kms_undecided,
        )
    )
    if ctx.operation == "write":
        multipart_keys = dict(kms_keys)
        multipart_keys.pop("kms:DataKeySpec", None)
        authorizations.append(
            Authorization(
                name="kms_multipart",
                service="kms",
                request=Request(
                    action="kms:Decrypt",
                    resource=ctx.key_arn,
                    principal=ctx.request_principal,
                    context=multipart_keys,
                ),
                required=False,
                undecided=dict(kms_undecided),
            )
        )
    return authorizations


def _time_keys(created_at: str) -> dict[str, ContextValue]:
    """aws:CurrentTime / aws:EpochTime as of the snapshot, so date conditions are evaluated
    for the moment the configuration was read (a replay next month gives the same answer)."""
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return {}
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return {
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(moment.timestamp())),
    }


def _add_write_encryption_headers(ctx: RequestContext, s3_keys: dict[str, ContextValue]) -> None:
    """A writer is taken to send the encryption headers matching the bucket default.

    Bucket policies often deny PutObject without them; a writer that omits them would be
    denied by such a policy, and kmsdoctor says which values it assumed.
    """
    encryption = ctx.bucket_encryption
    if encryption is None:
        return
    s3_keys["s3:x-amz-server-side-encryption"] = encryption.sse_algorithm
    if encryption.sse_algorithm in KMS_ALGORITHMS and ctx.key_arn:
        s3_keys["s3:x-amz-server-side-encryption-aws-kms-key-id"] = ctx.key_arn
    ctx.assumptions.append(
        f"the writer is taken to send x-amz-server-side-encryption: {encryption.sse_algorithm}"
        + (f" with the key {ctx.key_arn}" if ctx.key_arn else "")
    )
