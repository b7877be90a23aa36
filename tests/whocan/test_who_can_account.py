"""who-can over account B: each role and user answered by the same analysis as `diagnose`,
with the first shut lock and its finding code; service roles apart; outside principals."""

from __future__ import annotations

import json

import boto3
import pytest

from kmsdoctor.whocan import WhoCanRequest, run
from tests.helpers.sandbox_roles import add_role
from tests.trust.harness import admin_credentials
from tests.whocan.conftest import BUCKET, OBJECT_KEY, PARTNER, A, B, role_arn, user_arn


def run_who_can(box, operation: str = "read"):
    return run(
        WhoCanRequest(
            source_profile="a",
            target_profile="b",
            bucket=BUCKET,
            key=OBJECT_KEY,
            operation=operation,
            region=box.region,
        )
    )


@pytest.fixture
def result(many_roles):
    return run_who_can(many_roles)


def answer_of(result, arn):
    return next(p for p in result.principals if p.principal == arn)


def test_the_principals_that_can_read_are_exactly_those_every_lock_lets_in(result):
    assert sorted(result.allowed()) == sorted(
        [
            role_arn("BIAnalyticsRole"),
            role_arn("ManagedReaderRole"),
            role_arn("LambdaReaderRole"),
            user_arn("carol"),  # through her group's policies
        ]
    )
    assert result.complete


@pytest.mark.parametrize(
    ("name", "lock", "code"),
    [
        ("NoKmsInIdentityRole", "identity", "KD101"),  # its policy forgets kms:Decrypt
        ("NotInKeyPolicyRole", "key_policy", "KD301"),  # A's key policy does not name it
        ("ExplicitDenyRole", "identity", "KD103"),  # its own Deny on kms:Decrypt
        ("BoundaryRole", "permissions_boundary", "KD403"),  # boundary allows only s3:*
    ],
)
def test_each_role_that_cannot_names_its_first_shut_lock_and_code(result, name, lock, code):
    answer = answer_of(result, role_arn(name))
    assert answer.verdict == "deny"
    assert answer.first_shut_lock == lock
    assert answer.code == code
    assert answer.reason


def test_a_user_without_any_policy_is_shut_at_identity(result):
    dave = answer_of(result, user_arn("dave"))
    assert (dave.verdict, dave.first_shut_lock, dave.kind) == ("deny", "identity", "user")


def test_an_explicit_deny_is_named_first_even_when_another_lock_is_shut(many_roles):
    """ExplicitDenyRole also loses its place in the key policy: the Deny still comes first,
    because opening the key policy would not let it in."""
    policy = many_roles.scenario["source"]["keys"]["data"]["policy"]
    principals = policy["Statement"][1]["Principal"]["AWS"]
    principals.remove(role_arn("ExplicitDenyRole"))
    kms = boto3.client("kms", region_name=many_roles.region, **admin_credentials(many_roles, A))
    kms.put_key_policy(
        KeyId=many_roles.key_arns["data"], PolicyName="default", Policy=json.dumps(policy)
    )
    answer = answer_of(run_who_can(many_roles), role_arn("ExplicitDenyRole"))
    assert answer.locks_shut == ["identity", "key_policy"]
    assert answer.first_shut_lock == "identity"


def test_service_linked_and_aws_service_roles_are_listed_apart(result):
    categories = {p.principal: p.category for p in result.principals}
    linked = [arn for arn, category in categories.items() if category == "service_linked"]
    assert len(linked) == 1 and "/aws-service-role/autoscaling.amazonaws.com/" in linked[0]
    assert categories[role_arn("LambdaReaderRole")] == "aws_service"
    assert categories[role_arn("BIAnalyticsRole")] == "principal"
    # People's principals first, then AWS-service roles, then service-linked ones.
    order = [p.category for p in result.principals]
    assert order == sorted(order, key=["principal", "aws_service", "service_linked"].index)


def test_the_summary_counts_principals_by_first_shut_lock_and_code(result):
    summary = result.summary()
    assert summary["allow"] == 4
    by_lock = summary["by_first_shut_lock"]
    assert list(by_lock) == ["identity", "key_policy", "permissions_boundary"]
    # dave, NoKmsInIdentityRole and the service-linked role (no policy for the lake): KD101
    assert by_lock["identity"] == {"principals": 4, "codes": {"KD101": 3, "KD103": 1}}
    assert by_lock["key_policy"] == {"principals": 1, "codes": {"KD301": 1}}


def test_the_partner_account_and_the_partner_org_are_listed_as_outside(result):
    outside = {o.principal: o for o in result.outside}
    partner = outside[f"arn:aws:iam::{PARTNER}:root"]
    assert partner.resource_side == "open"  # bucket policy (by id) and key policy (by :root)
    assert {o.where for o in partner.openings} == {"bucket_policy", "key_policy"}
    assert "was not read" in partner.why_outside
    anyone = outside["*"]
    assert anyone.resource_side == "partly"  # the key policy does not open to the org
    assert anyone.openings[0].conditions == ["StringEquals aws:PrincipalOrgID o-partner1234"]
    # A's own root (EnableRootOfAccountA) and B's root are readable accounts: not outside.
    assert f"arn:aws:iam::{A}:root" not in outside
    assert f"arn:aws:iam::{B}:root" not in outside


def test_an_account_whose_principals_cannot_be_listed_is_said_so(many_roles, aws_faults):
    aws_faults.know_sandbox(many_roles)
    aws_faults.add(
        "iam", "GetAccountAuthorizationDetails", "AccessDenied", "not authorized", 403, account=B
    )
    result = run_who_can(many_roles)
    assert B in result.unreadable_accounts
    assert "AccessDenied" in result.unreadable_accounts[B]
    assert not result.complete
    assert all(p.account != B for p in result.principals)
    # B's root, named by the bucket policy, is now an outside principal.
    outside = {o.principal: o for o in result.outside}
    assert "could not be listed" in outside[f"arn:aws:iam::{B}:root"].why_outside


def test_writers_are_answered_for_the_write_requests(many_roles):
    result = run_who_can(many_roles, operation="write")
    assert result.operation == "write"
    # Nobody's policies allow s3:PutObject: every principal is shut.
    assert result.allowed() == []


def test_each_fact_is_read_once_whatever_the_number_of_principals(many_roles, aws_faults):
    aws_faults.calls.clear()
    result = run_who_can(many_roles)
    calls = aws_faults.calls
    assert len(result.principals) == 10
    for fact in ("s3:GetBucketPolicy", "s3:HeadObject", "kms:GetKeyPolicy", "kms:ListGrants"):
        assert calls.count(fact) == 1, fact
    assert calls.count("iam:GetAccountAuthorizationDetails") == 2  # one per account
    assert calls.count("sts:GetCallerIdentity") == 2  # one per profile
    # Only the target profile's own role is read one call at a time (it stands for B's
    # account in the plan); the ten listed principals cost nothing more.
    assert calls.count("iam:GetRole") == 1
    assert calls.count("iam:GetPolicy") == 0


def test_a_role_of_the_resource_account_is_answered_as_a_same_account_read(many_roles):
    """A's own LakeAdminRole: its identity policy is enough for the bucket (same account), and
    the key policy's root-of-A statement lets A's IAM decide for the key."""
    read = many_roles.scenario["target"]["roles"]["BIAnalyticsRole"]["inline"]["ReadCuratedLake"]
    add_role(many_roles, A, "LakeAdminRole", read)
    result = run_who_can(many_roles)
    admin = answer_of(result, role_arn("LakeAdminRole", account=A))
    assert admin.account == A
    assert admin.verdict == "allow"
