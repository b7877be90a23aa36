"""Bucket ABAC: an identity policy that allows s3:GetObject only on buckets tagged
project=datalake (aws:ResourceTag/project), on a bucket tagged project=datalake. S3 evaluates
aws:ResourceTag against the bucket's tags only once ABAC is enabled on the bucket
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/buckets-tagging.html), so kmsdoctor reads
the bucket's ABAC status (GetBucketAbac) and, when it is enabled, its tags (GetBucketTagging) —
only when a policy in play tests aws:ResourceTag. ABAC disabled (the scenario file, run by
test_scenarios.py) is an identity deny; moto cannot enable ABAC, so "enabled" is AWS's answer
injected here."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kmsdoctor.cli import app

ABAC_OFF = "identity-bucket-tag-abac-disabled"
READER_IN_A = "arn:aws:sts::111111111111:assumed-role/x/y"
ENABLED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<AbacStatus><Status>Enabled</Status></AbacStatus>'
)


def _diagnose(box) -> dict:
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    return json.loads(run.stdout)


def test_bucket_tagged_project_with_abac_enabled_opens_the_identity_policy(sandbox, aws_faults):
    box = sandbox(ABAC_OFF)
    aws_faults.respond("s3", "GetBucketAbac", ENABLED)
    report = _diagnose(box)
    assert report["verdict"] == "allow"
    assert report["locks"]["identity"]["status"] == "allow"
    assert aws_faults.calls.count("s3:GetBucketTagging") == 1


def test_bucket_tagged_project_with_abac_disabled_is_an_identity_deny_naming_the_tag(
    sandbox, aws_faults
):
    box = sandbox(ABAC_OFF)
    report = _diagnose(box)
    assert report["verdict"] == "deny"
    identity = report["locks"]["identity"]
    assert identity["status"] == "implicit_deny"
    assert "aws:ResourceTag/project" in identity["reason"]
    assert aws_faults.calls.count("s3:GetBucketAbac") == 1
    assert aws_faults.calls.count("s3:GetBucketTagging") == 0  # S3 would not evaluate them


def test_abac_status_unreadable_leaves_the_identity_lock_unknown(sandbox, aws_faults):
    box = sandbox(ABAC_OFF)
    aws_faults.deny("s3", "GetBucketAbac", READER_IN_A, "arn:aws:s3:::datalake-curated-a")
    report = _diagnose(box)
    assert report["verdict"] == "unknown"
    identity = report["locks"]["identity"]
    assert identity["status"] == "unknown"
    assert "aws:ResourceTag/project" in identity["reason"]
    assert "s3:GetBucketAbac failed with AccessDenied" in identity["reason"]


def test_bucket_tags_unreadable_with_abac_enabled_leave_the_identity_lock_unknown(
    sandbox, aws_faults
):
    box = sandbox(ABAC_OFF)
    aws_faults.respond("s3", "GetBucketAbac", ENABLED)
    aws_faults.deny("s3", "GetBucketTagging", READER_IN_A, "arn:aws:s3:::datalake-curated-a")
    report = _diagnose(box)
    assert report["locks"]["identity"]["status"] == "unknown"
    assert "s3:GetBucketTagging failed with AccessDenied" in report["locks"]["identity"]["reason"]


def test_no_policy_testing_resource_tags_costs_no_abac_call(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    assert _diagnose(box)["verdict"] == "allow"
    assert aws_faults.calls.count("s3:GetBucketAbac") == 0


def test_a_resource_tag_condition_on_the_key_only_does_not_hold_up_the_s3_request(
    sandbox, aws_faults
):
    # The identity policy tests aws:ResourceTag on its KMS statement: the bucket's status is
    # read (the scan is per document), but even unreadable it decides nothing on S3.
    box = sandbox("identity-resource-tag-on-key-matches")
    aws_faults.deny("s3", "GetBucketAbac", READER_IN_A, "arn:aws:s3:::datalake-curated-a")
    assert _diagnose(box)["verdict"] == "allow"
