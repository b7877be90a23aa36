"""Roles added to a built moto sandbox after the scenario (a role of the resource account A,
which scenarios do not make): created with the builder's admin session of that account."""

from __future__ import annotations

import json
from typing import Any

import boto3

from moto_fixtures.builder import Sandbox
from tests.trust.harness import admin_credentials


def add_role(
    box: Sandbox, account: str, name: str, inline: dict[str, Any], policy_name: str = "ReadLake"
) -> str:
    """Role NAME in ACCOUNT, trusted by that account's root, with one inline policy; its ARN."""
    iam = boto3.client("iam", region_name=box.region, **admin_credentials(box, account))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(inline))
    return role["Role"]["Arn"]
