"""The calls made as one principal, each recorded as a `ProbeCall`.

What each call can prove (the reconciliation reads them this way):

- `sts:GetCallerIdentity` — who the probe really ran as (needs no permission);
- `kms:DescribeKey` on the key ARN — the caller can see the key. Denied cross-account is common
  (key policies often grant only kms:Decrypt) and says nothing about Decrypt;
- `s3:HeadObject` — authorised as s3:GetObject, but S3 calls no KMS for it: it tests the S3 half;
- `s3:GetObject` of one byte — the whole read, S3 half and KMS half. A HEAD that succeeds while
  the GET fails points at the KMS half.

The one byte is read into a local and dropped at once: only its length is recorded.
"""

from __future__ import annotations

from typing import Any

from kmsdoctor.aws import CallResult, call
from kmsdoctor.probe.callers import Clients
from kmsdoctor.probe.subject import ProbeSubject
from kmsdoctor.snapshot import ProbeCall

ONE_BYTE = "bytes=0-0"


def recorded(principal_arn: str, result: CallResult, detail: str = "", **facts: str) -> ProbeCall:
    """A ProbeCall from a CallResult: AWS's error code and (already redacted) message verbatim."""
    if result.ok:
        return ProbeCall(
            principal_arn=principal_arn,
            operation=result.operation,
            outcome="ok",
            http_status=result.http_status,
            detail=detail,
            facts=dict(facts),
        )
    assert result.error is not None
    return ProbeCall(
        principal_arn=principal_arn,
        operation=result.operation,
        outcome="error",
        error_code=result.error.code,
        error_message=result.error.message,
        http_status=result.http_status,
        detail=detail,
        facts=dict(facts),
    )


def skipped(principal_arn: str, operation: str, why: str) -> ProbeCall:
    return ProbeCall(
        principal_arn=principal_arn, operation=operation, outcome="skipped", detail=why
    )


def who_am_i(clients: Clients, principal_arn: str, region: str) -> ProbeCall:
    sts = clients.sts(region)
    result = clients.read_once(("sts:GetCallerIdentity",), lambda: call(sts, "GetCallerIdentity"))
    if not result.ok:
        return recorded(principal_arn, result)
    assert result.response is not None
    session_arn = str(result.response.get("Arn", ""))
    return recorded(principal_arn, result, f"the probe ran as {session_arn}", arn=session_arn)


def describe_key(clients: Clients, principal_arn: str, subject: ProbeSubject) -> ProbeCall:
    if subject.key_arn is None:
        return skipped(principal_arn, "kms:DescribeKey", f"not run: {subject.why_no_key}")
    kms = clients.kms(subject.key_region)
    key_arn = subject.key_arn
    result = clients.read_once(
        ("kms:DescribeKey", key_arn), lambda: call(kms, "DescribeKey", KeyId=key_arn)
    )
    if not result.ok:
        return recorded(principal_arn, result)
    assert result.response is not None
    metadata = result.response.get("KeyMetadata", {})
    state = str(metadata.get("KeyState", ""))
    return recorded(
        principal_arn,
        result,
        f"the caller can see {subject.key_arn} (state {state or 'not given'})",
        key_state=state,
    )


def head_object(clients: Clients, principal_arn: str, subject: ProbeSubject) -> ProbeCall:
    if subject.object_key is None:
        return skipped(principal_arn, "s3:HeadObject", "not run: no object key was given")
    s3 = clients.s3(subject.s3_region)
    bucket, object_key = subject.bucket, subject.object_key
    result = clients.read_once(
        ("s3:HeadObject", bucket, object_key),
        lambda: call(s3, "HeadObject", Bucket=bucket, Key=object_key),
    )
    return recorded(principal_arn, result, "S3 half only: HEAD is authorised as s3:GetObject")


def get_one_byte(clients: Clients, principal_arn: str, subject: ProbeSubject) -> ProbeCall:
    if subject.object_key is None:
        return skipped(principal_arn, "s3:GetObject", "not run: no object key was given")
    s3 = clients.s3(subject.s3_region)
    result = call(s3, "GetObject", Bucket=subject.bucket, Key=subject.object_key, Range=ONE_BYTE)
    if not result.ok:
        return recorded(principal_arn, result)
    assert result.response is not None
    bytes_read = _discard_body(result.response)
    return recorded(
        principal_arn,
        result,
        f"read {bytes_read} byte(s) of the object and discarded them",
        bytes_read=str(bytes_read),
    )


def _discard_body(response: dict[str, Any]) -> int:
    """Read the streamed body and drop it: only its length leaves this function."""
    body = response.pop("Body", None)
    if body is None:
        return 0
    try:
        return len(body.read())
    finally:
        body.close()


def write_not_probed(principal_arn: str) -> ProbeCall:
    return skipped(
        principal_arn,
        "s3:PutObject",
        "the write itself is not probed: kmsdoctor is read-only and never calls s3:PutObject "
        "or kms:GenerateDataKey; only the read-only calls were made",
    )
