"""CloudTrail records pasted whole: the fields are used, and the account whose trail holds a KMS
denial says which side refused.

Record shape from the AWS KMS Developer Guide, "Decrypt" CloudTrail examples
(https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html): eventSource, eventName,
errorCode, errorMessage, userIdentity.arn/accountId, resources[].ARN/accountId, recipientAccountId.
"""

from __future__ import annotations

import json

from kmsdoctor.explain import explain_message

A, B = "111111111111", "222222222222"
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SESSION = f"arn:aws:sts::{B}:assumed-role/Reader/etl-run-42"


def kms_decrypt_event(recipient: str, message: str | None, **identity: str) -> dict:
    record = {
        "eventVersion": "1.08",
        "userIdentity": identity
        or {
            "type": "AssumedRole",
            "arn": SESSION,
            "accountId": B,
            "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        },
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "eu-west-1",
        "errorCode": "AccessDenied",
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "resources": [{"accountId": A, "type": "AWS::KMS::Key", "ARN": KEY}],
        "eventType": "AwsApiCall",
        "recipientAccountId": recipient,
    }
    if message is not None:
        record["errorMessage"] = message
    return record


def test_kms_denial_in_key_owners_trail_names_the_key_policy():
    explanation = explain_message(json.dumps(kms_decrypt_event(A, None)))
    assert (explanation.lock, explanation.deny_type) == ("key_policy", None)
    assert (explanation.principal, explanation.action, explanation.resource) == (
        SESSION,
        "kms:Decrypt",
        KEY,
    )
    assert "Inferred from the account whose CloudTrail recorded the event" in explanation.summary
    assert "recorded in 111111111111's CloudTrail" in explanation.next_steps[0]


def test_kms_denial_in_callers_trail_names_the_identity_policy():
    old_form = f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY}"
    explanation = explain_message(json.dumps(kms_decrypt_event(B, old_form)))
    assert explanation.lock == "identity"


def test_message_wording_wins_over_the_trail_clue():
    # Recorded in A's trail, but the message itself says identity: believe the message.
    message = (
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY} because "
        "no identity-based policy allows the kms:Decrypt action"
    )
    explanation = explain_message(json.dumps(kms_decrypt_event(A, message)))
    assert (explanation.lock, explanation.deny_type) == ("identity", "implicit")
    assert "Inferred" not in explanation.summary


def test_same_account_denial_gives_no_trail_clue():
    # Caller and key in one account: one trail, which tells nothing apart.
    same = kms_decrypt_event(
        A, None, type="AssumedRole", arn=f"arn:aws:sts::{A}:assumed-role/R/s", accountId=A
    )
    assert explain_message(json.dumps(same)).lock == "unknown"


def test_cross_account_identity_without_arn_still_uses_the_account():
    # In the resource owner's trail a cross-account caller can appear as type AWSAccount.
    record = kms_decrypt_event(A, None, type="AWSAccount", principalId="AROAEXAMPLE:s", accountId=B)
    explanation = explain_message(json.dumps(record))
    assert explanation.lock == "key_policy"
    assert explanation.principal is None
    assert f"--target-profile <profile-for-{B}>" in explanation.command


def test_trail_file_explains_the_denied_record_not_the_first_one():
    ok = kms_decrypt_event(A, None)
    del ok["errorCode"]
    ok["eventName"] = "GenerateDataKey"
    trail_file = {"Records": [ok, kms_decrypt_event(A, None)]}
    explanation = explain_message(json.dumps(trail_file, indent=2))
    assert explanation.action == "kms:Decrypt"
    assert explanation.lock == "key_policy"


def test_s3_data_event_fills_bucket_key_and_owner_into_the_command():
    record = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "eu-west-1",
        "errorCode": "AccessDenied",
        "errorMessage": "Access Denied",
        "userIdentity": {"type": "AssumedRole", "arn": SESSION, "accountId": B},
        "requestParameters": {"bucketName": "shared-artifacts", "key": "builds/app v2.zip"},
        "resources": [
            {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::shared-artifacts/builds/app v2.zip"},
            {"accountId": A, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::shared-artifacts"},
        ],
        "recipientAccountId": A,
    }
    explanation = explain_message("2024-05-01 event: " + json.dumps(record))
    assert (explanation.lock, explanation.deny_type) == ("unknown", None)
    assert explanation.resource == "arn:aws:s3:::shared-artifacts/builds/app v2.zip"
    assert explanation.command == (
        f"kmsdoctor diagnose --source-profile <profile-for-{A}> --target-profile "
        f"<profile-for-{B}> --bucket shared-artifacts --key 'builds/app v2.zip' "
        f"--role-arn arn:aws:iam::{B}:role/Reader --region eu-west-1"
    )


def test_json_that_is_not_a_cloudtrail_record_is_read_as_text():
    explanation = explain_message('{"hello": "world"}')
    assert not explanation.recognised


def test_the_encryption_context_of_a_kms_event_gives_bucket_and_key():
    # S3 asks KMS with the object's ARN as encryption context; the Decrypt event records it,
    # so the pasted event alone says which object the denied read was for.
    record = kms_decrypt_event(A, None)
    record["requestParameters"]["encryptionContext"] = {
        "aws:s3:arn": "arn:aws:s3:::datalake-curated-a/sales/2026/q1/regions.parquet"
    }
    command = explain_message(json.dumps(record)).command or ""
    assert "--bucket datalake-curated-a --key sales/2026/q1/regions.parquet" in command


def test_a_bucket_key_context_gives_the_bucket_and_leaves_the_key_to_fill_in():
    # With an S3 Bucket Key the context is the bucket's ARN: the object is not recorded.
    record = kms_decrypt_event(A, None)
    record["requestParameters"]["encryptionContext"] = {"aws:s3:arn": "arn:aws:s3:::datalake"}
    command = explain_message(json.dumps(record)).command or ""
    assert "--bucket datalake " in command
    assert "--key <object-key>" in command
