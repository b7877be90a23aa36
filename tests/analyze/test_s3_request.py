"""One model of the request S3 will make: the analysis and the probe ask about the same key, with
the same encryption context, because both read it from `kmsdoctor.s3_request`."""

from __future__ import annotations

from dataclasses import replace

from kmsdoctor.analyze.context import build_request_context
from kmsdoctor.probe.subject import probe_subject
from kmsdoctor.s3_request import s3_request
from kmsdoctor.snapshot import BucketEncryption
from tests.analyze.factories import (
    ABSENT,
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    diagnose,
    make_key,
    make_object,
    make_snapshot,
    only,
    unknown,
)


def _analysis_and_probe(snapshot):
    ctx = build_request_context(snapshot, snapshot.target.principals[0])
    return ctx, probe_subject(snapshot)


def test_object_written_with_a_bucket_key_is_decrypted_under_the_bucket_arn_by_both():
    with_bucket_key = make_snapshot(obj=make_object(bucket_key_enabled=True))
    ctx, subject = _analysis_and_probe(with_bucket_key)
    kms = ctx.authorization("kms")
    assert kms is not None
    assert kms.request.context["kms:EncryptionContext:aws:s3:arn"] == BUCKET_ARN
    assert subject.encryption_context == {"aws:s3:arn": BUCKET_ARN}


def test_object_without_a_bucket_key_is_decrypted_under_its_own_arn_by_both():
    ctx, subject = _analysis_and_probe(make_snapshot())
    assert ctx.encryption_context_arn == OBJECT_ARN
    assert subject.encryption_context == {"aws:s3:arn": OBJECT_ARN}


def test_key_recorded_as_an_arn_but_not_describable_is_still_the_key_both_ask_about():
    # The object names its key by ARN; DescribeKey was refused to the resource profile, so
    # collect could not resolve it. The analysis checks that key's policy; the probe used to
    # skip DescribeKey ("could not be resolved") while the analysis went on with the ARN.
    undescribable = replace(
        make_key(metadata=unknown("kms:DescribeKey")), arn=None, reference=KEY_ARN
    )
    snapshot = make_snapshot(key=undescribable)
    ctx, subject = _analysis_and_probe(snapshot)
    assert ctx.key_arn == KEY_ARN
    assert subject.key_arn == KEY_ARN
    assert subject.key_region == "eu-west-1"


def test_sse_s3_object_involves_no_key_for_either_and_both_say_why():
    snapshot = make_snapshot(obj=make_object(sse_algorithm="AES256", kms_key_id=None), key=ABSENT)
    ctx, subject = _analysis_and_probe(snapshot)
    assert not ctx.kms_involved and subject.key_arn is None
    reason = "the object uses AES256: no KMS key is involved"
    assert subject.why_no_key == reason
    assert only(diagnose(snapshot)).locks["key_policy"].reason == reason


def test_a_write_goes_by_the_bucket_default_not_an_existing_object():
    snapshot = make_snapshot(
        operation="write",
        obj=make_object(sse_algorithm="AES256", kms_key_id=None),
        encryption=BucketEncryption("aws:kms", KEY_ARN, bucket_key_enabled=True),
    )
    request = s3_request(snapshot)
    assert request.kms_involved and request.key_arn == KEY_ARN
    assert request.encryption_context_arn == BUCKET_ARN


def test_no_object_key_checks_a_placeholder_and_the_probe_sends_no_context():
    snapshot = make_snapshot(object_key=None)
    request = s3_request(snapshot)
    assert request.object_arn == f"{BUCKET_ARN}/*"
    assert any("placeholder object ARN" in note for note in request.assumptions)
    assert probe_subject(snapshot).encryption_context is None
