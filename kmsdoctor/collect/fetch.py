"""Small helpers shared by the collectors: outcomes to `Fetched`, policy text to JSON,
independent thunks run concurrently (`worker_pool` itself lives in `kmsdoctor.concurrency`)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from kmsdoctor.aws import CallResult
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.snapshot import CallError, Fetched

T = TypeVar("T")


def to_fetched(
    result: CallResult,
    convert: Callable[[dict[str, Any]], T],
    absent_codes: Collection[str] = (),
) -> Fetched[T]:
    """`ok` with the converted response; `absent` when AWS's error code says the thing does not
    exist; `unknown` with the error otherwise."""
    if result.ok:
        assert result.response is not None
        return Fetched.ok(convert(result.response))
    assert result.error is not None
    if result.error.code in absent_codes:
        return Fetched.absent(result.error)
    return Fetched.unknown(result.error)


def first_failure(results: list[CallResult]) -> CallError | None:
    return next((r.error for r in results if r.error is not None), None)


def parse_policy_document(document: Any) -> Any:
    """A policy as parsed JSON, or the raw text when it does not parse.

    botocore already decodes IAM's URL-encoded documents into dicts; S3 and KMS return JSON
    text; a few IAM paths (and older SDKs) still hand over the URL-encoded form.
    """
    if not isinstance(document, str):
        return document
    for text in (document, urllib.parse.unquote(document)):
        try:
            parsed = json.loads(text, object_pairs_hook=_refuse_repeated_keys)
        except _RepeatedKey:
            # Keep the text: parsing would drop all but the last repeated key, and the policy
            # engine reports which check that silently removes (finding KD801).
            return text
        except (json.JSONDecodeError, RecursionError):
            continue
        return parsed
    return document


class _RepeatedKey(ValueError):
    pass


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for key, value in pairs:
        if key in decoded:
            raise _RepeatedKey(key)
        decoded[key] = value
    return decoded


def iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def parallel(*thunks: Callable[[], Any]) -> list[Any]:
    """Run independent calls at once and return their results in order.

    Each use gets its own small pool, so a task that itself fans out can never starve the pool
    it runs in (no deadlock however deep the nesting).
    """
    if len(thunks) <= 1:
        return [thunk() for thunk in thunks]
    with worker_pool(min(len(thunks), 16)) as pool:
        futures = [pool.submit(thunk) for thunk in thunks]
        return [future.result() for future in futures]
