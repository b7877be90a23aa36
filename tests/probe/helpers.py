"""Helpers for the probe tests: scenario tweaks, AWS's real messages, CloudTrail events as
LookupEvents returns them, and a way to look at requests as they are sent."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.handlers
import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app
from moto_fixtures.builder import load_scenario

A = "111111111111"
B = "222222222222"
ROLE = "BIAnalyticsRole"
SESSION = f"arn:aws:sts::{B}:assumed-role/{ROLE}/kmsdoctor-sandbox"
OBJECT_ARN = "arn:aws:s3:::datalake-curated-a/sales/2026/q1/regions.parquet"
# Collector calls made as B; anything else B signs is a probe call.
COLLECTOR_SERVICES_OF_B = ("sts:GetCallerIdentity", "iam:", "organizations:", "ec2:")
PROBE_OPERATIONS = {
    "sts:AssumeRole",
    "kms:DescribeKey",
    "kms:Decrypt",
    "s3:HeadObject",
    "s3:GetObject",
}


def scenario_with_probe(name: str, **entries: dict[str, Any]) -> dict[str, Any]:
    """A scenario whose probe section has these entries ("s3_GetObject" -> "s3:GetObject")."""
    scenario = copy.deepcopy(load_scenario(name))
    section = scenario.setdefault("probe", {})
    for key, entry in entries.items():
        section[key.replace("_", ":", 1)] = entry
    return scenario


def kms_denied(action: str, resource: str, policy: str = "resource-based policy") -> str:
    """AWS's AccessDenied sentence (implicit deny by `policy`), as S3 or KMS return it."""
    return (
        f"User: {SESSION} is not authorized to perform: {action} on resource: {resource} "
        f"because no {policy} allows the {action} action"
    )


def explicitly_denied(action: str, resource: str, policy: str) -> str:
    """AWS's AccessDenied sentence for an explicit Deny in `policy` ("service control policy")."""
    return (
        f"User: {SESSION} is not authorized to perform: {action} on resource: {resource} "
        f"with an explicit deny in a {policy}"
    )


def denied(code: str, message: str, status: int = 403) -> dict[str, Any]:
    return {"error_code": code, "http_status": status, "message": message}


def run_cli(*args: str) -> Any:
    run = CliRunner().invoke(app, list(args))
    if run.exception is not None and not isinstance(run.exception, SystemExit):
        raise run.exception
    return run


def diagnose_json(box: Any, *extra: str) -> tuple[dict[str, Any], int]:
    run = run_cli(*box.cli_args("diagnose", "--format", "json", *extra))
    return json.loads(run.stdout), run.exit_code


def codes_and_locks(report: dict[str, Any]) -> set[tuple[str, str]]:
    results = report.get("principals", [report])
    return {(f["code"], f["lock"]) for r in results for f in r["findings"]}


def calls_signed_by(aws_faults: Any, account: str) -> list[str]:
    """Operations sent with credentials of `account`, in order."""
    return [
        name
        for name, signer in aws_faults.signed_calls
        if signer is not None and signer.split(":")[4] == account
    ]


def capture_requests(
    monkeypatch: pytest.MonkeyPatch, wanted: str, change: Callable[[Any], None] | None = None
) -> list[Any]:
    """Keep every request of `wanted` ("s3.GetObject") as it is sent, optionally changing it
    first; registered ahead of aws_faults and moto, and answering nothing itself."""
    seen: list[Any] = []

    def look(request: Any, event_name: str, **_: Any) -> None:
        if event_name.endswith(f".{wanted}"):
            seen.append(request)
            if change is not None:
                change(request)

    handlers = [
        ("before-send", look, botocore.handlers.REGISTER_FIRST),
        *botocore.handlers.BUILTIN_HANDLERS,
    ]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    return seen


# --- CloudTrail, as LookupEvents returns it (wire format: epoch seconds, event JSON as text) ----

EVENT_ACCESS_KEY = "ASIAEVENTKEYEXAMPLE1"  # every CloudTrail event names one: it must not leak


def kms_event(
    *,
    trail_account: str,
    key_arn: str,
    role_id: str,
    role: str = ROLE,
    event_name: str = "Decrypt",
    error_code: str | None = "AccessDenied",
    error_message: str | None = None,
    minutes_ago: int = 5,
    event_id: str = "0f6b2c1e-1111-4a5b-9c8d-000000000001",
) -> dict[str, Any]:
    """One KMS event made by S3 on behalf of the role, as `trail_account`'s trail shows it:
    the caller's own copy names the session; the key owner's copy of a cross-account call shows
    only the account and principalId."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    session = f"arn:aws:sts::{B}:assumed-role/{role}/kmsdoctor-sandbox"
    if trail_account == B:
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:kmsdoctor-sandbox",
            "arn": session,
            "accountId": B,
            "accessKeyId": EVENT_ACCESS_KEY,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{B}:role/{role}",
                    "accountId": B,
                    "userName": role,
                },
                "attributes": {"creationDate": when.isoformat(), "mfaAuthenticated": "false"},
            },
            "invokedBy": "s3.amazonaws.com",
        }
    else:
        identity = {
            "type": "AWSAccount",
            "principalId": f"{role_id}:kmsdoctor-sandbox",
            "accountId": B,
            "invokedBy": "s3.amazonaws.com",
        }
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "s3.amazonaws.com",
        "userAgent": "s3.amazonaws.com",
        "requestParameters": {
            "encryptionContext": {"aws:s3:arn": OBJECT_ARN},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        "responseElements": None,
        "requestID": "7a1c2b3d-2222-4e5f-8a9b-000000000002",
        "eventID": event_id,
        "readOnly": True,
        "resources": [{"accountId": A, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": trail_account,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or kms_denied("kms:Decrypt", key_arn)
    return {
        "EventId": event_id,
        "EventName": event_name,
        "ReadOnly": "true",
        "AccessKeyId": EVENT_ACCESS_KEY,
        "EventTime": when.timestamp(),
        "EventSource": "kms.amazonaws.com",
        "Username": role if trail_account == B else f"{role_id}:kmsdoctor-sandbox",
        "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}],
        "CloudTrailEvent": json.dumps(record),
    }


def lookup_page(*events: dict[str, Any], next_token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"Events": list(events)}
    if next_token:
        page["NextToken"] = next_token
    return page
