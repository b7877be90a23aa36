"""Mask AWS credentials in text before it can reach output, logs or snapshots.

People paste whatever their terminal shows: an error message, but also the `export AWS_...` lines
above it, a credentials file, a CloudTrail record with `accessKeyId`, a presigned URL. Anything
that prints user-supplied text runs it through `redact()` first.

What is masked:

- access key ids: `AKIA` (long-term) and `ASIA` (temporary) followed by 16 characters. The prefix
  is kept, because "a long-term key was used" is a useful clue and the prefix identifies nothing;
- the value after a secret keyword (`aws_secret_access_key`, `SecretAccessKey`, ...), and a
  40-character secret-looking token pasted right after an access key id (`AKIA... wJalr...`);
- session tokens: the value after `aws_session_token`, `SessionToken`, `X-Amz-Security-Token`,
  ..., and bare STS tokens recognised by their fixed leading bytes (`IQoJb3JpZ2lu...`,
  `FwoGZXIvYXdz...`);
- request signatures (`X-Amz-Signature=`, `Signature=` in an Authorization header): not
  credentials, but they authorise one request until it expires, so they are not echoed either.

Role and user unique ids (`AROA...`, `AIDA...`) are not secrets and are left alone: diagnosing a
key policy that names a deleted role depends on seeing them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")

# A secret access key is 40 characters of base64 alphabet. Matched only where its context says it
# is one (after a keyword or right after a key id), never on its own: too many harmless values
# (hashes, request ids) look the same.
_KEY_ID_THEN_SECRET = re.compile(
    r"\b((?:AKIA|ASIA)[A-Z0-9]{16})([\s,:;|/]+)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)

_SECRET_WORDS = (
    r"aws_secret_access_key|secret_access_key|secretaccesskey|aws_secret_key|secret_key"
    r"|aws_session_token|session_token|sessiontoken|aws_security_token|security_token"
    r"|x-amz-security-token|x-amz-signature"
)
# keyword, optional closing quote, separator (= or :), optional opening quote, then a value of at
# least 8 token characters. The minimum leaves `"secret_key": null` alone (masking it would make
# a JSON document invalid) and catches every real key, token or signature.
_KEYWORD_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b(?:{_SECRET_WORDS})\b["']?\s*[:=]\s*["']?)
    (?P<value>[A-Za-z0-9/+=%_.\-]{{8,}})
    """
)
_AUTH_SIGNATURE = re.compile(r"(?i)(\bSignature=)([0-9a-f]{16,})")

# STS session tokens start with fixed bytes ("!\n\torigin_ec" and older "\x17\n\x06er/aws"),
# which base64 always renders the same way; a bare token is therefore recognisable on its own.
_BARE_SESSION_TOKEN = re.compile(r"\b(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9/+=]{20,}")

_SECRET_KEY_NAMES = re.compile(rf"(?i)^(?:{_SECRET_WORDS}|secret|password|token)$")


def _mask_key_id(match: re.Match[str]) -> str:
    return match.group(1) + "*" * 16


def redact(text: str) -> str:
    """Return `text` with access key ids, secret keys, session tokens and signatures masked.

    Idempotent, and the masks contain no quote or backslash, so redacting a JSON document keeps
    it valid JSON.
    """
    text = _KEY_ID_THEN_SECRET.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _KEYWORD_VALUE.sub(lambda m: m.group("key") + REDACTED, text)
    text = _AUTH_SIGNATURE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BARE_SESSION_TOKEN.sub(REDACTED, text)
    return _ACCESS_KEY_ID.sub(_mask_key_id, text)


def redact_obj(value: Any) -> Any:
    """Redact a JSON-like structure: strings with `redact()`, and the whole value of any key
    named like a secret (`SecretAccessKey`, `SessionToken`, `password`, ...), whatever its form."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY_NAMES.match(key) and value[key] is not None
            else redact_obj(value[key])
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redact_obj(item) for item in value]
    return value
