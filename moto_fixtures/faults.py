"""Answers AWS gives but moto does not, injected at the botocore layer.

moto enforces no bucket or key policy and no IAM permission, so a test that needs AWS's
`AccessDeniedException` (or a throttle, or a 500) gets it here: a `before-send` handler returns a
raw HTTP response with the exact body AWS sends for that service's protocol. botocore's real
parser then reads it, so the code under test sees the same modeled exception and error code as
against AWS. (A botocore Stubber would skip both.)

Handlers are installed through `botocore.handlers.BUILTIN_HANDLERS`, registered first, so every
session created afterwards, including the ones the CLI creates, sees them before moto answers.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import botocore.handlers
import botocore.session
from botocore.awsrequest import AWSResponse


class _RawBody(io.BytesIO):
    """The `raw` an AWSResponse reads its body from (urllib3-like `stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


@functools.cache
def _protocol(service: str) -> str:
    return botocore.session.get_session().get_service_model(service).protocol


def error_response(
    service: str, code: str, message: str, status: int, url: str, method: str = "POST"
) -> AWSResponse:
    """The HTTP response AWS sends for an error, in the service's wire protocol."""
    request_id = str(uuid.uuid4())
    protocol = _protocol(service)
    headers = {"x-amzn-RequestId": request_id}
    if protocol in ("json", "rest-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message})
    elif protocol == "ec2":
        headers["Content-Type"] = "text/xml"
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "query":
        headers["Content-Type"] = "text/xml"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    else:  # rest-xml: S3
        headers["Content-Type"] = "application/xml"
        headers["x-amz-request-id"] = request_id
        # S3 answers HEAD errors with no body at all: the client only sees "403" / "404".
        body = (
            ""
            if method == "HEAD"
            else f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    return AWSResponse(url, status, headers, _RawBody(body.encode()))


@dataclass
class Fault:
    service: str  # "kms", "s3", "iam", "sts", "organizations", "ec2"
    operation: str  # "GetKeyPolicy"
    code: str  # "AccessDeniedException"
    message: str = ""
    status: int = 400
    times: int | None = None  # None: every call; n: only the next n calls


@dataclass
class AwsFaults:
    """Registry of injected answers, and a log of every AWS call made while installed."""

    faults: list[Fault] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # "kms:GetKeyPolicy", in order of sending
    observers: list[Callable[[str], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        service: str,
        operation: str,
        code: str,
        message: str = "",
        status: int = 400,
        times: int | None = None,
    ) -> Fault:
        fault = Fault(service, operation, code, message, status, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def deny(
        self,
        service: str,
        operation: str,
        principal_arn: str,
        resource: str,
        policy_kind: str = "identity-based",  # or "resource-based"
    ) -> Fault:
        """AWS's AccessDenied for `operation`, with the message format AWS uses."""
        json_protocol = _protocol(service) in ("json", "rest-json")
        code = "AccessDeniedException" if json_protocol else "AccessDenied"
        status = 400 if json_protocol else 403
        message = (
            f"User: {principal_arn} is not authorized to perform: {service}:{operation} on "
            f"resource: {resource} because no {policy_kind} policy allows the "
            f"{service}:{operation} action"
        )
        return self.add(service, operation, code, message, status)

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        # event_name: "before-send.kms.GetKeyPolicy"
        _, service, operation = event_name.split(".", 2)
        name = f"{service}:{operation}"
        with self._lock:
            self.calls.append(name)
            fault = next(
                (f for f in self.faults if (f.service, f.operation) == (service, operation)), None
            )
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        for observe in list(self.observers):
            observe(name)
        if fault is None:
            return None  # moto answers
        return error_response(
            service, fault.code, fault.message, fault.status, request.url, request.method
        )

    def install(self, monkeypatch: Any) -> AwsFaults:
        """Register for all sessions created from now on, ahead of moto's own handler."""
        handlers = [
            ("before-send", self, botocore.handlers.REGISTER_FIRST),
            *botocore.handlers.BUILTIN_HANDLERS,
        ]
        monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
        return self
