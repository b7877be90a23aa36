"""Fixtures for who-can: account B with many roles and users, each let in or kept out by a
different lock, a service-linked role, an AWS-service role, and outside principals the bucket
and key policies open to."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from moto_fixtures.builder import Sandbox, load_scenario  # noqa: E402
from moto_fixtures.pytest_plugin import aws_faults, sandbox  # noqa: E402, F401
from tests.helpers.cli import fast_retries  # noqa: E402, F401
from tests.trust.harness import admin_credentials  # noqa: E402

A = "111111111111"
B = "222222222222"
PARTNER = "333333333333"  # an account nobody gave a profile for
BUCKET = "datalake-curated-a"
OBJECT_KEY = "sales/2026/q1/regions.parquet"
PARTNER_ORG = "o-partner1234"


def role_arn(name: str, account: str = B) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{B}:user/{name}"


READ_LAKE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadCuratedLake",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        },
        {
            "Sid": "DecryptWithPlatformKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "{{key_arn:data}}",
        },
    ],
}
READ_LAKE_WITHOUT_KMS = {"Version": "2012-10-17", "Statement": [READ_LAKE["Statement"][0]]}
DENY_DECRYPT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NoDecryptAnywhere", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
    ],
}
S3_ONLY_BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

# Roles of B and what stops each: the names say it.
ROLES: dict[str, dict[str, Any]] = {
    "BIAnalyticsRole": {"inline": {"ReadCuratedLake": READ_LAKE}},
    "ManagedReaderRole": {"managed": {"ReadCuratedLakeManaged": READ_LAKE}},
    "NoKmsInIdentityRole": {"inline": {"ReadWithoutKms": READ_LAKE_WITHOUT_KMS}},
    "NotInKeyPolicyRole": {"inline": {"ReadCuratedLake": READ_LAKE}},
    "ExplicitDenyRole": {"inline": {"ReadCuratedLake": READ_LAKE, "NoDecrypt": DENY_DECRYPT}},
    "BoundaryRole": {"inline": {"ReadCuratedLake": READ_LAKE}, "boundary": S3_ONLY_BOUNDARY},
    "LambdaReaderRole": {"inline": {"ReadCuratedLake": READ_LAKE}, "trust": LAMBDA_TRUST},
}
# Named in the key policy (NotInKeyPolicyRole is not).
KEY_USERS = [
    role_arn("BIAnalyticsRole"),
    role_arn("ManagedReaderRole"),
    role_arn("NoKmsInIdentityRole"),
    role_arn("ExplicitDenyRole"),
    role_arn("BoundaryRole"),
    role_arn("LambdaReaderRole"),
    user_arn("carol"),
    user_arn("dave"),
]


def many_roles_scenario() -> dict[str, Any]:
    scenario = load_scenario("healthy-cross-account-read")
    scenario["name"] = "who-can-many-roles"
    scenario["source"]["bucket"]["policy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountBReads",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            },
            {
                "Sid": "PartnerAccountReads",
                "Effect": "Allow",
                "Principal": {"AWS": PARTNER},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            },
            {
                "Sid": "PartnerOrgReads",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/sales/*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": PARTNER_ORG}},
            },
        ],
    }
    scenario["source"]["keys"]["data"]["policy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableRootOfAccountA",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "ReadersDecrypt",
                "Effect": "Allow",
                "Principal": {"AWS": KEY_USERS},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
            {
                "Sid": "PartnerDecrypt",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ],
    }
    scenario["target"]["roles"] = json.loads(json.dumps(ROLES))
    scenario["target"]["caller"] = "BIAnalyticsRole"
    return scenario


def add_users_and_service_roles(box: Sandbox) -> None:
    """carol reads through her group's policies; dave is in no group and has no policy; a
    service-linked role made by AWS for Auto Scaling."""
    iam = boto3.client("iam", region_name=box.region, **admin_credentials(box, B))
    policy = json.dumps(
        box.scenario["target"]["roles"]["BIAnalyticsRole"]["inline"]["ReadCuratedLake"]
    )
    iam.create_group(GroupName="analysts")
    iam.put_group_policy(GroupName="analysts", PolicyName="GroupRead", PolicyDocument=policy)
    group_managed = iam.create_policy(PolicyName="GroupReadManaged", PolicyDocument=policy)
    iam.attach_group_policy(GroupName="analysts", PolicyArn=group_managed["Policy"]["Arn"])
    iam.create_user(UserName="carol")
    iam.add_user_to_group(GroupName="analysts", UserName="carol")
    iam.create_user(UserName="dave")
    iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")


@pytest.fixture
def many_roles(sandbox) -> Sandbox:  # noqa: F811
    box = sandbox(many_roles_scenario())
    add_users_and_service_roles(box)
    return box
