"""`--probe-decrypt`: A encrypts a random value under the key with S3's encryption context, the
caller decrypts it. moto hides A's keys from B, so an "ok" answer lets moto decrypt for the key
owner — with moto's real check of the encryption context — and an error answer is AWS's."""

from __future__ import annotations

import base64

import pytest

import kmsdoctor.probe.decrypt as decrypt_module
from kmsdoctor.probe.subject import probe_subject
from tests.analyze.factories import BUCKET_ARN, OBJECT_ARN, make_object, make_snapshot
from tests.probe.helpers import (
    A,
    B,
    calls_signed_by,
    codes_and_locks,
    denied,
    diagnose_json,
    scenario_with_probe,
)

KMS_CIPHERTEXT_DENIAL = (
    "User: arn:aws:sts::222222222222:assumed-role/BIAnalyticsRole/kmsdoctor-probe is not "
    "authorized to perform: kms:Decrypt on the resource associated with this ciphertext because "
    "the resource does not exist in this Region, no resource-based policies allow access, or a "
    "resource-based policy explicitly denies access"
)


@pytest.fixture
def known_random_value(monkeypatch):
    value = b"RANDOM-PROBE-VALUE-0123456789abc"  # 32 bytes, like os.urandom(32)
    monkeypatch.setattr(decrypt_module.os, "urandom", lambda n: value[:n])
    return value


def _decrypt_call(report):
    return next(c for c in report["probe"]["calls"] if c["operation"] == "kms:Decrypt")


def test_round_trip_happy_path_decrypts_the_value_a_encrypted(
    sandbox, aws_faults, known_random_value
):
    scenario = scenario_with_probe("healthy-cross-account-read", kms_Decrypt={"ok": True})
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")

    call = _decrypt_call(report)
    assert call["outcome"] == "ok", call
    assert "plaintext matched" in call["detail"]
    assert report["probe"]["status"] == "agrees"
    assert report["verdict"] == "allow" and exit_code == 0
    assert "kms:Encrypt" in calls_signed_by(aws_faults, A)  # A encrypts ...
    assert "kms:Decrypt" in calls_signed_by(aws_faults, B)  # ... the caller decrypts
    assert "kms:Encrypt" not in calls_signed_by(aws_faults, B)


def test_round_trip_uses_s3s_encryption_context_so_a_wrong_one_fails(
    sandbox, aws_faults, known_random_value, monkeypatch
):
    """The check is real: with another context than the one A encrypted under, moto refuses."""
    original = decrypt_module.call

    def decrypt_with_bucket_context(aws_client, operation, **params):
        if operation == "Decrypt":
            params["EncryptionContext"] = {"aws:s3:arn": "arn:aws:s3:::datalake-curated-a"}
        return original(aws_client, operation, **params)

    monkeypatch.setattr(decrypt_module, "call", decrypt_with_bucket_context)
    box = sandbox(scenario_with_probe("healthy-cross-account-read", kms_Decrypt={"ok": True}))
    aws_faults.answer_probes(box)
    report, _ = diagnose_json(box, "--probe-decrypt")
    assert _decrypt_call(report)["error_code"] == "InvalidCiphertextException"


def test_a_via_service_key_policy_makes_the_direct_decrypt_denial_expected(
    sandbox, aws_faults, known_random_value
):
    scenario = scenario_with_probe(
        "key-policy-via-service-right-region",
        kms_Decrypt=denied("AccessDeniedException", KMS_CIPHERTEXT_DENIAL, 400),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box, "--probe-decrypt")

    call = _decrypt_call(report)
    assert call["error_code"] == "AccessDeniedException"
    assert call["error_message"] == KMS_CIPHERTEXT_DENIAL  # verbatim
    assert call["meaning"].startswith("denied, as expected")
    assert "kms:ViaService" in call["meaning"]
    assert ("KD701", "key_policy") in codes_and_locks(report)
    assert report["probe"]["status"] == "agrees"
    assert report["verdict"] == "allow" and exit_code == 0


def test_a_direct_decrypt_denied_without_a_via_service_condition_is_not_called_expected(
    sandbox, aws_faults, known_random_value
):
    scenario = scenario_with_probe(
        "healthy-cross-account-read",
        kms_Decrypt=denied("AccessDeniedException", KMS_CIPHERTEXT_DENIAL, 400),
    )
    box = sandbox(scenario)
    aws_faults.answer_probes(box)
    report, _ = diagnose_json(box, "--probe-decrypt")
    assert "KD701" not in {code for code, _ in codes_and_locks(report)}
    call = _decrypt_call(report)
    assert "the read through S3 works" in call["meaning"]
    assert report["verdict"] == "allow"  # the GET through S3 decides the read


def test_when_a_cannot_encrypt_the_decrypt_is_skipped_with_the_reason(
    sandbox, aws_faults, known_random_value
):
    box = sandbox(scenario_with_probe("healthy-cross-account-read", kms_Decrypt={"ok": True}))
    aws_faults.answer_probes(box)
    aws_faults.add(
        "kms", "Encrypt", "AccessDeniedException", "not authorized to Encrypt", account=A
    )
    report, _ = diagnose_json(box, "--probe-decrypt")
    call = _decrypt_call(report)
    assert call["outcome"] == "skipped"
    assert "A could not encrypt" in call["detail"] and "AccessDeniedException" in call["detail"]
    assert "kms:Decrypt" not in calls_signed_by(aws_faults, B)


def test_the_encryption_context_is_the_object_arn_or_the_bucket_arn_with_a_bucket_key():
    assert probe_subject(make_snapshot()).encryption_context == {"aws:s3:arn": OBJECT_ARN}
    with_bucket_key = make_snapshot(obj=make_object(bucket_key_enabled=True))
    assert probe_subject(with_bucket_key).encryption_context == {"aws:s3:arn": BUCKET_ARN}


def test_the_sealed_value_never_shows_its_bytes():
    sealed = decrypt_module.SealedValue(b"PLAIN", b"CIPHER", "arn:key", {"aws:s3:arn": "x"})
    text = repr(sealed)
    assert "PLAIN" not in text and "CIPHER" not in text
    assert base64.b64encode(b"PLAIN").decode() not in text
