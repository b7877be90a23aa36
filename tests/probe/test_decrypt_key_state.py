"""`--probe-decrypt` when KMS refuses the key itself: DisabledException or
KMSInvalidStateException (pending deletion, pending import) from the caller's Decrypt reaches the
key_state lock and finding KD710 whatever the GET did, and the verdict follows docs/probe.md.
AWS's answers are injected at the botocore layer (moto_fixtures/faults.py); the connection reset
is raised where botocore sends the request."""

from __future__ import annotations

import botocore.exceptions
import pytest
from tenacity import wait_none

from kmsdoctor import aws
from tests.probe.helpers import (
    capture_requests,
    codes_and_locks,
    denied,
    diagnose_json,
    scenario_with_probe,
)


def _state_error(code: str, state: str) -> dict:
    return denied(code, f"arn:aws:kms:eu-west-1:111111111111:key/x is {state}.", 400)


@pytest.fixture
def connection_reset_on_get(monkeypatch):
    """The one-byte GET's connection is reset on every attempt: no decisive answer."""
    monkeypatch.setattr(aws, "RETRY_WAIT", wait_none())

    def reset(request):
        raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url)

    return capture_requests(monkeypatch, "GetObject", reset)


def _decrypt(report):
    return next(c for c in report["probe"]["calls"] if c["operation"] == "kms:Decrypt")


def test_pending_deletion_and_a_reset_get_is_unknown_with_kd710(
    sandbox, aws_faults, connection_reset_on_get
):
    """Before: the verdict stayed allow, exit 0, and nothing was said."""
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        kms_Decrypt=_state_error("KMSInvalidStateException", "pending deletion"),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")

    get = next(c for c in report["probe"]["calls"] if c["operation"] == "s3:GetObject")
    assert get["outcome"] == "error" and get["error_code"] == "ConnectionClosedError"
    assert report["verdict"] == "unknown" and exit_code == 3
    assert ("KD710", "key_state") in codes_and_locks(report)
    assert "pending deletion" in report["locks"]["key_state"]["evidence"]["probe_decrypt"]
    assert "pending deletion" in _decrypt(report)["meaning"]


def test_disabled_and_a_reset_get_is_unknown_with_kd710(
    sandbox, aws_faults, connection_reset_on_get
):
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        kms_Decrypt=_state_error("DisabledException", "disabled"),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")
    assert report["verdict"] == "unknown" and exit_code == 3
    kd710 = next(f for f in report["findings"] if f["code"] == "KD710")
    assert "(disabled)" in kd710["detail"] and "enable-key" in kd710["fix"]["change"]


def test_a_get_that_works_while_the_key_is_pending_deletion_mentions_the_deletion(
    sandbox, aws_faults
):
    """Before: "probe agrees" and nothing about a key about to be deleted."""
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        kms_Decrypt=_state_error("KMSInvalidStateException", "pending deletion"),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")
    assert report["verdict"] == "allow" and exit_code == 0  # the GET read its byte
    assert "pending deletion" in report["probe"]["summary"]
    kd710 = next(f for f in report["findings"] if f["code"] == "KD710")
    assert "reads work today and stop when the key is deleted" in kd710["detail"]


def test_pending_import_with_a_get_refused_for_the_key_is_deny(sandbox, aws_faults):
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        kms_Decrypt=_state_error("KMSInvalidStateException", "pending import"),
        s3_GetObject=denied(
            "KMS.KMSInvalidStateException",
            "arn:aws:kms:eu-west-1:111111111111:key/x is pending import.",
            400,
        ),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")
    assert report["verdict"] == "deny" and exit_code == 1
    assert ("KD710", "key_state") in codes_and_locks(report)
    kd710 = next(f for f in report["findings"] if f["code"] == "KD710")
    assert "pending import" in kd710["detail"]
