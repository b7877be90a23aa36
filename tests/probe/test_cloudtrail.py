"""`--cloudtrail`: LookupEvents in A's and B's trails. moto 5 does not implement LookupEvents
(NotImplementedError), so each account's answer is injected at the botocore layer as the JSON
CloudTrail returns (events with their own record as text), and botocore parses it for real."""

from __future__ import annotations

import json

import pytest

from kmsdoctor.probe.cloudtrail import LOOKBACK, MAX_PAGES, PAGE_SIZE
from tests.probe.helpers import (
    EVENT_ACCESS_KEY,
    ROLE,
    A,
    B,
    calls_signed_by,
    capture_requests,
    codes_and_locks,
    diagnose_json,
    kms_event,
    lookup_page,
    run_cli,
)


def _entries(report):
    return {entry["account"]: entry for entry in report["probe"]["cloudtrail"]}


def test_denials_in_the_key_owners_trail_agree_with_a_shut_key_policy(sandbox, aws_faults):
    box = sandbox("key-policy-missing-principal")
    aws_faults.answer_probes(box)
    key, role_id = box.key_arns["data"], box.role_ids[ROLE]
    aws_faults.respond(
        "cloudtrail",
        "LookupEvents",
        lookup_page(
            kms_event(trail_account=A, key_arn=key, role_id=role_id),
            # not this principal, not this key, not a denial: all ignored
            kms_event(trail_account=A, key_arn=key, role_id="AROAOTHERROLE0000001", role="Other"),
            kms_event(trail_account=A, key_arn=key.replace("-", "0", 1), role_id=role_id),
            kms_event(trail_account=A, key_arn=key, role_id=role_id, error_code=None),
        ),
        account=A,
    )
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(), account=B)
    report, exit_code = diagnose_json(box, "--cloudtrail")

    entries = _entries(report)
    assert entries[A]["denied_events"] == 1
    assert entries[A]["latest"]["error_code"] == "AccessDenied"
    assert "kms:Decrypt" in entries[A]["latest"]["error_message"]
    assert entries[B]["denied_events"] == 0
    assert "KD709" not in {code for code, _ in codes_and_locks(report)}
    assert "A's trail" in report["locks"]["key_policy"]["evidence"]["cloudtrail_lookup"]
    assert exit_code == 1
    assert "cloudtrail:LookupEvents" in calls_signed_by(aws_faults, A)
    assert "cloudtrail:LookupEvents" in calls_signed_by(aws_faults, B)
    text = run_cli(*box.cli_args("diagnose", "--cloudtrail")).stdout
    for output in (json.dumps(report), text):
        assert EVENT_ACCESS_KEY not in output


@pytest.mark.parametrize(
    ("name", "trail_account", "contradicted_lock"),
    [
        # Failure A (identity) but the denials sit in the key owner's trail ...
        ("identity-missing-kms-decrypt", A, "key_policy"),
        # ... Failure C (key policy) but the denials sit in the caller's trail.
        ("key-policy-missing-principal", B, "identity"),
    ],
)
def test_denials_in_the_other_accounts_trail_contradict_the_analysis(
    name, trail_account, contradicted_lock, sandbox, aws_faults
):
    box = sandbox(name)
    aws_faults.answer_probes(box)
    event = kms_event(
        trail_account=trail_account, key_arn=box.key_arns["data"], role_id=box.role_ids[ROLE]
    )
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(event), account=trail_account)
    other = B if trail_account == A else A
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(), account=other)
    report, exit_code = diagnose_json(box, "--cloudtrail")
    assert ("KD709", contradicted_lock) in codes_and_locks(report)
    assert exit_code == 1  # CloudTrail is evidence; it never changes the verdict


def test_the_lookup_is_bounded_in_time_and_pages_and_read_only(sandbox, aws_faults, monkeypatch):
    box = sandbox("healthy-cross-account-read")
    aws_faults.answer_probes(box)
    sent = capture_requests(monkeypatch, "LookupEvents")
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(), account=A)
    aws_faults.respond(
        "cloudtrail", "LookupEvents", lookup_page(next_token="more-events-page"), account=B
    )
    report, _ = diagnose_json(box, "--cloudtrail")

    assert calls_signed_by(aws_faults, B).count("cloudtrail:LookupEvents") == MAX_PAGES
    assert calls_signed_by(aws_faults, A).count("cloudtrail:LookupEvents") == 1
    assert "only the newest 5 page(s) were read" in _entries(report)[B]["detail"]
    for request in sent:
        params = json.loads(request.body)
        assert params["LookupAttributes"] == [
            {"AttributeKey": "EventName", "AttributeValue": "Decrypt"}
        ]
        assert params["EndTime"] - params["StartTime"] == LOOKBACK.total_seconds()
        assert params["MaxResults"] == PAGE_SIZE
    tokens = [json.loads(r.body).get("NextToken") for r in sent]
    assert tokens.count("more-events-page") == MAX_PAGES - 1


def test_a_trail_that_cannot_be_searched_is_reported_and_the_diagnosis_goes_on(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    aws_faults.answer_probes(box)
    aws_faults.add(
        "cloudtrail",
        "LookupEvents",
        "AccessDeniedException",
        f"User: arn:aws:sts::{A}:assumed-role/kmsdoctor-fixture-admin/kmsdoctor-sandbox is not "
        "authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows "
        "the cloudtrail:LookupEvents action",
        account=A,
    )
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(), account=B)
    report, exit_code = diagnose_json(box, "--cloudtrail")
    entries = _entries(report)
    assert entries[A]["outcome"] == "error"
    assert entries[A]["error"].startswith("AccessDeniedException: User:")
    assert entries[B]["outcome"] == "ok"
    assert exit_code == 0 and report["probe"]["status"] == "agrees"


def test_cloudtrail_without_probe_looks_up_and_makes_no_call_as_the_caller(sandbox, aws_faults):
    box = sandbox("key-policy-missing-principal")
    aws_faults.answer_probes(box)
    event = kms_event(trail_account=A, key_arn=box.key_arns["data"], role_id=box.role_ids[ROLE])
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(event), account=A)
    aws_faults.respond("cloudtrail", "LookupEvents", lookup_page(), account=B)
    report, _ = diagnose_json(box, "--cloudtrail", "--no-probe")
    assert report["probe"]["summary"] == "no call was made as the caller; CloudTrail lookups only"
    assert report["probe"]["calls"] == []
    assert _entries(report)[A]["denied_events"] == 1
    assert not {"s3:GetObject", "s3:HeadObject", "kms:DescribeKey"} & set(
        calls_signed_by(aws_faults, B)
    )
