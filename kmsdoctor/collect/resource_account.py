"""The resource account (A): the bucket, its objects, and the KMS key that matters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kmsdoctor.arn import account_of, bucket_arn, is_key_arn, object_arn, parse_arn, region_of
from kmsdoctor.aws import CallResult, call, call_pages
from kmsdoctor.collect.fetch import iso, parallel, parse_policy_document, to_fetched
from kmsdoctor.errors import UsageError
from kmsdoctor.snapshot import (
    BucketEncryption,
    BucketInfo,
    CallError,
    Fetched,
    Grant,
    KeyInfo,
    KeyMetadata,
    NamedPolicy,
    ObjectInfo,
    PrefixListing,
    PublicAccessBlock,
)

# S3 answers these when the configuration simply is not there: facts, not failures.
NO_BUCKET_POLICY = {"NoSuchBucketPolicy"}
NO_ENCRYPTION = {"ServerSideEncryptionConfigurationNotFoundError"}
NO_OWNERSHIP_CONTROLS = {"OwnershipControlsNotFoundError"}
NO_PUBLIC_ACCESS_BLOCK = {"NoSuchPublicAccessBlockConfiguration"}
# HeadObject has no body, so a missing object is just "404".
NO_OBJECT = {"404", "NoSuchKey", "NoSuchVersion"}
# DescribeKey in the key's own account: the key does not exist (deleted, or a wrong id).
NO_KEY = {"NotFoundException"}


def _refuse_missing_bucket(results: list[CallResult], bucket: str, profile: str) -> None:
    if any(r.code == "NoSuchBucket" for r in results):
        raise UsageError(f"bucket {bucket} does not exist or is not visible to profile {profile}")


def bucket_region(location: dict[str, Any]) -> str:
    """GetBucketLocation's legacy answers: empty for us-east-1, "EU" for eu-west-1."""
    constraint = location.get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


def collect_bucket(s3: Any, bucket: str, profile: str) -> BucketInfo:
    location, policy, encryption, ownership, pab, acl = parallel(
        lambda: call(s3, "GetBucketLocation", Bucket=bucket),
        lambda: call(s3, "GetBucketPolicy", Bucket=bucket),
        lambda: call(s3, "GetBucketEncryption", Bucket=bucket),
        lambda: call(s3, "GetBucketOwnershipControls", Bucket=bucket),
        lambda: call(s3, "GetPublicAccessBlock", Bucket=bucket),
        lambda: call(s3, "GetBucketAcl", Bucket=bucket),
    )
    _refuse_missing_bucket([location, policy, encryption, ownership, pab, acl], bucket, profile)
    return BucketInfo(
        name=bucket,
        arn=bucket_arn(bucket),
        region=to_fetched(location, bucket_region),
        policy=to_fetched(
            policy,
            lambda r: NamedPolicy(
                name="bucket policy", document=parse_policy_document(r["Policy"])
            ),
            NO_BUCKET_POLICY,
        ),
        encryption=to_fetched(encryption, _default_encryption, NO_ENCRYPTION),
        ownership_controls=to_fetched(
            ownership,
            lambda r: r["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
            NO_OWNERSHIP_CONTROLS,
        ),
        public_access_block=to_fetched(pab, _public_access_block, NO_PUBLIC_ACCESS_BLOCK),
        acl_owner_id=to_fetched(acl, lambda r: r["Owner"]["ID"]),
    )


def _default_encryption(response: dict[str, Any]) -> BucketEncryption:
    # A bucket has one default-encryption rule; S3 returns it as a one-element list.
    rule = response["ServerSideEncryptionConfiguration"]["Rules"][0]
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    return BucketEncryption(
        sse_algorithm=default.get("SSEAlgorithm", ""),
        kms_master_key_id=default.get("KMSMasterKeyID"),
        bucket_key_enabled=bool(rule.get("BucketKeyEnabled", False)),
    )


def _public_access_block(response: dict[str, Any]) -> PublicAccessBlock:
    config = response["PublicAccessBlockConfiguration"]
    return PublicAccessBlock(
        block_public_acls=bool(config.get("BlockPublicAcls", False)),
        ignore_public_acls=bool(config.get("IgnorePublicAcls", False)),
        block_public_policy=bool(config.get("BlockPublicPolicy", False)),
        restrict_public_buckets=bool(config.get("RestrictPublicBuckets", False)),
    )


def collect_object(
    s3: Any, bucket: str, key: str, profile: str, owner_id: Fetched[str] | None = None
) -> Fetched[ObjectInfo]:
    """HeadObject (the key, Bucket Key and size), and GetObjectAcl for the object's owner unless
    `owner_id` is already known (a listing with FetchOwner gives it for every object)."""
    if owner_id is None:
        head, acl = parallel(
            lambda: call(s3, "HeadObject", Bucket=bucket, Key=key),
            lambda: call(s3, "GetObjectAcl", Bucket=bucket, Key=key),
        )
        _refuse_missing_bucket([head, acl], bucket, profile)
        acl_owner = to_fetched(acl, lambda r: r["Owner"]["ID"], NO_OBJECT)
    else:
        head = call(s3, "HeadObject", Bucket=bucket, Key=key)
        _refuse_missing_bucket([head], bucket, profile)
        acl_owner = owner_id

    def object_info(response: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            arn=object_arn(bucket, key),
            version_id=response.get("VersionId"),
            sse_algorithm=response.get("ServerSideEncryption"),
            kms_key_id=response.get("SSEKMSKeyId"),
            bucket_key_enabled=bool(response.get("BucketKeyEnabled", False)),
            content_length=response.get("ContentLength"),
            last_modified=iso(response.get("LastModified")),
            acl_owner_id=acl_owner,
            tag_count=response.get("TagCount"),
        )

    return to_fetched(head, object_info, NO_OBJECT)


# --- the key -----------------------------------------------------------------------------------


def key_region(reference: str, default_region: str) -> str:
    """KMS resolves key ids and alias names in the caller's Region; ARNs name their own."""
    return region_of(reference) or default_region


KeySource = Literal["object", "request", "bucket_default"]


def describe_key(kms_for_region: Callable[[str], Any], reference: str, region: str) -> CallResult:
    return call(kms_for_region(key_region(reference, region)), "DescribeKey", KeyId=reference)


@dataclass(frozen=True)
class KeyReads:
    """AWS's five answers about one KMS key, before they become a `KeyInfo`."""

    described: CallResult  # DescribeKey
    policy: CallResult | None  # GetKeyPolicy; None when DescribeKey had to resolve and failed
    grants: CallResult | None  # ListGrants
    aliases: CallResult | None  # ListAliases
    tags: CallResult | None  # ListResourceTags


def read_key(kms: Any, reference: str, described: CallResult | None = None) -> KeyReads:
    """DescribeKey and the key's policy, grants, aliases and tags.

    A key ARN (what HeadObject records, and most bucket defaults) already names the key, so all
    five calls go out at once: the key costs one round trip, not two. Any other reference (key
    id, alias) must be resolved by DescribeKey first. `described` is a DescribeKey answer
    already in hand."""
    if described is None and is_key_arn(reference):
        described, policy, grants, aliases, tags = parallel(
            lambda: call(kms, "DescribeKey", KeyId=reference),
            *_key_reads(kms, reference),
        )
        return KeyReads(described, policy, grants, aliases, tags)
    if described is None:
        described = call(kms, "DescribeKey", KeyId=reference)
    if not described.ok:
        return KeyReads(described, None, None, None, None)
    assert described.response is not None
    policy, grants, aliases, tags = parallel(
        *_key_reads(kms, described.response["KeyMetadata"]["Arn"])
    )
    return KeyReads(described, policy, grants, aliases, tags)


def _key_reads(kms: Any, arn: str) -> list[Callable[[], CallResult]]:
    return [
        lambda: call(kms, "GetKeyPolicy", KeyId=arn, PolicyName="default"),
        lambda: call_pages(kms, "ListGrants", "Grants", KeyId=arn),
        lambda: call_pages(kms, "ListAliases", "Aliases", KeyId=arn),
        lambda: call_pages(kms, "ListResourceTags", "Tags", KeyId=arn),
    ]


def collect_key(
    kms_for_region: Callable[[str], Any],
    reference: str,
    found_on: KeySource,
    default_region: str,
    described: CallResult | None = None,
) -> KeyInfo:
    """DescribeKey resolves any reference (key id, key ARN, alias name, alias ARN) to the key
    ARN; policy, grants, aliases and tags are read for that ARN (see `read_key`). `described`
    is a DescribeKey answer already in hand."""
    kms = kms_for_region(key_region(reference, default_region))
    return key_info(reference, found_on, read_key(kms, reference, described))


def key_info(reference: str, found_on: KeySource, reads: KeyReads) -> KeyInfo:
    """The key as the snapshot records it. Without DescribeKey's answer nothing else about the
    key counts, even what was read beside it: the same reason applies to every fact."""
    metadata = to_fetched(reads.described, _key_metadata, NO_KEY)
    if not metadata.is_ok:
        arn = reference if is_key_arn(reference) else None
        return KeyInfo(
            reference=reference,
            found_on=found_on,
            arn=arn,
            metadata=metadata,
            policy=_same_gap(metadata),
            grants=_same_gap(metadata),
            aliases=_same_gap(metadata),
            tags=_same_gap(metadata),
        )
    assert metadata.value is not None
    assert reads.policy and reads.grants and reads.aliases and reads.tags
    return KeyInfo(
        reference=reference,
        found_on=found_on,
        arn=metadata.value.arn,
        metadata=metadata,
        policy=to_fetched(
            reads.policy,
            lambda r: NamedPolicy(name="default", document=parse_policy_document(r["Policy"])),
        ),
        grants=to_fetched(reads.grants, lambda r: [_grant(g) for g in r["Grants"]]),
        aliases=to_fetched(reads.aliases, lambda r: [a["AliasName"] for a in r["Aliases"]]),
        tags=to_fetched(reads.tags, lambda r: {t["TagKey"]: t["TagValue"] for t in r["Tags"]}),
    )


def _same_gap(metadata: Fetched[KeyMetadata]) -> Fetched[Any]:
    """Without a key ARN nothing else about the key can be read: the same reason applies."""
    if metadata.status == "absent":
        return Fetched.absent(metadata.error)
    assert metadata.error is not None
    return Fetched.unknown(metadata.error)


def _key_metadata(response: dict[str, Any]) -> KeyMetadata:
    meta = response["KeyMetadata"]
    arn = meta["Arn"]
    parsed = parse_arn(arn)
    return KeyMetadata(
        key_id=meta["KeyId"],
        arn=arn,
        account_id=meta.get("AWSAccountId") or (parsed.account if parsed else ""),
        region=parsed.region if parsed else "",
        key_state=meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"),
        enabled=bool(meta.get("Enabled", False)),
        key_manager=meta.get("KeyManager", "CUSTOMER"),
        key_spec=meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
        key_usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
        origin=meta.get("Origin", "AWS_KMS"),
        multi_region=bool(meta.get("MultiRegion", False)),
        deletion_date=iso(meta.get("DeletionDate")),
        description=meta.get("Description", ""),
    )


def _grant(grant: dict[str, Any]) -> Grant:
    return Grant(
        grant_id=grant["GrantId"],
        grantee_principal=grant.get("GranteePrincipal", ""),
        operations=list(grant.get("Operations", [])),
        name=grant.get("Name") or None,
        retiring_principal=grant.get("RetiringPrincipal"),
        issuing_account=grant.get("IssuingAccount"),
        constraints=grant.get("Constraints"),
        creation_date=iso(grant.get("CreationDate")),
    )


def key_visibility(key: KeyInfo, reading_account: str) -> KeyInfo:
    """DescribeKey's NotFoundException proves a key does not exist only in the key's own
    account; for a key ARN in another account it just means the reader cannot see it."""
    if key.metadata.status != "absent" or key.arn is None:
        return key
    if account_of(key.arn) == reading_account:
        return key
    assert key.metadata.error is not None
    gap: Fetched[Any] = Fetched.unknown(key.metadata.error)
    key.metadata, key.policy, key.grants, key.aliases = gap, gap, gap, gap
    return key


# --- a prefix ------------------------------------------------------------------------------------


def list_prefix(
    s3: Any, bucket: str, prefix: str, max_objects: int, profile: str
) -> tuple[PrefixListing, dict[str, Fetched[str]]]:
    """ListObjectsV2 page by page until `max_objects` keys, recording whether S3 had more; with
    each object's owner (FetchOwner), so no GetObjectAcl per object is needed."""
    keys: list[str] = []
    owners: dict[str, Fetched[str]] = {}
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "FetchOwner": True}
    truncated = False
    while True:
        params["MaxKeys"] = min(1000, max_objects - len(keys))
        page = call(s3, "ListObjectsV2", **params)
        _refuse_missing_bucket([page], bucket, profile)
        if not page.ok:
            assert page.error is not None
            return PrefixListing(bucket, prefix, Fetched.unknown(page.error)), {}
        assert page.response is not None
        for item in page.response.get("Contents", []):
            keys.append(item["Key"])
            owner = item.get("Owner", {}).get("ID")
            owners[item["Key"]] = Fetched.ok(owner) if owner else Fetched.absent()
        more = bool(page.response.get("IsTruncated"))
        token = page.response.get("NextContinuationToken")
        if not more or not token:
            break
        if len(keys) >= max_objects:
            truncated = True
            break
        params["ContinuationToken"] = token
    return PrefixListing(bucket, prefix, Fetched.ok(keys), truncated), owners


def unreadable_bucket(bucket: str, why: CallError) -> BucketInfo:
    """A bucket no profile can read: every fact unknown, with the same reason."""
    gap: Fetched[Any] = Fetched.unknown(why)
    return BucketInfo(
        name=bucket,
        arn=bucket_arn(bucket),
        region=gap,
        policy=gap,
        encryption=gap,
        ownership_controls=gap,
        public_access_block=gap,
        acl_owner_id=gap,
    )
