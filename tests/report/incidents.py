"""The report incidents both the text-report tests (tests/analyze/test_text_report.py) and the
golden files (test_golden_reports.py) are written against: one set-up each, built from the
snapshot factories."""

from __future__ import annotations

from kmsdoctor.analyze.model import Diagnosis, FixTarget
from kmsdoctor.snapshot import SnapshotView
from tests.analyze.factories import (
    KEY_ARN,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    finding,
    healthy_key_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    only,
)


def key_policy_missing_the_role() -> SnapshotView:
    """The BI incident: the key policy names only A's root, so BIAnalyticsRole cannot decrypt."""
    return make_snapshot(key=make_key(policy=key_policy()))


def pipeline_with_the_execution_role_shut_out() -> tuple[SnapshotView, list[str]]:
    """Four roles; only the last one given (DeployExecutionRole) is missing from the key policy.
    Returns the snapshot and the four role ARNs in the order given."""
    allowed = [
        make_principal(f"arn:aws:iam::{B}:role/{name}", session_arn=None, source="role_arn")
        for name in ("PipelineRole", "BuildRole", "DeployActionRole")
    ]
    denied = make_principal(
        f"arn:aws:iam::{B}:role/DeployExecutionRole", session_arn=None, source="role_arn"
    )
    everyone = [p.arn for p in (*allowed, denied)]
    snapshot = make_snapshot(
        key=make_key(policy=key_policy(allow_role_decrypt_statement([p.arn for p in allowed]))),
        bucket_policy_doc=bucket_policy(allow_role_read_statement(principal=everyone)),
        principals=[*allowed, denied],
    )
    return snapshot, everyone


def prove_the_key_policy_fix(diagnosis: Diagnosis) -> dict:
    """KD301 as the fix prover leaves it: the whole patched key policy and its put command.
    Returns the patched policy."""
    fix = finding(only(diagnosis), "KD301").fix
    patched = healthy_key_policy()
    fix.target = FixTarget("key_policy", KEY_ARN)
    fix.patched_policy = patched
    fix.apply_command = (
        f"aws kms put-key-policy --key-id {KEY_ARN} --policy-name default "
        "--policy file://key-policy.json --profile a --region eu-west-1"
    )
    fix.verified = True
    fix.verification = "re-analysed with the patched policy: key_policy opens for BIAnalyticsRole"
    return patched
