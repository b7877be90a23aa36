"""s3:ExistingObjectTag: a bucket policy that lets account B read only objects tagged
classification=public. The object's tags (s3:GetObjectTagging) decide; tags that could not be
read, or were never read, leave the condition undecided (`unknown`), never evaluated as if the
object were untagged. S3 does not evaluate the key for PutObject, so a write is unaffected."""

from __future__ import annotations

import dataclasses

from kmsdoctor.snapshot import Fetched
from tests.analyze.factories import (
    ROLE_ARN,
    bucket_policy,
    diagnose,
    make_object,
    make_snapshot,
    only,
    statuses,
    unknown,
)

PUBLIC_ONLY = bucket_policy(
    {
        "Sid": "AllowBIReadPublicObjects",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE_ARN},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::datalake-curated-a/*",
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}},
    }
)


def _object(tags):
    return dataclasses.replace(make_object(), tags=tags)


def _read(tags, operation="read"):
    return only(
        diagnose(
            make_snapshot(bucket_policy_doc=PUBLIC_ONLY, obj=_object(tags), operation=operation)
        )
    )


def test_object_tagged_public_is_readable_through_the_public_only_bucket_policy():
    result = _read(Fetched.ok({"classification": "public"}))
    assert result.verdict == "allow"
    assert statuses(result)["bucket_policy"] == "allow"


def test_object_tagged_secret_is_refused_by_the_bucket_policy_naming_the_tag_condition():
    result = _read(Fetched.ok({"classification": "secret"}))
    assert result.verdict == "deny"
    lock = result.locks["bucket_policy"]
    assert lock.status == "implicit_deny"
    assert "s3:ExistingObjectTag/classification" in lock.reason


def test_object_whose_tags_could_not_be_read_leaves_the_bucket_policy_unknown():
    result = _read(unknown("s3:GetObjectTagging", "AccessDenied"))
    assert result.verdict == "unknown"
    lock = result.locks["bucket_policy"]
    assert lock.status == "unknown"
    assert "s3:ExistingObjectTag/classification" in lock.reason
    assert "s3:GetObjectTagging failed with AccessDenied" in lock.reason


def test_object_tags_never_read_leave_the_condition_unknown_not_untagged():
    # A snapshot collected when no policy tested object tags, analysed with one that does
    # (a what-if bucket policy, or an older snapshot).
    result = _read(None)
    assert result.verdict == "unknown"
    assert "tags were not read" in result.locks["bucket_policy"].reason


def test_unread_object_tags_do_not_matter_to_policies_that_do_not_test_them():
    result = only(diagnose(make_snapshot(obj=_object(None))))
    assert result.verdict == "allow"


def test_a_write_is_not_held_up_by_object_tags_s3_does_not_evaluate_them_for_putobject():
    write_policy = bucket_policy(
        {
            "Sid": "AllowBIWrite",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE_ARN},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::datalake-curated-a/*",
        },
        {
            "Sid": "DenyOverwritingSecret",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::datalake-curated-a/*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "secret"}},
        },
    )
    snapshot = make_snapshot(
        bucket_policy_doc=write_policy,
        obj=_object(Fetched.ok({"classification": "secret"})),
        operation="write",
    )
    assert statuses(only(diagnose(snapshot)))["bucket_policy"] == "allow"
