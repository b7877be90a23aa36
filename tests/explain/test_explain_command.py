"""The `kmsdoctor diagnose` command explain prints: filled in from the message, placeholders for
what it does not name, and the role ARN rebuilt from a session ARN."""

from __future__ import annotations

import shlex

import pytest
import typer

from kmsdoctor.cli import app
from kmsdoctor.explain import explain_message
from kmsdoctor.explain.advice import role_arn_for

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CLI_GET = "An error occurred (AccessDenied) when calling the GetObject operation: "


@pytest.mark.parametrize(
    ("principal", "role_arn"),
    [
        (
            "arn:aws:sts::222222222222:assumed-role/Reader/etl-run-42",
            "arn:aws:iam::222222222222:role/Reader",
        ),
        # Session names may contain characters a role name may not; only the role part counts.
        (
            "arn:aws:sts::222222222222:assumed-role/Reader/jane@example.com",
            "arn:aws:iam::222222222222:role/Reader",
        ),
        # Another partition stays in its partition.
        (
            "arn:aws-us-gov:sts::222222222222:assumed-role/Reader/s",
            "arn:aws-us-gov:iam::222222222222:role/Reader",
        ),
        (
            "arn:aws:iam::222222222222:role/team/Reader",
            "arn:aws:iam::222222222222:role/team/Reader",
        ),
        # A user is not a role: diagnose runs as the target profile itself.
        ("arn:aws:iam::222222222222:user/jane", None),
        (None, None),
    ],
)
def test_role_arn_is_rebuilt_from_the_session_arn_not_guessed(principal, role_arn):
    assert role_arn_for(principal) == role_arn


def test_key_account_is_the_source_and_principal_account_is_the_target():
    explanation = explain_message(
        CLI_GET + "User: arn:aws:sts::222222222222:assumed-role/Reader/s is not authorized to "
        f"perform: kms:Decrypt on resource: {KEY} because no resource-based policy allows the "
        "kms:Decrypt action"
    )
    assert explanation.command == (
        "kmsdoctor diagnose --source-profile <profile-for-111111111111> --target-profile "
        "<profile-for-222222222222> --bucket <bucket> --key <object-key> --role-arn "
        f"arn:aws:iam::222222222222:role/Reader --kms-key {KEY} --region eu-west-1"
    )


def test_role_path_loss_is_said_when_the_role_arn_comes_from_a_session():
    explanation = explain_message(
        CLI_GET + "User: arn:aws:sts::222222222222:assumed-role/Reader/s is not authorized to "
        f"perform: kms:Decrypt on resource: {KEY} because no identity-based policy allows the "
        "kms:Decrypt action"
    )
    assert any("drops the role's path" in step for step in explanation.next_steps)


def test_identity_center_role_gets_its_reserved_path_hint():
    explanation = explain_message(
        CLI_GET + "User: arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_Admin_0123abcd/"
        "jane is not authorized to perform: s3:GetObject on resource: "
        '"arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action'
    )
    assert any("aws-reserved/sso.amazonaws.com" in step for step in explanation.next_steps)


def test_generated_command_uses_only_options_diagnose_accepts():
    # The command is meant to be pasted: an option diagnose does not have would fail at once.
    diagnose = typer.main.get_command(app).commands["diagnose"]
    accepted = {name for param in diagnose.params for name in param.opts}
    explanation = explain_message(
        "An error occurred (AccessDenied) when calling the PutObject operation: User: "
        "arn:aws:sts::222222222222:assumed-role/Writer/s is not authorized to perform: "
        f"kms:GenerateDataKey on resource: {KEY} because no resource-based policy allows the "
        "kms:GenerateDataKey action"
    )
    used = {word for word in shlex.split(explanation.command) if word.startswith("--")}
    assert used == {
        "--source-profile",
        "--target-profile",
        "--bucket",
        "--key",
        "--role-arn",
        "--kms-key",
        "--region",
        "--operation",
    }
    assert used <= accepted


def test_bucket_and_key_come_from_the_cli_prefix_and_are_shell_quoted():
    explanation = explain_message(
        "download failed: s3://shared-artifacts/builds/app$1.zip to ./app$1.zip "
        + CLI_GET
        + "Access Denied"
    )
    words = shlex.split(explanation.command)
    assert words[words.index("--bucket") + 1] == "shared-artifacts"
    assert words[words.index("--key") + 1] == "builds/app$1.zip"
    assert "'builds/app$1.zip'" in explanation.command


def test_bucket_wildcard_resource_is_not_taken_for_an_object_key():
    explanation = explain_message(
        "User: arn:aws:iam::222222222222:user/jane is not authorized to perform: s3:ListBucket "
        'on resource: "arn:aws:s3:::shared-artifacts/*" because no resource-based policy allows '
        "the s3:ListBucket action"
    )
    assert "--bucket shared-artifacts --key <object-key>" in explanation.command
    assert "--role-arn" not in explanation.command


def test_write_path_denial_asks_diagnose_for_the_write_operation():
    explanation = explain_message(
        "An error occurred (AccessDenied) when calling the PutObject operation: User: "
        "arn:aws:sts::222222222222:assumed-role/Writer/s is not authorized to perform: "
        "kms:GenerateDataKey on this resource because no identity-based policy allows the "
        "kms:GenerateDataKey action"
    )
    assert explanation.command.endswith("--operation write")
