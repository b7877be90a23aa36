"""Snapshot factories for the analysis tests: a healthy cross-account read, changed one fact at
a time. Every default mirrors the BI-team incident in the references (A owns the bucket and the
key, BIAnalyticsRole in B reads one object)."""

from __future__ import annotations

import copy
from typing import Any

from kmsdoctor.analyze import Diagnosis, analyze_snapshot
from kmsdoctor.analyze.model import PrincipalDiagnosis
from kmsdoctor.snapshot import (
    BucketEncryption,
    BucketInfo,
    CallerIdentity,
    CallError,
    EntityInfo,
    Fetched,
    Grant,
    KeyInfo,
    KeyMetadata,
    NamedPolicy,
    ObjectInfo,
    Organization,
    PolicyLevel,
    PrincipalInfo,
    RequestSpec,
    Snapshot,
    SnapshotView,
    SourceSide,
    TargetSide,
    VpcEndpoint,
)

A = "111111111111"
B = "222222222222"
REGION = "eu-west-1"
BUCKET = "datalake-curated-a"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
OBJECT_KEY = "sales/2026/q1/regions.parquet"
OBJECT_ARN = f"{BUCKET_ARN}/{OBJECT_KEY}"
KEY_ID = "abcd1234-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{A}:key/{KEY_ID}"
OTHER_KEY_ID = "99998888-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:{REGION}:{A}:key/{OTHER_KEY_ID}"
ROLE = "BIAnalyticsRole"
ROLE_ARN = f"arn:aws:iam::{B}:role/{ROLE}"
ROLE_ID = "AROAEXAMPLECURRENT001"
STALE_ROLE_ID = "AROAEXAMPLESTALE00001"
SESSION_ARN = f"arn:aws:sts::{B}:assumed-role/{ROLE}/oncall"
ORG_ID = "o-exampleorg"
OTHER_ORG_ID = "o-partnerorg"
BUCKET_OWNER_ID = "a" * 64

# A sentinel: "this fact is absent" (AWS said there is none).
ABSENT = object()


def unknown(operation: str, code: str = "AccessDeniedException") -> Fetched[Any]:
    return Fetched.unknown(CallError(operation, code, "not authorized"))


def absent(operation: str = "", code: str = "") -> Fetched[Any]:
    if operation:
        return Fetched.absent(CallError(operation, code))
    return Fetched.absent()


def _fetched(value: Any, name: str = "policy") -> Fetched[Any]:
    """dict → ok NamedPolicy; ABSENT/None → absent; a Fetched passes through."""
    if isinstance(value, Fetched):
        return value
    if value is ABSENT or value is None:
        return Fetched.absent()
    return Fetched.ok(NamedPolicy(name=name, document=value))


# --- policies of the healthy setup -------------------------------------------------------------


def bucket_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow_role_read_statement(principal: Any = ROLE_ARN, sid: str = "AllowBIReadCrossAccount"):
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    }


def healthy_bucket_policy() -> dict[str, Any]:
    return bucket_policy(allow_role_read_statement())


ROOT_OF_A_STATEMENT = {
    "Sid": "EnableRootOfAccountA",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def key_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [ROOT_OF_A_STATEMENT, *statements]}


def allow_role_decrypt_statement(
    principal: Any = ROLE_ARN,
    sid: str = "AllowBIRoleDecrypt",
    condition: dict[str, Any] | None = None,
    actions: Any = ("kms:Decrypt", "kms:DescribeKey"),
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": list(actions) if not isinstance(actions, str) else actions,
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


def healthy_key_policy() -> dict[str, Any]:
    return key_policy(allow_role_decrypt_statement())


def identity_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


READ_LAKE_STATEMENT = {
    "Sid": "ReadCuratedLake",
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
}


def decrypt_statement(resource: Any = KEY_ARN, sid: str = "DecryptWithPlatformKey"):
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": resource,
    }


def healthy_identity_policy() -> dict[str, Any]:
    return identity_policy(READ_LAKE_STATEMENT, decrypt_statement())


def allow_all_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }


# --- pieces ------------------------------------------------------------------------------------


def make_principal(
    arn: str = ROLE_ARN,
    *,
    inline: Any = None,
    attached: Any = (),
    boundary: Any = ABSENT,
    session_policy: Any = ABSENT,
    entity: Fetched[EntityInfo] | None = None,
    unique_id: str = ROLE_ID,
    session_arn: str | None = SESSION_ARN,
    source: str = "caller",
    tags: dict[str, str] | None = None,
) -> PrincipalInfo:
    """A role in B; `inline` defaults to the healthy identity policy."""
    name = arn.rsplit("/", 1)[-1]
    if inline is None:
        inline = {"ReadCuratedLake": healthy_identity_policy()}
    inline_fetched = (
        inline
        if isinstance(inline, Fetched)
        else Fetched.ok([NamedPolicy(name=k, document=v) for k, v in inline.items()])
    )
    if isinstance(attached, Fetched):
        attached_fetched = attached
    else:
        attached_fetched = Fetched.ok(
            [
                NamedPolicy(name=n, document=d, arn=f"arn:aws:iam::{B}:policy/{n}", version_id="v1")
                for n, d in dict(attached).items()
            ]
        )
    if entity is None:
        entity = Fetched.ok(
            EntityInfo(name=name, arn=arn, unique_id=unique_id, tags=dict(tags or {}))
        )
    return PrincipalInfo(
        arn=arn,
        kind="role",
        source=source,  # type: ignore[arg-type]
        session_arn=session_arn,
        entity=entity,
        inline_policies=inline_fetched,
        attached_policies=attached_fetched,
        group_policies=Fetched.absent(),
        permissions_boundary=_fetched(boundary, f"{name}-boundary"),
        session_policy=_fetched(session_policy, "session"),
    )


def make_key(
    *,
    arn: str = KEY_ARN,
    policy: Any = None,
    state: str = "Enabled",
    key_manager: str = "CUSTOMER",
    region: str = REGION,
    grants: Any = (),
    aliases: Any = ("alias/datalake",),
    found_on: str = "object",
    reference: str | None = None,
    metadata: Fetched[KeyMetadata] | None = None,
    deletion_date: str | None = None,
    tags: Any = None,
) -> KeyInfo:
    if policy is None:
        policy = healthy_key_policy()
    if metadata is None:
        key_id = arn.rsplit("/", 1)[-1]
        metadata = Fetched.ok(
            KeyMetadata(
                key_id=key_id,
                arn=arn,
                account_id=arn.split(":")[4],
                region=region,
                key_state=state,
                enabled=state == "Enabled",
                key_manager=key_manager,
                deletion_date=deletion_date,
            )
        )
    grants_fetched = grants if isinstance(grants, Fetched) else Fetched.ok(list(grants))
    aliases_fetched = aliases if isinstance(aliases, Fetched) else Fetched.ok(list(aliases))
    return KeyInfo(
        reference=reference or arn,
        found_on=found_on,  # type: ignore[arg-type]
        arn=arn,
        metadata=metadata,
        policy=_fetched(policy, "default"),
        grants=grants_fetched,
        aliases=aliases_fetched,
        tags=tags if isinstance(tags, Fetched) else Fetched.ok(dict(tags or {})),
    )


def make_object(
    *,
    key: str = OBJECT_KEY,
    sse_algorithm: str | None = "aws:kms",
    kms_key_id: str | None = KEY_ARN,
    bucket_key_enabled: bool = False,
    owner_id: str = BUCKET_OWNER_ID,
) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        arn=f"{BUCKET_ARN}/{key}",
        sse_algorithm=sse_algorithm,
        kms_key_id=kms_key_id if sse_algorithm in ("aws:kms", "aws:kms:dsse") else None,
        bucket_key_enabled=bucket_key_enabled,
        content_length=23,
        acl_owner_id=Fetched.ok(owner_id),
    )


def grant(
    grantee: str = ROLE_ARN,
    operations: tuple[str, ...] = ("Decrypt",),
    constraints: dict[str, Any] | None = None,
    grant_id: str = "g-0001",
) -> Grant:
    return Grant(
        grant_id=grant_id,
        grantee_principal=grantee,
        operations=list(operations),
        name="bi-read",
        issuing_account=f"arn:aws:iam::{A}:root",
        constraints=constraints,
    )


def level(target_type: str, name: str, *documents: dict[str, Any]) -> PolicyLevel:
    return PolicyLevel(
        target_id=f"{target_type.lower()}-{name}",
        target_type=target_type,  # type: ignore[arg-type]
        name=name,
        policies=[NamedPolicy(name=f"{name}-{i}", document=d) for i, d in enumerate(documents)],
    )


FULL_ACCESS_SCP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def endpoint(policy: dict[str, Any] | None, endpoint_id: str = "vpce-0b1a2c3d") -> VpcEndpoint:
    return VpcEndpoint(
        endpoint_id=endpoint_id,
        service_name=f"com.amazonaws.{REGION}.s3",
        vpc_id="vpc-0bteam",
        endpoint_type="Gateway",
        policy=NamedPolicy(name=endpoint_id, document=policy) if policy is not None else None,
    )


# --- the snapshot ------------------------------------------------------------------------------


def make_snapshot(
    *,
    bucket_policy_doc: Any = None,
    key: KeyInfo | object | None = None,
    principals: list[PrincipalInfo] | None = None,
    obj: Any = None,
    object_key: str | None = OBJECT_KEY,
    encryption: Any = None,
    bucket_region: str = REGION,
    ownership: str = "BucketOwnerEnforced",
    target_org: Any = ABSENT,
    source_org: Any = ABSENT,
    scps: Any = ABSENT,
    rcps: Any = ABSENT,
    vpc_endpoints: Any = (),
    operation: str = "read",
    source_profile: str | None = "a",
    target_profile: str | None = "b",
) -> SnapshotView:
    """A healthy cross-account read unless told otherwise.

    `key=ABSENT` means no KMS key is involved; `obj=ABSENT` means the object does not exist.
    """
    if bucket_policy_doc is None:
        bucket_policy_doc = healthy_bucket_policy()
    if key is None:
        key = make_key()
    elif key is ABSENT:
        key = None
    if obj is None and object_key is not None:
        obj = Fetched.ok(make_object(key=object_key))
    elif obj is ABSENT:
        obj = Fetched.absent(CallError("s3:HeadObject", "404", "Not Found"))
    elif isinstance(obj, ObjectInfo):
        obj = Fetched.ok(obj)
    if object_key is None:
        obj = None
    if encryption is None:
        encryption = Fetched.ok(BucketEncryption("aws:kms", KEY_ARN, False))
    elif isinstance(encryption, BucketEncryption):
        encryption = Fetched.ok(encryption)
    if principals is None:
        principals = [make_principal()]

    def org(value: Any) -> Fetched[Organization]:
        if isinstance(value, Fetched):
            return value
        if value is ABSENT:
            return Fetched.absent(
                CallError("organizations:DescribeOrganization", "AWSOrganizationsNotInUseException")
            )
        return Fetched.ok(value)

    def levels(value: Any) -> Fetched[list[PolicyLevel]]:
        if isinstance(value, Fetched):
            return value
        if value is ABSENT:
            return Fetched.absent()
        return Fetched.ok(list(value))

    endpoints = (
        vpc_endpoints if isinstance(vpc_endpoints, Fetched) else Fetched.ok(list(vpc_endpoints))
    )
    return SnapshotView(
        request=RequestSpec(
            bucket=BUCKET,
            key=object_key,
            operation=operation,  # type: ignore[arg-type]
            region=REGION,
            role_arns=[p.arn for p in principals if p.source == "role_arn"],
        ),
        source=SourceSide(
            profile=source_profile,
            account_id=Fetched.ok(A),
            organization=org(source_org),
            rcps=levels(rcps),
            bucket=BucketInfo(
                name=BUCKET,
                arn=BUCKET_ARN,
                region=Fetched.ok(bucket_region),
                policy=_fetched(bucket_policy_doc, "bucket-policy"),
                encryption=encryption,
                ownership_controls=Fetched.ok(ownership),
                public_access_block=Fetched.absent(),
                acl_owner_id=Fetched.ok(BUCKET_OWNER_ID),
            ),
            object=obj,
            key=key,  # type: ignore[arg-type]
        ),
        target=TargetSide(
            profile=target_profile,
            account_id=Fetched.ok(B),
            caller=Fetched.ok(
                CallerIdentity(arn=SESSION_ARN, account=B, user_id=f"{ROLE_ID}:oncall")
            ),
            organization=org(target_org),
            scps=levels(scps),
            vpc_endpoints=endpoints,
            principals=principals,
        ),
        tool_version="test",
        created_at="2026-11-23T09:00:00Z",
    )


def diagnose(snapshot: SnapshotView) -> Diagnosis:
    """Analyse, after a JSON round trip: what the CLI's `analyze` command would read (the
    single-question document converted to schema v2 on read)."""
    replayed = Snapshot.from_json(snapshot.to_json())
    return analyze_snapshot(replayed)


def only(diagnosis: Diagnosis) -> PrincipalDiagnosis:
    assert len(diagnosis.principals) == 1
    return diagnosis.principals[0]


def statuses(principal: PrincipalDiagnosis) -> dict[str, str]:
    return {name: result.status for name, result in principal.locks.items()}


def codes(principal: PrincipalDiagnosis) -> list[str]:
    return [finding.code for finding in principal.findings]


def finding(principal: PrincipalDiagnosis, code: str):
    for found in principal.findings:
        if found.code == code:
            return found
    raise AssertionError(f"no {code} among {codes(principal)}")


def deep(value: Any) -> Any:
    return copy.deepcopy(value)
