"""Configuration no policy shows: the key's manager, state and Region; the object itself."""

from __future__ import annotations

from kmsdoctor.snapshot import BucketEncryption, CallError, Fetched
from tests.analyze.factories import (
    ABSENT,
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    OTHER_KEY_ARN,
    codes,
    diagnose,
    finding,
    key_policy,
    make_key,
    make_object,
    make_snapshot,
    only,
    statuses,
    unknown,
)


def test_aws_managed_key_can_never_be_shared_across_accounts():
    key = make_key(key_manager="AWS", aliases=("alias/aws/s3",))
    result = only(diagnose(make_snapshot(key=key)))
    assert result.verdict == "deny"
    assert statuses(result)["key_state"] == "implicit_deny"
    kd501 = finding(result, "KD501")
    assert "aws/s3" in kd501.detail
    assert "copy-object" in kd501.fix.change


def test_aws_s3_alias_marks_the_key_aws_managed_even_when_key_manager_says_customer():
    # moto creates alias/aws/s3 with KeyManager CUSTOMER; the alias still tells the truth.
    key = make_key(aliases=("alias/aws/s3",))
    result = only(diagnose(make_snapshot(key=key)))
    assert "KD501" in codes(result)


def test_key_disabled_shuts_key_state():
    result = only(diagnose(make_snapshot(key=make_key(state="Disabled"))))
    assert statuses(result)["key_state"] == "implicit_deny"
    assert "KD502" in codes(result)
    assert "DisabledException" in result.locks["key_state"].evidence.cloudtrail


def test_key_pending_deletion_shuts_key_state_with_the_date():
    key = make_key(state="PendingDeletion", deletion_date="2026-12-01T00:00:00Z")
    result = only(diagnose(make_snapshot(key=key)))
    assert statuses(result)["key_state"] == "implicit_deny"
    kd503 = finding(result, "KD503")
    assert "2026-12-01" in kd503.detail
    assert "cancel-key-deletion" in kd503.fix.change


def test_key_pending_import_is_an_unusable_state():
    result = only(diagnose(make_snapshot(key=make_key(state="PendingImport"))))
    assert statuses(result)["key_state"] == "implicit_deny"
    assert "KD507" in codes(result)


def test_key_in_another_region_than_the_bucket_shuts_key_state():
    other = "arn:aws:kms:us-east-1:111111111111:key/abcd1234-12ab-34cd-56ef-1234567890ab"
    key = make_key(arn=other, region="us-east-1")
    result = only(diagnose(make_snapshot(key=key, obj=make_object(kms_key_id=other))))
    assert statuses(result)["key_state"] == "implicit_deny"
    kd504 = finding(result, "KD504")
    assert "us-east-1" in kd504.detail
    assert "eu-west-1" in kd504.detail


def test_key_not_found_shuts_key_state():
    metadata = Fetched.absent(CallError("kms:DescribeKey", "NotFoundException"))
    key = make_key(metadata=metadata, policy=unknown("kms:GetKeyPolicy", "NotFoundException"))
    result = only(diagnose(make_snapshot(key=key)))
    assert result.verdict == "deny"
    assert statuses(result)["key_state"] == "implicit_deny"
    assert "KD505" in codes(result)


def test_object_missing_shuts_object_lock():
    result = only(diagnose(make_snapshot(obj=ABSENT)))
    assert statuses(result)["object"] == "implicit_deny"
    kd601 = finding(result, "KD601")
    assert OBJECT_ARN in kd601.detail
    assert "AccessDenied instead of NoSuchKey" in result.locks["object"].reason


def test_sse_s3_object_needs_no_key_and_is_allowed():
    snapshot = make_snapshot(key=ABSENT, obj=make_object(sse_algorithm="AES256"))
    result = only(diagnose(snapshot))
    assert result.verdict == "allow"
    assert statuses(result)["key_policy"] == "not_applicable"
    assert statuses(result)["key_state"] == "not_applicable"
    assert "KD602" in codes(result)
    # No KMS request at all: the identity lock checked only s3:GetObject.
    actions = [r.action for r in result.locks["identity"].evidence.requests]
    assert actions == ["s3:GetObject"]


def test_object_owned_by_another_account_is_not_covered_by_the_bucket_policy():
    obj = make_object(owner_id="c" * 64)
    result = only(diagnose(make_snapshot(obj=obj, ownership="ObjectWriter")))
    assert statuses(result)["object"] == "implicit_deny"
    kd603 = finding(result, "KD603")
    assert kd603.fix.statement == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_object_owned_by_another_account_is_fine_once_bucket_owner_enforced():
    obj = make_object(owner_id="c" * 64)
    result = only(diagnose(make_snapshot(obj=obj, ownership="BucketOwnerEnforced")))
    assert statuses(result)["object"] == "allow"


def test_object_under_another_key_than_the_bucket_default_is_checked_against_its_own_key():
    """The bucket default moved to a new key the role may use; the object is under the old key."""
    old_key = make_key(arn=OTHER_KEY_ARN, policy=key_policy(), aliases=())
    snapshot = make_snapshot(
        key=old_key,
        obj=make_object(kms_key_id=OTHER_KEY_ARN),
        encryption=BucketEncryption("aws:kms", KEY_ARN, False),
    )
    result = only(diagnose(snapshot))
    assert result.verdict == "deny"
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert {"KD301", "KD604"} <= set(codes(result))
    assert OTHER_KEY_ARN in result.locks["key_policy"].reason
    assert OTHER_KEY_ARN in finding(result, "KD604").detail


def test_object_under_the_default_key_named_by_alias_is_the_same_key():
    snapshot = make_snapshot(encryption=BucketEncryption("aws:kms", "alias/datalake", False))
    result = only(diagnose(snapshot))
    assert "KD604" not in codes(result)


def test_no_object_key_analyses_bucket_default_with_placeholder_and_says_so():
    key = make_key(found_on="bucket_default")
    diagnosis = diagnose(make_snapshot(key=key, object_key=None))
    result = only(diagnosis)
    assert result.verdict == "allow"
    assert statuses(result)["object"] == "not_applicable"
    assert any(f"{BUCKET_ARN}/*" in note for note in diagnosis.notes)
    s3_request = result.locks["bucket_policy"].evidence.requests[0]
    assert s3_request.resource == f"{BUCKET_ARN}/*"


def test_aws_managed_key_findings_point_at_replacing_the_key_not_editing_its_policy():
    key = make_key(policy=key_policy(), key_manager="AWS", aliases=("alias/aws/s3",))
    snapshot = make_snapshot(
        key=key,
        obj=make_object(kms_key_id="alias/aws/s3"),
        encryption=BucketEncryption("aws:kms", None, False),
    )
    result = only(diagnose(snapshot))
    found = codes(result)
    assert "KD501" in found
    assert "KD301" not in found  # no statement can be added to an AWS managed key's policy
    assert "KD604" not in found  # aws:kms without a key id is the aws/s3 key
