"""Answers AWS gives but moto does not, injected at the botocore layer.

moto enforces no bucket or key policy and no IAM permission, so a test that needs AWS's
`AccessDeniedException` (or a throttle, or a 500) gets it here: a `before-send` handler returns a
raw HTTP response with the exact body AWS sends for that service's protocol. botocore's real
parser then reads it, so the code under test sees the same modeled exception and error code as
against AWS. (A botocore Stubber would skip both.)

Handlers are installed through `botocore.handlers.BUILTIN_HANDLERS`, registered first, so every
session created afterwards, including the ones the CLI creates, sees them before moto answers.

A fault may be limited to calls signed by one account or one role (`account=`, `role=`): the
handler reads the access key id from the request's signature and knows whose it is — the sandbox
profiles' keys from its credentials file (`know_sandbox`), and every key `sts:AssumeRole` hands
out afterwards (an `after-call` handler reads the answer). That is how the probe's calls, made
as the caller in B, get the answers a scenario's `probe` section gives (`answer_probes`), while
the collector's calls as A and B still reach moto. Besides an error, a fault can answer with a
success body (`respond`, e.g. CloudTrail LookupEvents, which moto does not implement) or let moto
answer as another profile (`relay_as`): moto shows account B nothing of A's keys, so a KMS call
AWS would allow the caller is answered by moto for the key owner instead, with moto's real
checks (a Decrypt under the wrong encryption context still fails).
"""

from __future__ import annotations

import configparser
import functools
import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import botocore.handlers
import botocore.session
from botocore.awsrequest import AWSResponse

from moto_fixtures.builder import CALLER_SESSION_NAME, FIXTURE_ADMIN_ROLE, PROFILE_SOURCE


class _RawBody(io.BytesIO):
    """The `raw` an AWSResponse reads its body from (urllib3-like `stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


@functools.cache
def _protocol(service: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    # The protocol a client speaks: botocore picks it from the model's `protocols` (CodePipeline
    # lists RPCv2 CBOR first, but botocore's clients speak its JSON protocol).
    return getattr(model, "resolved_protocol", None) or model.protocol


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


def success_response(service: str, body: dict[str, Any] | str, url: str) -> AWSResponse:
    """A 200 answer with `body` as the service sends it on the wire: for JSON protocols a dict
    (timestamps as epoch seconds, blobs base64, nested JSON documents as strings); for S3
    (rest-xml) the XML document as text."""
    protocol = _protocol(service)
    if protocol == "rest-xml" and isinstance(body, str):
        headers = {"x-amz-request-id": str(uuid.uuid4()), "Content-Type": "application/xml"}
        return AWSResponse(url, 200, headers, _RawBody(body.encode()))
    if protocol not in ("json", "rest-json") or isinstance(body, str):
        raise ValueError(f"success bodies are supported for JSON services, not {service}")
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(url, 200, headers, _RawBody(json.dumps(body).encode()))


@dataclass
class Fault:
    service: str  # "kms", "s3", "iam", "sts", "organizations", "ec2"
    operation: str  # "GetKeyPolicy"
    code: str  # "AccessDeniedException"
    message: str = ""
    status: int = 400
    times: int | None = None  # None: every call; n: only the next n calls
    account: str | None = None  # only calls signed with credentials of this account
    role: str | None = None  # only calls signed as a session of this role (name)
    # answer 200 with this body instead of an error (S3: the XML text)
    body: dict[str, Any] | str | None = None
    relay_as: dict[str, str] | None = None  # let moto answer, signed with these credentials

    def matches(self, service: str, operation: str, signer: str | None) -> bool:
        if (self.service, self.operation) != (service, operation):
            return False
        if self.account is None and self.role is None:
            return True
        if signer is None:
            return False
        if self.account is not None and _account_of(signer) != self.account:
            return False
        return self.role is None or _role_of(signer) == self.role


def _account_of(principal_arn: str) -> str:
    parts = principal_arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def _role_of(principal_arn: str) -> str | None:
    """`arn:aws:sts::B:assumed-role/NAME/session` -> NAME."""
    resource = principal_arn.split(":", 5)[-1]
    if resource.startswith("assumed-role/"):
        return resource.split("/")[1]
    return None


_SIGNING_KEY = re.compile(r"Credential=([A-Z0-9]+)/")


def signing_key(request: Any) -> str | None:
    """The access key id a SigV4 request was signed with."""
    header = request.headers.get("Authorization") or b""
    text = header.decode() if isinstance(header, bytes) else str(header)
    match = _SIGNING_KEY.search(text)
    return match.group(1) if match else None


def _relay(request: Any, creds: dict[str, str]) -> None:
    """Make moto read the request as signed by `creds` (moto checks no signature; it takes the
    account from the access key id)."""
    header = request.headers.get("Authorization") or b""
    text = header.decode() if isinstance(header, bytes) else str(header)
    request.headers["Authorization"] = _SIGNING_KEY.sub(
        f"Credential={creds['aws_access_key_id']}/", text
    )
    if creds.get("aws_session_token"):
        request.headers["X-Amz-Security-Token"] = creds["aws_session_token"]


@dataclass
class AwsFaults:
    """Registry of injected answers, and a log of every AWS call made while installed."""

    faults: list[Fault] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # "kms:GetKeyPolicy", in order of sending
    observers: list[Callable[[str], None]] = field(default_factory=list)
    # access key id -> the principal it signs as (sandbox profiles, then every AssumeRole answer)
    signers: dict[str, str] = field(default_factory=dict)
    # "service:Operation" and the principal ARN of every call made, in order of sending
    signed_calls: list[tuple[str, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # ids of requests answered here: moto must not also run them (botocore calls every
    # before-send handler and takes the first answer; moto raises for what it lacks)
    _answered: set[int] = field(default_factory=set)

    def add(
        self,
        service: str,
        operation: str,
        code: str,
        message: str = "",
        status: int = 400,
        times: int | None = None,
        account: str | None = None,
        role: str | None = None,
    ) -> Fault:
        """Answer `service:operation` with AWS's error; `account` / `role` limit it to calls
        signed as that account or role (see `know_sandbox`)."""
        fault = Fault(service, operation, code, message, status, times, account, role)
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

    def respond(
        self,
        service: str,
        operation: str,
        body: dict[str, Any] | str,
        account: str | None = None,
        role: str | None = None,
    ) -> Fault:
        """Answer 200 with `body` (wire format) — for calls moto does not implement."""
        fault = Fault(service, operation, "", account=account, role=role, body=body)
        with self._lock:
            self.faults.append(fault)
        return fault

    def know_sandbox(self, box: Any) -> dict[str, dict[str, str]]:
        """Learn whose keys the sandbox's profiles hold; returns the credentials by profile."""
        credentials = configparser.ConfigParser()
        credentials.read(Path(box.credentials_path), encoding="utf-8")
        profiles = {name: dict(credentials[name]) for name in credentials.sections()}
        accounts = box.scenario["accounts"]
        caller = box.scenario["target"].get("caller", "")
        with self._lock:
            for name, creds in profiles.items():
                account, role = (
                    (accounts["source"], FIXTURE_ADMIN_ROLE)
                    if name == PROFILE_SOURCE
                    else (accounts["target"], caller)
                )
                arn = f"arn:aws:sts::{account}:assumed-role/{role}/{CALLER_SESSION_NAME}"
                self.signers[creds["aws_access_key_id"]] = arn
        return profiles

    def answer_probes(self, box: Any) -> None:
        """Answer the calls made as the caller (account B) the way the scenario's `probe`
        section says AWS does. Per-role entries (`probe.roles.NAME`) come before the defaults.

        Entry forms: `{"error_code", "http_status", "message"}` — AWS's error, as a raw HTTP
        response; `{"ok": true}` — S3 and STS: moto answers; KMS: moto answers as account A
        (moto hides A's keys from B); `{"skip": why}` — the probe is not expected to make it.
        """
        profiles = self.know_sandbox(box)
        section = box.scenario.get("probe") or {}
        target = box.scenario["accounts"]["target"]
        for role, entries in (section.get("roles") or {}).items():
            self._add_probe_entries(entries, target, role, profiles[PROFILE_SOURCE])
        defaults = {k: v for k, v in section.items() if k != "roles"}
        self._add_probe_entries(defaults, target, None, profiles[PROFILE_SOURCE])

    def _add_probe_entries(
        self,
        entries: dict[str, Any],
        account: str,
        role: str | None,
        source_creds: dict[str, str],
    ) -> None:
        for name, entry in entries.items():
            service, operation = name.split(":", 1)
            if "error_code" in entry:
                fault = Fault(
                    service,
                    operation,
                    entry["error_code"],
                    entry.get("message", ""),
                    int(entry.get("http_status", 400)),
                    account=account,
                    role=role,
                )
            elif entry.get("ok") and service == "kms":
                fault = Fault(
                    service, operation, "", account=account, role=role, relay_as=source_creds
                )
            elif entry.get("ok") and role is not None:
                # A per-role "ok" must shadow a default error for the same call.
                fault = Fault(service, operation, "", account=account, role=role, relay_as={})
            else:
                continue  # moto answers ("ok"), or the call is not expected ("skip")
            with self._lock:
                self.faults.append(fault)

    def signer_of(self, request: Any) -> str | None:
        key = signing_key(request)
        return self.signers.get(key) if key else None

    def learn_assumed_role(self, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        """after-call.sts.AssumeRole: remember whose the new access key is."""
        if not parsed or "Credentials" not in parsed:
            return
        key = parsed["Credentials"].get("AccessKeyId")
        arn = (parsed.get("AssumedRoleUser") or {}).get("Arn")
        if key and arn:
            with self._lock:
                self.signers[key] = arn

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        # event_name: "before-send.kms.GetKeyPolicy"
        _, service, operation = event_name.split(".", 2)
        name = f"{service}:{operation}"
        signer = self.signer_of(request)
        with self._lock:
            self.calls.append(name)
            self.signed_calls.append((name, signer))
            fault = next((f for f in self.faults if f.matches(service, operation, signer)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        for observe in list(self.observers):
            observe(name)
        if fault is None:
            return None  # moto answers
        if fault.relay_as is not None:
            if fault.relay_as:
                _relay(request, fault.relay_as)
            return None  # moto answers, as the relayed-to account when one is given
        with self._lock:
            self._answered.add(id(request))
        if fault.body is not None:
            return success_response(service, fault.body, request.url)
        return error_response(
            service, fault.code, fault.message, fault.status, request.url, request.method
        )

    def _unless_answered(self, moto_handler: Any) -> Callable[..., Any]:
        """moto's before-send handler, skipped for requests a fault already answered."""

        def handler(request: Any, **kwargs: Any) -> Any:
            with self._lock:
                answered = id(request) in self._answered
                self._answered.discard(id(request))
            if answered:
                return None
            return moto_handler(request=request, **kwargs)

        return handler

    def install(self, monkeypatch: Any) -> AwsFaults:
        """Register for all sessions created from now on, ahead of moto's own handler."""
        builtin = [
            (entry[0], self._unless_answered(entry[1]), *entry[2:])
            if type(entry[1]).__name__ == "BotocoreStubber"
            else entry
            for entry in botocore.handlers.BUILTIN_HANDLERS
        ]
        handlers = [
            ("before-send", self, botocore.handlers.REGISTER_FIRST),
            ("after-call.sts.AssumeRole", self.learn_assumed_role),
            *builtin,
        ]
        monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
        return self
