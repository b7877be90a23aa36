"""A loopback HTTP proxy that adds a fixed delay to every AWS request, and records each one.

Put in front of a local moto server, it turns "every call costs 100 ms" into something a real
subprocess of kmsdoctor meets through `AWS_ENDPOINT_URL`, exactly as it would meet the latency
of the AWS API. It counts the calls, names each one's operation (from the request itself, as
AWS would route it), and keeps its start and end time so a benchmark can see what overlapped.

Loopback only, both ways: it listens on 127.0.0.1 and refuses an upstream that is not a
loopback address, so it can never forward signed requests anywhere else. It logs nothing of a
request (no headers, no bodies): the Authorization header is read only for its service name.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers that belong to one hop, not to the request being forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}
_SCOPE_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([a-z0-9-]+)/aws4_request")
# X-Amz-Target prefixes of the JSON-protocol services kmsdoctor calls.
_TARGET_SERVICES = {
    "TrentService": "kms",
    "AWSOrganizationsV20161128": "organizations",
    "CodePipeline_20150709": "codepipeline",
    "CodeBuild_20161006": "codebuild",
}
# S3 bucket sub-resources (a query key) to the operation reading them.
_S3_SUBRESOURCES = {
    "location": "GetBucketLocation",
    "policy": "GetBucketPolicy",
    "encryption": "GetBucketEncryption",
    "ownershipControls": "GetBucketOwnershipControls",
    "publicAccessBlock": "GetPublicAccessBlock",
}


# What a read from or write to the client raises once the client has gone.
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class ProxiedRequest:
    operation: str  # "kms:GetKeyPolicy"; "s3:GET /bucket?x" when it cannot be named
    started: float  # time.monotonic() when the request arrived
    ended: float  # time.monotonic() when its response had been sent back


def operation_of(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    """The AWS operation a request asks for, as "service:Operation"."""
    target = headers.get("x-amz-target", "")
    if "." in target:
        prefix, operation = target.split(".", 1)
        return f"{_TARGET_SERVICES.get(prefix, prefix)}:{operation}"
    scope = _SCOPE_SERVICE.search(headers.get("authorization", ""))
    service = scope.group(1) if scope else "unknown"
    if service != "s3":
        # Query protocol (STS, IAM, EC2): the operation is the form's Action.
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return f"{service}:{form.get('Action', ['?'])[0]}"
    return f"s3:{_s3_operation(method, path)}"


def _s3_operation(method: str, path: str) -> str:
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    has_key = len([p for p in parsed.path.split("/") if p]) >= 2  # path style: /bucket/key
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        if "acl" in query:
            return "GetObjectAcl" if has_key else "GetBucketAcl"
        for subresource, operation in _S3_SUBRESOURCES.items():
            if subresource in query:
                return operation
        return "GetObject" if has_key else "ListObjects"
    return f"{method} {parsed.path}"


@dataclass
class DelayProxy:
    """`with DelayProxy(upstream, delay_s) as proxy:` then point AWS_ENDPOINT_URL at
    `proxy.url`. Every request waits `delay_s` before it is forwarded."""

    upstream: str  # "http://127.0.0.1:5000": a moto server
    delay_s: float
    requests: list[ProxiedRequest] = field(default_factory=list)
    upstream_failures: list[str] = field(default_factory=list)  # "op: error" answered 502
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        host = urllib.parse.urlsplit(self.upstream).hostname or ""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"upstream {self.upstream} is not a loopback address")

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class; a test may subclass it to hold some requests."""
        return handler_for(self)

    def start(self) -> DelayProxy:
        self._server = _ProxyServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.upstream_failures.clear()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _began(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _upstream_failed(self, failure: str) -> None:
        with self._lock:
            self.upstream_failures.append(failure)

    def _finished(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._in_flight -= 1
            self.requests.append(request)


class _ProxyServer(ThreadingHTTPServer):
    # The default listen backlog (5) is below the 32 connections botocore opens at once for a
    # prefix's heads: the rest would wait for a SYN retransmission (about a second) each.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (an interrupted kmsdoctor, a test's killed process) while
        the proxy read its next request is not an error; anything else is reported as
        socketserver does."""
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        super().handle_error(request, client_address)


def handler_for(proxy: DelayProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urllib.parse.urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

        def do_GET(self) -> None:
            self._forward()

        do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

        def log_message(self, *_: object) -> None:
            """Silent: a request line can carry a presigned query string."""

        def _forward(self) -> None:
            started = time.monotonic()
            proxy._began()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            operation = operation_of(self.command, self.path, headers, body)
            try:
                time.sleep(proxy.delay_s)  # the round trip to AWS this stands for
                try:
                    status, reason, response_headers, payload = self._send_upstream(body)
                except OSError as exc:
                    # The upstream failed (refused, reset, timed out): the client is answered
                    # 502 and the failure counted, for the bench to report; not a traceback.
                    proxy._upstream_failed(f"{operation}: {type(exc).__name__}: {exc}")
                    self.send_error(502, "upstream failed")
                    return
                self.send_response(status, reason)
                for name, value in response_headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                upstream_length = dict((k.lower(), v) for k, v in response_headers).get(
                    "content-length"
                )
                # A HEAD answer states the object's length but carries no body.
                self.send_header(
                    "Content-Length",
                    upstream_length if self.command == "HEAD" else str(len(payload)),
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except _CLIENT_GONE:
                self.close_connection = True  # the client went away (e.g. it was interrupted)
            finally:
                proxy._finished(ProxiedRequest(operation, started, time.monotonic()))

        def _send_upstream(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            # One upstream connection per client connection, kept alive as the client keeps its
            # own: a new TCP connection (and a new server thread in moto) per request would cost
            # moto more than the request itself.
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            for attempt in (1, 2):
                reused = self._upstream is not None
                if self._upstream is None:
                    self._upstream = http.client.HTTPConnection(
                        upstream.hostname, upstream.port, timeout=60
                    )
                try:
                    self._upstream.request(
                        self.command, self.path, body=body or None, headers=headers
                    )
                    response = self._upstream.getresponse()
                    payload = response.read()
                except ConnectionError:  # RemoteDisconnected is one
                    self._close_upstream()
                    if reused and attempt == 1:
                        continue  # the server closed an idle kept-alive connection: once more
                    raise
                if response.will_close:
                    self._close_upstream()
                return response.status, response.reason, response.getheaders(), payload
            raise AssertionError("unreachable")

        def _close_upstream(self) -> None:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None

        def setup(self) -> None:
            super().setup()
            self._upstream: http.client.HTTPConnection | None = None

        def finish(self) -> None:
            self._close_upstream()
            super().finish()

    return Handler
