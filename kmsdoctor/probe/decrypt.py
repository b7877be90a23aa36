"""The opt-in `kms:Decrypt` round trip (`--probe-decrypt`).

Account A (the source profile) encrypts a fresh random value under the key, with the encryption
context S3 itself would send (`aws:s3:arn` = the object ARN, or the bucket ARN with an S3 Bucket
Key); the caller then decrypts it with the same context. The plaintext is compared in memory and
dropped; neither it nor the ciphertext is ever recorded, logged or printed.

A direct Decrypt is not the S3 path: there is no `kms:ViaService` in it. So a key policy that
allows the caller only through S3 denies this call, and that says nothing about reads through
S3 — the reconciliation knows, from the analysed statements, when that is expected.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from typing import Any

from kmsdoctor.aws import call
from kmsdoctor.probe.callers import Clients
from kmsdoctor.probe.calls import recorded, skipped
from kmsdoctor.probe.subject import ProbeSubject
from kmsdoctor.snapshot import CallError, ProbeCall

RANDOM_VALUE_BYTES = 32


@dataclass(frozen=True)
class SealedValue:
    """A random value and A's ciphertext of it. In memory only; repr shows neither."""

    plaintext: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    key_arn: str
    encryption_context: dict[str, str]


def seal_random_value(source: Clients, subject: ProbeSubject) -> SealedValue | CallError | str:
    """Encrypt a fresh random value as A. Returns the sealed value, A's error, or why not run."""
    if subject.operation != "read":
        return "not run: a write needs kms:GenerateDataKey, which kmsdoctor does not call"
    if subject.key_arn is None:
        return f"not run: {subject.why_no_key}"
    if subject.encryption_context is None:
        return "not run: no object key was given, so the encryption context S3 sends is not known"
    plaintext = os.urandom(RANDOM_VALUE_BYTES)
    kms = source.kms(subject.key_region)
    result = call(
        kms,
        "Encrypt",
        KeyId=subject.key_arn,
        Plaintext=plaintext,
        EncryptionContext=subject.encryption_context,
    )
    if not result.ok:
        assert result.error is not None
        return result.error
    assert result.response is not None
    return SealedValue(
        plaintext=plaintext,
        ciphertext=result.response["CiphertextBlob"],
        key_arn=subject.key_arn,
        encryption_context=dict(subject.encryption_context),
    )


def decrypt_as_caller(
    clients: Clients, principal_arn: str, sealed: SealedValue | CallError | str, region: str
) -> ProbeCall:
    if isinstance(sealed, str):
        return skipped(principal_arn, "kms:Decrypt", sealed)
    if isinstance(sealed, CallError):
        return skipped(
            principal_arn,
            "kms:Decrypt",
            f"not run: A could not encrypt the test value ({sealed.operation} failed with "
            f"{sealed.code}: {sealed.message})",
        )
    context_text = ", ".join(f"{k}={v}" for k, v in sealed.encryption_context.items())
    kms = clients.kms(region)
    result = call(
        kms,
        "Decrypt",
        CiphertextBlob=sealed.ciphertext,
        EncryptionContext=sealed.encryption_context,
        KeyId=sealed.key_arn,
    )
    if not result.ok:
        return recorded(
            principal_arn,
            result,
            f"direct Decrypt (not through S3) with encryption context {context_text}",
            encryption_context=context_text,
        )
    assert result.response is not None
    matched = _same_plaintext(result.response, sealed.plaintext)
    detail = (
        "the caller decrypted A's random value under the S3 encryption context "
        f"({context_text}); the plaintext matched and was discarded"
        if matched
        else "KMS answered, but the plaintext did not match the value A encrypted"
    )
    call_record = recorded(
        principal_arn,
        result,
        detail,
        encryption_context=context_text,
        plaintext_matched="true" if matched else "false",
    )
    if not matched:
        call_record.outcome = "error"
        call_record.error_code = "PlaintextMismatch"
    return call_record


def _same_plaintext(response: dict[str, Any], expected: bytes) -> bool:
    """Compare and drop: the decrypted bytes never leave this function."""
    plaintext = response.pop("Plaintext", b"")
    return hmac.compare_digest(bytes(plaintext), expected)
