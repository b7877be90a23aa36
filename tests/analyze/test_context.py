"""The request context: what AWS puts in the two requests of a cross-account SSE-KMS read."""

from __future__ import annotations

from kmsdoctor.analyze.context import build_request_context
from kmsdoctor.snapshot import BucketEncryption, Organization
from tests.analyze.factories import (
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    ORG_ID,
    OTHER_KEY_ARN,
    ROLE_ARN,
    ROLE_ID,
    SESSION_ARN,
    A,
    B,
    allow_role_decrypt_statement,
    diagnose,
    endpoint,
    key_policy,
    make_key,
    make_object,
    make_snapshot,
    only,
    statuses,
)


def _context(snapshot):
    return build_request_context(snapshot, snapshot.target.principals[0])


def test_kms_request_carries_via_service_caller_account_and_object_context():
    ctx = _context(make_snapshot(target_org=Organization(ORG_ID)))
    kms = ctx.authorization("kms").request
    assert kms.action == "kms:Decrypt"
    assert kms.resource == KEY_ARN
    assert kms.principal.arn == SESSION_ARN
    assert kms.principal.entity_arn == ROLE_ARN
    assert kms.principal.unique_id == ROLE_ID
    assert kms.context["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert kms.context["kms:CallerAccount"] == B
    assert kms.context["kms:EncryptionContext:aws:s3:arn"] == OBJECT_ARN
    assert kms.context["aws:PrincipalArn"] == ROLE_ARN
    assert kms.context["aws:PrincipalAccount"] == B
    assert kms.context["aws:PrincipalOrgID"] == ORG_ID
    assert kms.context["aws:userid"] == f"{ROLE_ID}:oncall"
    assert kms.context["aws:SecureTransport"] == "true"
    assert kms.context["aws:ResourceAccount"] == A


def test_s3_request_is_get_object_on_the_object_arn():
    ctx = _context(make_snapshot())
    s3 = ctx.authorization("s3").request
    assert s3.action == "s3:GetObject"
    assert s3.resource == OBJECT_ARN
    assert "kms:ViaService" not in s3.context
    assert ctx.cross_account


def test_bucket_key_makes_the_encryption_context_the_bucket_arn():
    ctx = _context(make_snapshot(obj=make_object(bucket_key_enabled=True)))
    kms = ctx.authorization("kms").request
    assert kms.context["kms:EncryptionContext:aws:s3:arn"] == BUCKET_ARN


def test_the_key_recorded_on_the_object_is_used_not_the_bucket_default():
    snapshot = make_snapshot(
        key=make_key(arn=OTHER_KEY_ARN),
        obj=make_object(kms_key_id=OTHER_KEY_ARN),
        encryption=BucketEncryption("aws:kms", KEY_ARN, False),
    )
    assert _context(snapshot).authorization("kms").request.resource == OTHER_KEY_ARN


def test_no_org_means_no_principal_org_id_in_the_request():
    ctx = _context(make_snapshot())
    assert "aws:PrincipalOrgID" not in ctx.authorization("kms").request.context


def test_network_keys_reach_s3_but_never_the_kms_call():
    ctx = _context(make_snapshot(vpc_endpoints=[endpoint(None)]))
    assert ctx.authorization("s3").request.context["aws:SourceVpce"] == "vpce-0b1a2c3d"
    assert "aws:SourceVpce" not in ctx.authorization("kms").request.context


def test_no_object_key_uses_a_placeholder_object_arn_and_the_bucket_default_key():
    snapshot = make_snapshot(key=make_key(found_on="bucket_default"), object_key=None)
    ctx = _context(snapshot)
    assert ctx.object_is_placeholder
    assert ctx.authorization("s3").request.resource == f"{BUCKET_ARN}/*"
    assert ctx.authorization("kms").request.resource == KEY_ARN


def test_write_is_put_object_and_generate_data_key_with_multipart_decrypt():
    snapshot = make_snapshot(operation="write", key=make_key(found_on="bucket_default"))
    ctx = _context(snapshot)
    assert [a.action for a in ctx.authorizations] == [
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    assert [a.required for a in ctx.authorizations] == [True, True, False]
    s3 = ctx.authorization("s3").request
    assert s3.context["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert s3.context["s3:x-amz-server-side-encryption-aws-kms-key-id"] == KEY_ARN


def test_date_conditions_are_evaluated_at_the_time_of_the_snapshot():
    ctx = _context(make_snapshot())
    context = ctx.authorization("kms").request.context
    assert context["aws:CurrentTime"] == "2026-11-23T09:00:00Z"
    assert context["aws:EpochTime"] == "1795424400"


def test_key_policy_statement_that_expired_before_the_snapshot_does_not_allow():
    expired = allow_role_decrypt_statement(
        condition={"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}
    )
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy(expired)))))
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert "KD311" in [f.code for f in result.findings]


def test_s3_call_to_kms_carries_no_called_via_so_such_a_key_policy_stays_shut():
    # aws:CalledVia is set only by the services the IAM reference lists for it; S3 is not one.
    # A key policy that waits for "s3.amazonaws.com" in aws:CalledVia never opens for S3 reads.
    statement = allow_role_decrypt_statement(
        condition={"ForAnyValue:StringEquals": {"aws:CalledVia": "s3.amazonaws.com"}}
    )
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy(statement)))))
    assert statuses(result)["key_policy"] == "implicit_deny"
    via_aws_service = allow_role_decrypt_statement(
        condition={"Bool": {"aws:ViaAWSService": "true"}}
    )
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy(via_aws_service)))))
    assert statuses(result)["key_policy"] == "allow"
