"""The message forms `kmsdoctor explain` must read, taken from AWS's documentation.

Sources, by the `src` column:
- IAM: IAM User Guide, "Troubleshoot access denied error messages"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
  (examples copied with their line breaks, which are part of how they get pasted).
- IAM-AUTHZ: IAM User Guide, "Troubleshoot access denied error messages with authorization ID"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied-authorization-id.html
- S3: Amazon S3 User Guide, "Troubleshoot access denied (403 Forbidden) errors in Amazon S3"
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html
  (format `User: ARN is not authorized to perform: ACTION on resource: "ARN" because CONTEXT`,
  the resource in double quotes; only for the bucket owner's account or organization).
- KMS: AWS KMS API errors (DisabledException, KMSInvalidStateException, NotFoundException) and the
  kms:Decrypt "resource associated with this ciphertext" wording, as returned through S3.
- S3-KMS: S3's message when its kms:Decrypt call fails, as S3 returns it in its XML error body.
- S3-API: S3 error codes InvalidAccessKeyId / ExpiredToken; STS ExpiredTokenException.
- CLI: the AWS CLI's bare cross-account answer and its HEAD-first `aws s3 cp`.

Accounts in our own rows: A = 111111111111 owns bucket and key, B = 222222222222 calls.
"""

from __future__ import annotations

import pytest

from kmsdoctor.explain import LOCKS, explain_message

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SESSION = "arn:aws:sts::222222222222:assumed-role/Reader/etl-run-42"
OBJECT = "arn:aws:s3:::amzn-s3-demo-bucket/reports/2024.csv"
CLI_GET = "An error occurred (AccessDenied) when calling the GetObject operation: "

# (id, src, message, lock, deny_type, principal, action, resource)
TABLE = [
    # -- IAM User Guide examples ------------------------------------------------------------------
    (
        "scp-explicit",
        "IAM",
        "User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: \n"
        "codecommit:ListRepositories with an explicit deny in a service control policy",
        "scp",
        "explicit",
        "arn:aws:iam::777788889999:user/JohnDoe",
        "codecommit:ListRepositories",
        None,
    ),
    (
        "vpce-implicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codecommit:ListRepositories because no VPC endpoint policy allows the "
        "codecommit:ListRepositories action",
        "vpc_endpoint",
        "implicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codecommit:ListRepositories",
        None,
    ),
    (
        "vpce-explicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codedeploy:ListDeployments on resource: "
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* with an explicit deny in a "
        "VPC endpoint policy",
        "vpc_endpoint",
        "explicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codedeploy:ListDeployments",
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*",
    ),
    (
        "boundary-implicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codedeploy:ListDeployments on resource: "
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* because no permissions "
        "boundary allows the codedeploy:ListDeployments action",
        "permissions_boundary",
        "implicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codedeploy:ListDeployments",
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*",
    ),
    (
        "boundary-explicit",
        "IAM",
        "User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: \n"
        "sagemaker:ListModels with an explicit deny in a permissions boundary",
        "permissions_boundary",
        "explicit",
        "arn:aws:iam::777788889999:user/JohnDoe",
        "sagemaker:ListModels",
        None,
    ),
    (
        "session-implicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codecommit:ListRepositories because no session policy allows the "
        "codecommit:ListRepositories action",
        "session_policy",
        "implicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codecommit:ListRepositories",
        None,
    ),
    (
        # AWS's example really says "sessions policy".
        "session-explicit-sessions-typo",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codedeploy:ListDeployments on resource: "
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* with an explicit deny in a "
        "sessions policy",
        "session_policy",
        "explicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codedeploy:ListDeployments",
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*",
    ),
    (
        # A Secrets Manager resource policy is neither a bucket nor a key policy.
        "resource-implicit-other-service",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "secretsmanager:GetSecretValue because no resource-based policy allows the "
        "secretsmanager:GetSecretValue action",
        "unknown",
        "implicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "secretsmanager:GetSecretValue",
        None,
    ),
    (
        "resource-explicit-other-service",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "secretsmanager:GetSecretValue on resource: "
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:* with an explicit deny in a "
        "resource-based policy",
        "unknown",
        "explicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    ),
    (
        "identity-implicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codecommit:ListRepositories because no identity-based policy allows the "
        "codecommit:ListRepositories action",
        "identity",
        "implicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codecommit:ListRepositories",
        None,
    ),
    (
        "identity-explicit",
        "IAM",
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \n"
        "codedeploy:ListDeployments on resource: "
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* with an explicit deny in an "
        "identity-based policy",
        "identity",
        "explicit",
        "arn:aws:iam::123456789012:user/JohnDoe",
        "codedeploy:ListDeployments",
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*",
    ),
    (
        # The request went through a VPC endpoint, but the refusing policy is an SCP.
        "vpce-transitively-through-scp",
        "IAM",
        "User: arn:aws:sts::111122223333:assumed-role/role-name/role-session-name is not "
        "authorized to perform: \nSNS:Publish on resource: "
        "arn:aws:sns:us-east-1:444455556666:role-name-2 \nwith an explicit deny in a VPC endpoint "
        "policy transitively through a service control policy",
        "scp",
        "explicit",
        "arn:aws:sts::111122223333:assumed-role/role-name/role-session-name",
        "SNS:Publish",
        "arn:aws:sns:us-east-1:444455556666:role-name-2",
    ),
    (
        "identity-explicit-with-policy-arn-and-authorization-link",
        "IAM-AUTHZ",
        "User: arn:aws:iam::123456789012:user/janedoe is not authorized to perform: "
        "iam:CreateInstanceProfile on resource: "
        "arn:aws:iam::123456789012:instance-profile/my-instance-profile with an explicit deny in "
        "an identity-based policy: arn:aws:iam::123456789012:policy/ExampleDenyPolicy. Go to "
        "https://us-east-1.console.aws.amazon.com/iam/home?region=us-east-1#/"
        "authorization-details/EXAMPLE1a2b3c4d5e",
        "identity",
        "explicit",
        "arn:aws:iam::123456789012:user/janedoe",
        "iam:CreateInstanceProfile",
        "arn:aws:iam::123456789012:instance-profile/my-instance-profile",
    ),
    # -- S3 enhanced messages (same account / same organization), resource in quotes ---------------
    (
        "s3-identity-implicit",
        "S3",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" because no identity-based policy allows the s3:GetObject action',
        "identity",
        "implicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-bucket-policy-implicit",
        "S3",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" because no resource-based policy allows the s3:GetObject action',
        "bucket_policy",
        "implicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-bucket-policy-explicit",
        "S3",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" with an explicit deny in a resource-based policy',
        "bucket_policy",
        "explicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-rcp-explicit",
        "S3",
        "An error occurred (AccessDenied) when calling the PutObject operation:\nUser: "
        "arn:aws:sts::112233445566:assumed-role/AWSReservedSSO_PermSetName_0123456789abcdef/abcde"
        '\nis not authorized to perform: s3:PutObject\non resource: "arn:aws:s3:::'
        'test-kms-encryption-required/non-encrypted.txt"\nwith an explicit deny in a resource '
        "control policy",
        "rcp",
        "explicit",
        "arn:aws:sts::112233445566:assumed-role/AWSReservedSSO_PermSetName_0123456789abcdef/abcde",
        "s3:PutObject",
        "arn:aws:s3:::test-kms-encryption-required/non-encrypted.txt",
    ),
    (
        # The implicit RCP wording follows the documented "because no TYPE policy allows" pattern.
        "s3-rcp-implicit",
        "IAM",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" because no resource control policy allows the s3:GetObject action',
        "rcp",
        "implicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-scp-implicit",
        "IAM",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" because no service control policy allows the s3:GetObject action',
        "scp",
        "implicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-scp-explicit-with-policy-arn",
        "IAM-AUTHZ",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" with an explicit deny in a service control policy: arn:aws:organizations::'
        "999999999999:policy/o-exampleorg/service_control_policy/p-examplepolicy",
        "scp",
        "explicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    (
        "s3-vpce-explicit",
        "S3",
        CLI_GET + f'User: {SESSION} is not authorized to perform: s3:GetObject on resource: "'
        f'{OBJECT}" with an explicit deny in a VPC endpoint policy',
        "vpc_endpoint",
        "explicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    # -- KMS through S3 ---------------------------------------------------------------------------
    (
        "kms-key-policy-implicit",
        "IAM",
        CLI_GET + f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY} "
        "because no resource-based policy allows the kms:Decrypt action",
        "key_policy",
        "implicit",
        SESSION,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-key-policy-explicit",
        "IAM",
        CLI_GET + f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY} "
        "with an explicit deny in a resource-based policy",
        "key_policy",
        "explicit",
        SESSION,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-identity-implicit",
        "IAM",
        CLI_GET + f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY} "
        "because no identity-based policy allows the kms:Decrypt action",
        "identity",
        "implicit",
        SESSION,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-ciphertext-identity-implicit",
        "KMS",
        CLI_GET + f"User: {SESSION} is not authorized to perform: kms:Decrypt on the resource "
        "associated with this ciphertext because no identity-based policy allows the kms:Decrypt "
        "action",
        "identity",
        "implicit",
        SESSION,
        "kms:Decrypt",
        None,
    ),
    (
        "kms-ciphertext-key-policy-or-region",
        "KMS",
        "AccessDenied: User: arn:aws:sts::251774439261:assumed-role/Deployer/tf is not authorized "
        "to\nperform: kms:Decrypt on the resource associated with this ciphertext\nbecause the "
        "resource does not exist in this Region, no resource-based\npolicies allow access, or a "
        "resource-based policy explicitly denies access",
        "key_policy",
        None,
        "arn:aws:sts::251774439261:assumed-role/Deployer/tf",
        "kms:Decrypt",
        None,
    ),
    (
        "kms-generate-data-key-on-this-resource",
        "KMS",
        "An error occurred (AccessDenied) when calling the PutObject operation:\nUser: "
        "arn:aws:sts::112233445566:assumed-role/Writer/abcde\nis not authorized to perform: "
        "kms:GenerateDataKey\non this resource\nbecause no identity-based policy allows the "
        'kms:GenerateDataKey action"',
        "identity",
        "implicit",
        "arn:aws:sts::112233445566:assumed-role/Writer/abcde",
        "kms:GenerateDataKey",
        None,
    ),
    (
        # The older form: no "because", so identity and key policy cannot be told apart.
        "kms-old-form-no-context",
        "KMS",
        f"An error occurred (AccessDeniedException) when calling the Decrypt operation: User: "
        f"{SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY}",
        "unknown",
        None,
        SESSION,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-disabled",
        "KMS",
        f"An error occurred (DisabledException) when calling the Decrypt operation: {KEY} is "
        "disabled.",
        "key_state",
        None,
        None,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-pending-deletion",
        "KMS",
        f"An error occurred (KMSInvalidStateException) when calling the Decrypt operation: {KEY} "
        "is pending deletion.",
        "key_state",
        None,
        None,
        "kms:Decrypt",
        KEY,
    ),
    (
        "kms-not-found-by-arn",
        "KMS",
        f"An error occurred (NotFoundException) when calling the DescribeKey operation: Key "
        f"'{KEY}' does not exist",
        "key_state",
        None,
        None,
        "kms:DescribeKey",
        KEY,
    ),
    (
        "kms-not-found-invalid-key-id",
        "KMS",
        "An error occurred (NotFoundException) when calling the Decrypt operation: Invalid keyId "
        "'ZTZiNzIyNTktYmIyMi00YzVmLWJlMWItOWEz'",
        "key_state",
        None,
        None,
        "kms:Decrypt",
        None,
    ),
    # -- S3's view of a failed KMS call -----------------------------------------------------------
    (
        "s3-kms-ciphertext-xml",
        "S3-KMS",
        "<Error>\n  <Code>AccessDenied</Code>\n  <Message>The ciphertext refers to a customer "
        "master key that does not exist, does not exist in this region, or you are not allowed "
        "to access.</Message>\n  <RequestId>45V16V31G01JFASB</RequestId>\n</Error>",
        "unknown",
        None,
        None,
        None,
        None,
    ),
    (
        "s3-kms-ciphertext-java-sdk",
        "S3-KMS",
        "com.amazonaws.services.s3.model.AmazonS3Exception: The ciphertext refers to a customer "
        "master key that does not exist, does not exist in this region, or you are not allowed "
        "to access. (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; Request ID: "
        "45V16V31G01JFASB; S3 Extended Request ID: abc=; Proxy: null)",
        "unknown",
        None,
        None,
        None,
        None,
    ),
    # -- No reason given -------------------------------------------------------------------------
    (
        "s3-bare-cross-account",
        "CLI",
        CLI_GET + "Access Denied",
        "unknown",
        None,
        None,
        "s3:GetObject",
        None,
    ),
    (
        "s3-head-forbidden",
        "CLI",
        "fatal error: An error occurred (403) when calling the HeadObject operation: Forbidden",
        "unknown",
        None,
        None,
        "s3:GetObject",
        None,
    ),
    (
        "explicit-deny-untyped",
        "IAM",
        f"User: {SESSION} is not authorized to perform: s3:GetObject on resource: {OBJECT} with "
        "an explicit deny",
        "unknown",
        "explicit",
        SESSION,
        "s3:GetObject",
        OBJECT,
    ),
    # -- Credentials, not a lock ---------------------------------------------------------------
    (
        "s3-invalid-access-key-id",
        "S3-API",
        "An error occurred (InvalidAccessKeyId) when calling the GetObject operation: The AWS "
        "Access Key Id you provided does not exist in our records.",
        "unknown",
        None,
        None,
        "s3:GetObject",
        None,
    ),
    (
        "s3-expired-token",
        "S3-API",
        "An error occurred (ExpiredToken) when calling the GetObject operation: The provided "
        "token has expired.",
        "unknown",
        None,
        None,
        "s3:GetObject",
        None,
    ),
    (
        "sts-expired-token",
        "S3-API",
        "An error occurred (ExpiredTokenException) when calling the Decrypt operation: The "
        "security token included in the request is expired",
        "unknown",
        None,
        None,
        "kms:Decrypt",
        None,
    ),
]


MESSAGE = {row[0]: row[2] for row in TABLE}


@pytest.mark.parametrize(
    ("src", "message", "lock", "deny_type", "principal", "action", "resource"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_documented_message_names_its_lock(
    src, message, lock, deny_type, principal, action, resource
):
    explanation = explain_message(message)
    assert explanation.recognised, src
    assert (explanation.lock, explanation.deny_type) == (lock, deny_type)
    assert explanation.principal == principal
    assert explanation.action == action
    assert explanation.resource == resource


def test_no_lock_is_left_without_a_documented_message():
    # Guards the table itself: a lock nobody tests is a lock whose wording can silently rot.
    assert {row[3] for row in TABLE} == set(LOCKS)
    assert len(MESSAGE) == len(TABLE) >= 25


def test_identity_denial_is_not_mistaken_for_a_key_policy_denial():
    explanation = explain_message(MESSAGE["kms-identity-implicit"])
    assert explanation.lock == "identity"
    assert any("kms:Decrypt on " + KEY in step for step in explanation.next_steps)


def test_bare_access_denied_does_not_pretend_to_know_the_lock():
    explanation = explain_message(CLI_GET + "Access Denied")
    assert (explanation.lock, explanation.deny_type) == ("unknown", None)
    assert "cannot tell" in explanation.summary
    text = " ".join(explanation.next_steps)
    for layer in (
        "Identity",
        "Bucket policy",
        "Key policy",
        "SCPs",
        "RCPs",
        "VPC endpoint",
        "Permissions boundary",
        "Session policy",
    ):
        assert layer in text
    # The three CloudTrail signatures, each in the account that records it.
    assert "only in A's S3 data events" in text
    assert "no KMS event" in text
    assert "in B's trail" in text and "in A's trail" in text


def test_old_kms_form_says_cloudtrail_account_tells_identity_from_key_policy():
    explanation = explain_message(
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY}"
    )
    text = " ".join(explanation.next_steps)
    assert "cannot tell the caller's IAM policy from the key policy" in text
    assert "key owner's trail (account 111111111111) is the key policy" in text
    assert "caller's trail (account 222222222222) it is the caller's IAM policy" in text


def test_s3_ciphertext_message_clears_the_bucket_policy_but_blames_no_single_lock():
    explanation = explain_message(MESSAGE["s3-kms-ciphertext-xml"])
    assert explanation.lock == "unknown"
    assert explanation.recognised
    assert "The bucket policy is not it" in explanation.next_steps[0]


def test_ciphertext_message_with_the_master_typo_is_still_recognised():
    explanation = explain_message(
        "The ciphertext refers to a customer mastr key that does not exist, does not exist in "
        "this region, or you are not allowed to access."
    )
    assert explanation.recognised and explanation.summary.startswith("S3 accepted")


def test_credentials_errors_are_reported_as_credentials_not_as_a_lock():
    for name in ("s3-invalid-access-key-id", "s3-expired-token", "sts-expired-token"):
        explanation = explain_message(MESSAGE[name])
        assert explanation.summary.startswith("Not a lock"), name
        assert explanation.command is None, name
        assert "sts get-caller-identity" in explanation.next_steps[0]


def test_scp_explicit_warns_that_aws_may_report_implicit_scp_denials_as_explicit():
    explanation = explain_message(MESSAGE["scp-explicit"])
    assert any("even when the SCP simply does not allow" in s for s in explanation.next_steps)


def test_policy_arn_named_in_the_message_is_passed_on():
    explanation = explain_message(MESSAGE["s3-scp-explicit-with-policy-arn"])
    assert explanation.next_steps[0] == (
        "The message names the policy: arn:aws:organizations::999999999999:policy/o-exampleorg/"
        "service_control_policy/p-examplepolicy."
    )


def test_key_state_errors_say_no_policy_was_evaluated():
    for name in ("kms-disabled", "kms-pending-deletion"):
        explanation = explain_message(MESSAGE[name])
        assert "no policy was evaluated" in explanation.summary
        assert "aws kms describe-key --key-id " + KEY in explanation.next_steps[0]


def test_key_not_found_points_at_region_and_full_arn():
    explanation = explain_message(MESSAGE["kms-not-found-invalid-key-id"])
    text = " ".join(explanation.next_steps)
    assert "keys are regional" in text
    assert "full key ARN" in text


def test_unrecognised_text_is_not_recognised_and_offers_no_command():
    explanation = explain_message("Something went wrong, please try again later")
    assert not explanation.recognised
    assert explanation.lock == "unknown" and explanation.deny_type is None
    assert explanation.command is None
    assert explanation.next_steps


def test_non_s3_kms_action_gets_no_diagnose_command():
    # kmsdoctor diagnose cannot say anything about CodeCommit.
    assert explain_message(MESSAGE["identity-implicit"]).command is None


def test_explicit_resource_policy_deny_does_not_send_the_reader_to_their_own_policy():
    # The "AWS may name the resource policy when the caller's policy is missing" caveat is about
    # implicit denies only: an explicit Deny in the bucket policy is in the bucket policy.
    explicit = explain_message(MESSAGE["s3-bucket-policy-explicit"]).next_steps
    implicit = explain_message(MESSAGE["s3-bucket-policy-implicit"]).next_steps
    assert not any("check both" in step for step in explicit)
    assert any("check both" in step for step in implicit)
