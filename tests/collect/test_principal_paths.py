"""One role given two ways: `role/PathRole` and `role/team/PathRole` name the same role (IAM role
names are unique within an account whatever the path, and not case-sensitive), so it is read
once and reported once, under the ARN GetRole returns (with its path)."""

from __future__ import annotations

import json

import boto3

from kmsdoctor.analyze import analyze_snapshot
from kmsdoctor.arn import iam_entity_key
from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
from kmsdoctor.questions import Question

B = "222222222222"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def test_a_role_named_with_and_without_its_path_is_read_once_and_reported_once(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    iam = boto3.Session(profile_name="b").client("iam")
    iam.create_role(RoleName="PathRole", Path="/team/", AssumeRolePolicyDocument=TRUST)
    aws_faults.calls.clear()

    given = [f"arn:aws:iam::{B}:role/PathRole", f"arn:aws:iam::{B}:role/team/PathRole"]
    questions = [Question(arn, box.bucket, "sales/2026/q1/regions.parquet") for arn in given]
    snapshot = collect_facts(
        CollectionPlan(questions, region=box.region, pair=ProfilePair("a", "b"))
    )

    assert aws_faults.calls.count("iam:GetRole") == 1
    diagnosis = analyze_snapshot(snapshot)
    assert [p.principal for p in diagnosis.principals] == [f"arn:aws:iam::{B}:role/team/PathRole"]


def test_roles_of_the_same_name_in_two_accounts_stay_two():
    assert iam_entity_key("arn:aws:iam::111111111111:role/x") != iam_entity_key(
        "arn:aws:iam::222222222222:role/x"
    )
    assert iam_entity_key("arn:aws:iam::222222222222:role/a/X") == iam_entity_key(
        "arn:aws:iam::222222222222:role/x"
    )
    assert iam_entity_key("arn:aws:iam::222222222222:user/x") != iam_entity_key(
        "arn:aws:iam::222222222222:role/x"
    )
