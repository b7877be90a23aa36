"""ABAC incidents built in moto and diagnosed through the real CLI when the tags cannot be read:
the conditions that test them are `unknown`, not evaluated as if untagged. (The tagged and
untagged configurations themselves are scenario files run by test_scenarios.py.)"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kmsdoctor.cli import app


def _diagnose(box) -> dict:
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    return json.loads(run.stdout)


def test_key_tagged_project_but_its_tags_unreadable_leaves_the_identity_lock_unknown(
    sandbox, aws_faults
):
    box = sandbox("identity-resource-tag-on-key-matches")
    aws_faults.deny("kms", "ListResourceTags", "arn:aws:sts::111111111111:assumed-role/x/y", "*")
    report = _diagnose(box)
    assert report["verdict"] == "unknown"
    identity = report["locks"]["identity"]
    assert identity["status"] == "unknown"
    assert "aws:ResourceTag/project" in identity["reason"]
    assert "kms:ListResourceTags" in identity["reason"]
    assert report["locks"]["key_policy"]["status"] == "allow"


def test_role_tagged_team_bi_but_its_tags_unreadable_leaves_the_key_policy_unknown(
    sandbox, aws_faults
):
    box = sandbox("key-policy-principal-tag-matches")
    aws_faults.deny("iam", "GetRole", "arn:aws:sts::222222222222:assumed-role/x/y", "*")
    report = _diagnose(box)
    assert report["verdict"] == "unknown"
    key_policy = report["locks"]["key_policy"]
    assert key_policy["status"] == "unknown"
    assert "aws:PrincipalTag/team" in key_policy["reason"]


def test_key_without_tag_conditions_is_unaffected_by_unreadable_key_tags(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    aws_faults.deny("kms", "ListResourceTags", "arn:aws:sts::111111111111:assumed-role/x/y", "*")
    assert _diagnose(box)["verdict"] == "allow"
