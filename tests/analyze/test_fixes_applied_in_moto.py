"""Every proven fix, applied: for each scenario, `diagnose` through the CLI, then for each fix it
marks verified, put its `patched_policy` into the moto accounts (the test does it; kmsdoctor
never writes), `diagnose` again, and get what the verification promised — allow, or the next
shut lock it names. Every scenario whose shut lock is a policy must have such a fix.

moto enforces no bucket or key policy, so the second diagnosis is kmsdoctor's analysis of the
configuration as AWS now stores it (read back through the real collector), not AWS's answer.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from kmsdoctor.analyze.model import CEILING_LOCKS
from kmsdoctor.analyze.rules import REGISTRY
from kmsdoctor.cli import app
from moto_fixtures.builder import PROFILE_SOURCE, PROFILE_TARGET, load_scenario, scenario_names

POLICY_LOCKS = {
    "identity",
    "bucket_policy",
    "key_policy",
    "scp",
    "rcp",
    "permissions_boundary",
    "session_policy",
    "vpc_endpoint",
}
DENY = {"implicit_deny", "explicit_deny"}


def _shut_policy_locks(scenario: dict[str, Any]) -> set[str]:
    expect = scenario["expect"]
    wanted = [expect.get("locks", {})]
    wanted += [p.get("locks", {}) for p in expect.get("principals", {}).values()]
    return {lock for locks in wanted for lock, status in locks.items() if status in DENY} & (
        POLICY_LOCKS
    )


# Findings about a policy (identity, bucket, key, ceilings): their fixes are documents.
POLICY_FINDING = ("KD1", "KD2", "KD3", "KD4")


def _policy_scenarios() -> list[str]:
    """Scenarios whose shut lock is a policy, and those that expect a finding about a policy
    (a warning with a tightening fix in a scenario that works; info findings change nothing)."""
    names = []
    for name in scenario_names():
        scenario = load_scenario(name)
        if scenario.get("moto_gap"):
            continue
        expect = scenario["expect"]
        several_shut = expect["verdict"] == "deny" and "principals" in expect
        about_policy = any(
            code.startswith(POLICY_FINDING) and REGISTRY[code].severity != "info"
            for code in expect.get("findings", [])
        )
        if _shut_policy_locks(scenario) or several_shut or about_policy:
            names.append(name)
    return names


POLICY_SCENARIOS = _policy_scenarios()


def _diagnose(box: Any) -> dict[str, Any]:
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    return json.loads(run.stdout)


def _results(report: dict[str, Any]) -> list[dict[str, Any]]:
    return report.get("principals", [report])


def _proven_fixes(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(principal, finding, fix) for each verified fix, one per distinct patched document."""
    seen: set[str] = set()
    found = []
    for result in _results(report):
        for finding in result["findings"]:
            fix = finding["fix"]
            if not fix or not fix["verified"]:
                continue
            key = json.dumps([fix["target"], fix["patched_policy"]], sort_keys=True)
            if key not in seen:
                seen.add(key)
                found.append((result["principal"], finding, fix))
    return found


# --- putting a document into moto, and putting the old one back ------------------------------


def _client(profile: str, service: str, region: str) -> Any:
    return boto3.Session(profile_name=profile, region_name=region).client(service)


def _apply(fix: dict[str, Any], region: str) -> Any:
    """Put the patched document where `fix.target` says; returns how to undo it."""
    target, document = fix["target"], json.dumps(fix["patched_policy"])
    kind, arn, name = target["kind"], target["arn"], target["policy_name"]
    if kind == "key_policy":
        kms = _client(PROFILE_SOURCE, "kms", arn.split(":")[3])
        old = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
        kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=document)
        return lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=old)
    if kind == "bucket_policy":
        s3 = _client(PROFILE_SOURCE, "s3", region)
        bucket = arn.rsplit(":", 1)[-1]
        try:
            old = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        except s3.exceptions.ClientError:
            old = None
        s3.put_bucket_policy(Bucket=bucket, Policy=document)
        if old is None:
            return lambda: s3.delete_bucket_policy(Bucket=bucket)
        return lambda: s3.put_bucket_policy(Bucket=bucket, Policy=old)
    iam = _client(PROFILE_TARGET, "iam", region)
    if kind == "role_inline_policy":
        role = arn.rsplit("/", 1)[-1]
        existing = iam.list_role_policies(RoleName=role)["PolicyNames"]
        old = (
            json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            if name in existing
            else None
        )
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)
        if old is None:
            return lambda: iam.delete_role_policy(RoleName=role, PolicyName=name)
        return lambda: iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=old)
    if kind in ("managed_policy", "permissions_boundary"):
        old = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
        return lambda: iam.set_default_policy_version(PolicyArn=arn, VersionId=old)
    raise AssertionError(f"no moto writer for {kind}")


def _command_matches(fix: dict[str, Any]) -> None:
    """The printed command names the same document the test writes."""
    command, kind = fix["apply_command"], fix["target"]["kind"]
    verb = {
        "key_policy": "put-key-policy",
        "bucket_policy": "put-bucket-policy",
        "role_inline_policy": "put-role-policy",
        "user_inline_policy": "put-user-policy",
        "managed_policy": "create-policy-version",
        "permissions_boundary": "create-policy-version",
    }[kind]
    assert f" {verb} " in command and "file://" in command, command


@pytest.mark.parametrize("name", POLICY_SCENARIOS)
def test_each_proven_fix_applied_to_moto_does_what_its_verification_says(name, sandbox):
    box = sandbox(name)
    before = _diagnose(box)
    fixes = _proven_fixes(before)
    assert fixes, "no proven fix"
    shut_fixed = {
        (principal, finding["lock"])
        for principal, finding, _ in fixes
        if finding["severity"] == "error"
    }
    shut = {
        (result["principal"], lock)
        for result in _results(before)
        for lock, state in result["locks"].items()
        if state["status"] in DENY and lock in POLICY_LOCKS
    }
    # Every shut policy lock has a proven fix (a principal shut by several locks: at least one).
    principals_shut = {principal for principal, _ in shut}
    assert principals_shut <= {principal for principal, _ in shut_fixed}, (
        shut,
        [
            (f["code"], f["fix"] and f["fix"]["verification"])
            for r in _results(before)
            for f in r["findings"]
        ],
    )

    for principal, finding, fix in fixes:
        _command_matches(fix)
        undo = _apply(fix, box.region)
        try:
            after = _diagnose(box)
        finally:
            undo()
        result = next(r for r in _results(after) if r["principal"] == principal)
        assert result["locks"][finding["lock"]]["status"] not in DENY, (
            finding["code"],
            fix["verification"],
        )
        still_shut = [lock for lock, s in result["locks"].items() if s["status"] in DENY]
        if "the next shut lock is" in fix["verification"]:
            for lock in still_shut:
                assert lock in fix["verification"], (finding["code"], lock)
        elif "the verdict would then be unknown" in fix["verification"]:
            assert result["verdict"] == "unknown" and not still_shut, finding["code"]
            undecided = [
                lock
                for lock, s in result["locks"].items()
                if s["status"] == "unknown" and lock not in CEILING_LOCKS
            ]
            for lock in undecided:
                assert f"{lock} could not be decided" in fix["verification"], lock
        else:
            assert result["verdict"] == "allow", (finding["code"], still_shut, fix["verification"])
