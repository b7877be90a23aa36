"""Tags read only when a policy in play tests them.

Bucket tags (`aws:ResourceTag/K` on the S3 request): S3 evaluates the key against the bucket's
tags only once ABAC is enabled on the bucket (`GetBucketAbac`); the tags are then read with
`GetBucketTagging`. Both only when a policy in play for the bucket tests `aws:ResourceTag`.

Object tags (`s3:ExistingObjectTag/K`) cost one `s3:GetObjectTagging` per object, so a prefix of
1,000 objects would cost 1,000 more calls. They are read only for the objects of a bucket whose
policies in play — the bucket policy, the asking principals' identity policies and boundaries,
the SCPs, RCPs and S3 endpoint policies collected — test `s3:ExistingObjectTag`, and only for
read questions (S3 does not evaluate the key for PutObject). HeadObject's `TagCount` saves the
rest: S3 sends it when the object has tags *and* the reader may read them, so once one
`GetObjectTagging` in the bucket has answered, an object without a count has no tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kmsdoctor.aws import call
from kmsdoctor.collect.fetch import to_fetched
from kmsdoctor.policy.condition_keys import tested_condition_keys
from kmsdoctor.snapshot import Fetched, PolicyLevel, PrincipalInfo

EXISTING_OBJECT_TAG = "s3:existingobjecttag/"
RESOURCE_TAG = "aws:resourcetag/"


def tests_condition_key(documents: Iterable[Any], prefix: str) -> bool:
    """Whether a policy document tests a condition key starting with `prefix`: reading tags
    that turn out not to matter costs calls, missing them would cost the answer."""
    return bool(tested_condition_keys(documents, prefix))


def principal_documents(principal: PrincipalInfo) -> list[Any]:
    """The documents of a principal's identity policies and permissions boundary."""
    documents: list[Any] = []
    for fetched in (
        principal.inline_policies,
        principal.attached_policies,
        principal.group_policies,
    ):
        documents += [policy.document for policy in fetched.value or []]
    boundary = principal.permissions_boundary
    if boundary.is_ok and boundary.value is not None:
        documents.append(boundary.value.document)
    return documents


def level_documents(levels: Fetched[list[PolicyLevel]] | None) -> list[Any]:
    if levels is None:
        return []
    return [policy.document for level in levels.value or [] for policy in level.policies]


def read_object_tags(s3: Any, bucket: str, key: str) -> Fetched[dict[str, str]]:
    """The object's tags (current version), or `unknown` with the error."""
    result = call(s3, "GetObjectTagging", Bucket=bucket, Key=key)
    return to_fetched(result, lambda r: {t["Key"]: t["Value"] for t in r.get("TagSet", [])})


def read_bucket_abac(s3: Any, bucket: str) -> tuple[Fetched[str], Fetched[dict[str, str]] | None]:
    """The bucket's ABAC status and, when it is Enabled, its tags. A status without a value is
    "Disabled": ABAC is off for general purpose buckets until it is enabled."""
    status = call(s3, "GetBucketAbac", Bucket=bucket)
    abac = to_fetched(status, lambda r: (r.get("AbacStatus") or {}).get("Status") or "Disabled")
    if not abac.is_ok or abac.value != "Enabled":
        return abac, None
    tagging = call(s3, "GetBucketTagging", Bucket=bucket)
    if tagging.code == "NoSuchTagSet":
        return abac, Fetched.ok({})  # ABAC on, no tags: aws:ResourceTag/K is absent
    return abac, to_fetched(tagging, lambda r: {t["Key"]: t["Value"] for t in r["TagSet"]})
