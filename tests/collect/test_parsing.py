"""Small pure pieces of the collectors: policy text and caller ARNs."""

from __future__ import annotations

import urllib.parse

import pytest

from kmsdoctor.collect.caller_account import caller_principal, role_arn_principal
from kmsdoctor.collect.fetch import parse_policy_document
from kmsdoctor.collect.resource_account import bucket_region, key_region
from kmsdoctor.errors import UsageError
from kmsdoctor.snapshot import CallerIdentity

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}


def test_url_encoded_iam_policy_text_is_stored_as_parsed_json():
    import json

    encoded = urllib.parse.quote(json.dumps(POLICY))
    assert parse_policy_document(encoded) == POLICY
    assert parse_policy_document(json.dumps(POLICY)) == POLICY
    assert parse_policy_document(POLICY) == POLICY


def test_malformed_policy_text_is_kept_raw_for_the_engine_to_report():
    broken = '{"Version": "2012-10-17", "Statement": [ {"Effect": "Allow"'
    assert parse_policy_document(broken) == broken


def test_assumed_role_session_maps_to_its_role_without_path():
    caller = CallerIdentity(
        arn="arn:aws:sts::222222222222:assumed-role/BIAnalyticsRole/alice",
        account="222222222222",
        user_id="AROAEXAMPLE:alice",
    )
    ref = caller_principal(caller)
    assert (ref.kind, ref.name, ref.arn) == (
        "role",
        "BIAnalyticsRole",
        "arn:aws:iam::222222222222:role/BIAnalyticsRole",
    )
    assert ref.session_arn == caller.arn and ref.unsupported is None


def test_iam_user_caller_is_checked_as_a_user_and_root_is_refused_with_a_reason():
    user = CallerIdentity("arn:aws:iam::222222222222:user/ops/carol", "222222222222", "AIDAX")
    assert (caller_principal(user).kind, caller_principal(user).name) == ("user", "carol")
    root = CallerIdentity("arn:aws:iam::222222222222:root", "222222222222", "222222222222")
    assert "root user" in (caller_principal(root).unsupported or "")


def test_role_arn_with_a_path_keeps_the_name_and_a_non_role_arn_is_a_usage_error():
    ref = role_arn_principal("arn:aws:iam::222222222222:role/pipeline/deploy/DeployRole")
    assert ref.name == "DeployRole" and ref.source == "role_arn"
    with pytest.raises(UsageError):
        role_arn_principal("arn:aws:iam::222222222222:user/carol")


def test_legacy_bucket_locations_and_key_regions():
    assert bucket_region({"LocationConstraint": None}) == "us-east-1"
    assert bucket_region({"LocationConstraint": "EU"}) == "eu-west-1"
    assert key_region("arn:aws:kms:us-east-2:111111111111:alias/x", "eu-west-1") == "us-east-2"
    assert key_region("alias/datalake", "eu-west-1") == "eu-west-1"
