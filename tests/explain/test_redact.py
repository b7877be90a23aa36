"""`redact()` keeps credentials pasted along with an error out of every output."""

from __future__ import annotations

import json

import pytest

from kmsdoctor.redact import REDACTED, redact, redact_obj

# AWS's documented example credentials.
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TEMP_KEY_ID = "ASIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/+=="


@pytest.mark.parametrize(
    "pasted",
    [
        f"aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}",
        f"export AWS_ACCESS_KEY_ID={TEMP_KEY_ID}\nexport AWS_SECRET_ACCESS_KEY='{SECRET}'",
        f'{{"AccessKeyId": "{TEMP_KEY_ID}", "SecretAccessKey": "{SECRET}"}}',
        f"{KEY_ID} {SECRET}",
        f"{KEY_ID},{SECRET}",
        f"secretAccessKey: {SECRET}",
    ],
)
def test_secret_access_key_never_survives(pasted):
    out = redact(pasted)
    assert SECRET not in out
    assert KEY_ID not in out and TEMP_KEY_ID not in out


@pytest.mark.parametrize(
    "pasted",
    [
        f"aws_session_token = {TOKEN}",
        f'"SessionToken": "{TOKEN}"',
        f"AWS_SESSION_TOKEN={TOKEN}",
        f"X-Amz-Security-Token={TOKEN.replace('/', '%2F')}&X-Amz-Date=20240101T000000Z",
        # A bare STS token, pasted without its variable name.
        f"token was {TOKEN} then",
        "old token FwoGZXIvYXdzEBYaDEXAMPLEEXAMPLEEXAMPLEEXAMPLE",
    ],
)
def test_session_token_never_survives(pasted):
    out = redact(pasted)
    assert REDACTED in out
    assert "IQoJb3JpZ2luX2VjEXAMPLE" not in out and "FwoGZXIvYXdzEBYa" not in out


def test_access_key_id_keeps_its_prefix_only():
    # AKIA vs ASIA (long-term vs temporary) is a useful clue and identifies nobody.
    assert redact(f"key {KEY_ID} and {TEMP_KEY_ID}.") == "key AKIA" + "*" * 16 + (
        " and ASIA" + "*" * 16 + "."
    )


def test_presigned_url_signature_and_credential_are_masked():
    url = (
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
        f"{TEMP_KEY_ID}%2F20240101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature="
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    out = redact(url)
    assert TEMP_KEY_ID not in out
    assert "0123456789abcdef0123" not in out
    assert out.startswith("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&")


def test_error_message_without_credentials_is_unchanged():
    message = (
        "User: arn:aws:sts::222222222222:assumed-role/Reader/s is not authorized to perform: "
        "kms:Decrypt on resource: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-"
        "1234567890ab because no resource-based policy allows the kms:Decrypt action"
    )
    assert redact(message) == message


def test_unique_ids_and_request_ids_are_not_mistaken_for_secrets():
    # AROA... ids matter for key policies naming deleted roles; request ids are needed for support.
    text = (
        "principal AROAEXAMPLEID12345678 request id 45V16V31G01JFASB host id "
        "kW0M7+PFX6X0wxcmlK7pXmxFkeBHM2zYJWFgU8iBKgPqHyb6YBUOzViWIrk8bDtk="
    )
    assert redact(text) == text


def test_redacting_json_keeps_it_json():
    document = json.dumps(
        {
            "Credentials": {
                "AccessKeyId": TEMP_KEY_ID,
                "SecretAccessKey": SECRET,
                "SessionToken": TOKEN,
            },
            "secret_key": None,
        }
    )
    parsed = json.loads(redact(document))
    assert parsed["Credentials"]["SecretAccessKey"] == REDACTED
    assert parsed["Credentials"]["SessionToken"] == REDACTED
    assert parsed["secret_key"] is None


def test_redact_is_idempotent():
    once = redact(f"{KEY_ID} {SECRET} aws_session_token={TOKEN}")
    assert redact(once) == once


def test_redact_obj_masks_secret_named_keys_whatever_the_value():
    value = {
        "Credentials": {"AccessKeyId": TEMP_KEY_ID, "SecretAccessKey": "short", "SessionToken": 7},
        "items": [{"password": "hunter2"}, f"note {KEY_ID}"],
        "count": 3,
    }
    assert redact_obj(value) == {
        "Credentials": {
            "AccessKeyId": "ASIA" + "*" * 16,
            "SecretAccessKey": REDACTED,
            "SessionToken": REDACTED,
        },
        "items": [{"password": REDACTED}, "note AKIA" + "*" * 16],
        "count": 3,
    }
