"""A policy whose text reads differently than it looks: the repeated key of the references."""

from __future__ import annotations

from kmsdoctor.collect.fetch import parse_policy_document
from tests.analyze.factories import (
    codes,
    diagnose,
    finding,
    make_key,
    make_snapshot,
    only,
    statuses,
)

# reference/000 (the CodePipeline write-up): one Condition with two "StringEquals" blocks.
KEY_POLICY_WITH_REPEATED_OPERATOR = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "EnableRootOfAccountA", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "AllowOrgMembersToDecrypt", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
     "Condition": {
       "StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"},
       "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
     }}
  ]
}"""


def test_collector_keeps_the_text_of_a_policy_with_a_repeated_key():
    # Parsing would keep only the last "StringEquals"; the engine needs the text to say so.
    assert parse_policy_document(KEY_POLICY_WITH_REPEATED_OPERATOR) == (
        KEY_POLICY_WITH_REPEATED_OPERATOR
    )
    assert parse_policy_document('{"a": 1}') == {"a": 1}


def test_repeated_string_equals_drops_the_org_check_and_is_reported():
    snapshot = make_snapshot(key=make_key(policy=KEY_POLICY_WITH_REPEATED_OPERATOR))
    result = only(diagnose(snapshot))
    # B is in no organization, yet the key opens: the PrincipalOrgID block was never read.
    assert statuses(result)["key_policy"] == "allow"
    assert "KD801" in codes(result)
    kd801 = finding(result, "KD801")
    assert kd801.lock == "key_policy"
    assert "StringEquals" in kd801.detail
    assert "Statement[1].Condition" in kd801.detail


def test_well_formed_key_policy_has_no_repeated_key_finding():
    result = only(diagnose(make_snapshot()))
    assert "KD801" not in codes(result)


def test_unreadable_key_policy_names_the_document_not_an_empty_place():
    # A top-level element with an empty name is refused with no place inside the document.
    result = only(diagnose(make_snapshot(key=make_key(policy='{"": 1, "Statement": []}'))))
    lock = result.locks["key_policy"]
    assert lock.status == "unknown"
    assert "could not be read: the document:" in lock.reason
    assert ": :" not in lock.reason
