"""The lock catalogue: every stage reads the same ten locks, and what it prints to look at a lock
is a read-only command run in the account that owns it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from kmsdoctor.analyze.locks import ALL_LOCKS
from kmsdoctor.analyze.model import CEILING_LOCKS, LOCK_NAMES
from kmsdoctor.explain import LOCKS as EXPLAIN_LOCKS
from kmsdoctor.lock_catalogue import CATALOGUE, LockName, lock_spec, markdown_table
from kmsdoctor.snapshot import Organization
from tests.analyze.factories import (
    FULL_ACCESS_SCP,
    ROLE,
    B,
    diagnose,
    endpoint,
    finding,
    identity_policy,
    level,
    make_principal,
    make_snapshot,
    only,
    unknown,
)

ROOT = Path(__file__).resolve().parents[2]

DENY_DECRYPT_SCP = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
}


def test_architecture_doc_lock_table_is_generated_from_the_catalogue():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = doc.index("<!-- lock-catalogue:start -->\n") + len("<!-- lock-catalogue:start -->\n")
    end = doc.index("<!-- lock-catalogue:end -->")
    assert doc[start:end] == markdown_table(), (
        "docs/architecture.md's lock table is out of date: paste the output of "
        "`.venv/bin/python -m kmsdoctor.lock_catalogue --markdown` between its markers"
    )


def test_the_report_evaluates_every_catalogued_lock_in_catalogue_order():
    assert LOCK_NAMES == get_args(LockName) == tuple(spec.name for spec in CATALOGUE)
    assert tuple(lock.name for lock in ALL_LOCKS) == LOCK_NAMES
    diagnosis = only(diagnose(make_snapshot()))
    assert tuple(diagnosis.locks) == LOCK_NAMES


def test_only_ceilings_may_stay_unknown_without_making_the_verdict_unknown():
    assert {"scp", "rcp", "permissions_boundary", "session_policy", "vpc_endpoint"} == CEILING_LOCKS
    # An unreadable SCP (a member account cannot list them) leaves a healthy read allowed ...
    scps_unreadable = unknown("organizations:ListPoliciesForTarget")
    diagnosis = only(
        diagnose(
            make_snapshot(scps=scps_unreadable, target_org=Organization("o-exampleorg", "9" * 12))
        )
    )
    assert diagnosis.locks["scp"].status == "unknown"
    assert diagnosis.verdict == "allow"
    # ... and its reason names the catalogue's command to look from the management account.
    assert (
        f"aws organizations list-policies-for-target --target-id {B} --filter "
        "SERVICE_CONTROL_POLICY" in diagnosis.locks["scp"].reason
    )


def test_explain_names_the_catalogued_locks_a_message_can_point_at():
    named = [spec.name for spec in CATALOGUE if spec.named_by_messages]
    assert list(EXPLAIN_LOCKS) == [*named, "unknown"]
    assert "object" not in EXPLAIN_LOCKS  # a missing object is NoSuchKey, not a named lock


def test_every_show_command_only_reads():
    for spec in CATALOGUE:
        assert spec.show_current, f"{spec.name} has no command to look at it"
        for command in spec.show_current:
            verb = command.args[1]
            assert verb.split("-")[0] in ("get", "list", "describe", "head", "lookup"), verb


def test_show_commands_run_in_the_account_that_owns_what_they_show():
    # Resource account things with --source-profile, caller account things with
    # --target-profile, SCPs from the management account (no profile of this run reaches it).
    assert lock_spec("key_policy").side == "resource"
    assert lock_spec("permissions_boundary").side == "caller"
    assert lock_spec("scp").side == "organization"

    boundary = identity_policy(
        {"Sid": "S3Only", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    )
    shut_by_boundary = only(diagnose(make_snapshot(principals=[make_principal(boundary=boundary)])))
    kd403 = finding(shut_by_boundary, "KD403")
    assert kd403.fix.show_current[0] == (
        f"aws iam get-role --role-name {ROLE} --query Role.PermissionsBoundary --profile b"
    )

    scps = [level("ROOT", "Root", FULL_ACCESS_SCP, DENY_DECRYPT_SCP)]
    shut_by_scp = only(
        diagnose(make_snapshot(scps=scps, target_org=Organization("o-exampleorg", "9" * 12)))
    )
    kd401 = finding(shut_by_scp, "KD401")
    assert kd401.fix.show_current == [
        f"aws organizations list-policies-for-target --target-id {B} --filter "
        "SERVICE_CONTROL_POLICY"
    ]


def test_an_endpoint_policy_finding_shows_the_callers_s3_endpoints_in_the_bucket_region():
    s3_only_in_b_buckets = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b-team-*/*",
            }
        ]
    }
    diagnosis = only(diagnose(make_snapshot(vpc_endpoints=[endpoint(s3_only_in_b_buckets)])))
    kd405 = finding(diagnosis, "KD405")
    assert kd405.fix.show_current == [
        "aws ec2 describe-vpc-endpoints --filters "
        "Name=service-name,Values=com.amazonaws.eu-west-1.s3 --profile b --region eu-west-1"
    ]
