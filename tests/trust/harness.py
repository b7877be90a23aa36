"""The trust tests' harness: the rich sandbox scenario, and the real CLI entry point run
in-process with its output captured (usable inside hypothesis tests, unlike capsys)."""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import boto3

from moto_fixtures.builder import Sandbox, load_scenario

OBJECT_KEY = "sales/2026/q1/regions.parquet"
# Distinctive object bytes: if they ever reach a snapshot, an output or a log, a test sees them.
OBJECT_BODY = "region,revenue\nemea,42\nTRUST-OBJECT-BYTES-5d1e0c9a\n"
ROLE_ARN = "arn:aws:iam::222222222222:role/BIAnalyticsRole"
USER_PROFILE = "carol"  # an IAM user in B, in a group: the user path of the collectors
USER_NAME = "carol"
USER_ARN = f"arn:aws:iam::222222222222:user/{USER_NAME}"
GROUP_NAME = "analysts"
# A managed policy in B attached to nobody: pagination tests list it on a page of their own.
UNATTACHED_POLICY = "UnrelatedManaged"

ALLOW_S3_AND_KMS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Ceiling", "Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}
    ],
}
UNRELATED = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
}


def trust_scenario() -> dict[str, Any]:
    """The healthy cross-account read, with one of everything a collector can read: an
    organization over A (root, an OU, the account: RCPs), a managed policy and a permissions
    boundary on the caller role, a grant on the key."""
    scenario = load_scenario("healthy-cross-account-read")
    scenario["name"] = "trust"
    source = scenario["source"]
    source["objects"][0]["body"] = OBJECT_BODY
    # carol (made after the build, see add_user_profile) is let in by A too, so a gap in what
    # is read about her makes the verdict unknown rather than hiding behind a deny.
    for policy in (source["bucket"]["policy"], source["keys"]["data"]["policy"]):
        allow_role = policy["Statement"][-1]["Principal"]
        allow_role["AWS"] = [allow_role["AWS"], USER_ARN]
    role = scenario["target"]["roles"]["BIAnalyticsRole"]
    role["managed"] = {"ReadCuratedLakeManaged": role["inline"]["ReadCuratedLake"]}
    role["boundary"] = ALLOW_S3_AND_KMS
    source["keys"]["data"]["grants"] = [
        {"name": "bi-decrypt", "grantee": ROLE_ARN, "operations": ["Decrypt"]}
    ]
    scenario["organization"] = {
        "management_account": "source",
        "units": {"Data": "root"},
        "account_unit": "Data",
        "policies": [],
    }
    return scenario


@dataclass
class TrustSandbox:
    box: Sandbox
    user_secrets: list[str]

    @property
    def secrets(self) -> list[str]:
        """Every credential any profile of the sandbox holds."""
        return [*self.box.secrets, *self.user_secrets]

    def args(self, command: str, *extra: str, profile: str = "b") -> list[str]:
        """CLI arguments for the scenario's request, with `profile` as the target profile."""
        args = self.box.cli_args(command, *extra)
        args[args.index("--target-profile") + 1] = profile
        return args


def add_user_profile(box: Sandbox) -> list[str]:
    """carol in B: an inline and a managed policy of her own, and a group with both kinds;
    profile `carol` holds her access key. Returns the credentials written."""
    iam = boto3.client(
        "iam", region_name=box.region, **admin_credentials(box, box.scenario["accounts"]["target"])
    )
    role = box.scenario["target"]["roles"]["BIAnalyticsRole"]
    policy = json.dumps(role["inline"]["ReadCuratedLake"])
    iam.create_user(UserName=USER_NAME)
    iam.put_user_policy(UserName=USER_NAME, PolicyName="CarolInline", PolicyDocument=policy)
    managed = iam.create_policy(PolicyName="CarolManaged", PolicyDocument=policy)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=USER_NAME, PolicyArn=managed)
    iam.create_group(GroupName=GROUP_NAME)
    iam.add_user_to_group(GroupName=GROUP_NAME, UserName=USER_NAME)
    iam.put_group_policy(GroupName=GROUP_NAME, PolicyName="GroupInline", PolicyDocument=policy)
    group_managed = iam.create_policy(PolicyName="GroupManaged", PolicyDocument=policy)
    iam.attach_group_policy(GroupName=GROUP_NAME, PolicyArn=group_managed["Policy"]["Arn"])
    iam.create_policy(PolicyName=UNATTACHED_POLICY, PolicyDocument=json.dumps(UNRELATED))
    key = iam.create_access_key(UserName=USER_NAME)["AccessKey"]
    user_creds = {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    _add_section(box.credentials_path, USER_PROFILE, user_creds)
    _add_section(box.config_path, f"profile {USER_PROFILE}", {"region": box.region})
    return list(user_creds.values())


def _add_section(path: Any, section: str, values: dict[str, str]) -> None:
    parser = configparser.ConfigParser()
    parser.read(path)
    parser[section] = values
    with path.open("w", encoding="utf-8") as handle:
        parser.write(handle)


def admin_credentials(box: Sandbox, account: str) -> dict[str, str]:
    """A session of the builder's admin role in `account` (moto takes the account from it)."""
    sts = boto3.client(
        "sts",
        region_name=box.region,
        aws_access_key_id="AKIATRUSTBOOTSTRAP00",
        aws_secret_access_key="bootstrap",
    )
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/kmsdoctor-fixture-admin", RoleSessionName="trust"
    )["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


# --- the CLI, in-process --------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def one_line_error(self) -> str:
        """The single stderr line of a run that ended with exit 2, and no traceback."""
        assert self.exit_code == 2, (self.exit_code, self.stdout[-500:], self.stderr[-500:])
        assert "Traceback" not in self.output
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


def _forget_debug_handler() -> None:
    """`--debug` attaches a stderr handler once per process; drop it so the next run's stderr
    (a new StringIO here) receives its lines."""
    logger = logging.getLogger("kmsdoctor")
    for handler in [h for h in logger.handlers if getattr(h, "_kmsdoctor", False)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def run_kmsdoctor(*args: str) -> CliRun:
    """`kmsdoctor ARGS` through the console entry point (`kmsdoctor.cli.main`): contract exit
    codes and one-line errors, stdout and stderr captured. Usable inside hypothesis tests."""
    from kmsdoctor.cli import main

    _forget_debug_handler()
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with (
        patch.object(sys, "argv", ["kmsdoctor", *args]),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    _forget_debug_handler()
    return CliRun(code if isinstance(code, int) else 2, stdout.getvalue(), stderr.getvalue())
