"""The bench's delay proxy: a client that goes away, or an upstream that fails, is handled (no
"Exception occurred during processing of request" traceback on stderr), yet an upstream failure
is not hidden: the client gets a 502 and the proxy counts it, for the bench to report.

The upstream here is a tiny loopback HTTP server (no moto needed): it answers every request with
a short body and records which TCP connection each request came on.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.delay_proxy import DelayProxy
from moto_fixtures.sandbox import free_port


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.connections: list[int] = []  # the client port of each request
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.connections.append(self.client_address[1])
                body = b"answer"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the proxy never got there"
        time.sleep(0.01)


def test_requests_on_one_client_connection_reuse_one_upstream_connection(upstream):
    """moto starts a thread per connection: one per request would cost it more than the request."""
    with DelayProxy(_url(upstream), 0.0) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        client = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(3):
            client.request("GET", "/bucket/key")
            response = client.getresponse()
            assert (response.status, response.read()) == (200, b"answer")
        client.close()

    assert len(upstream.connections) == 3
    assert len(set(upstream.connections)) == 1


def _hang_up_abruptly(client: socket.socket) -> None:
    """An abortive close (RST), as the kernel may send for a killed process's connections."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def test_a_client_that_hangs_up_leaves_no_traceback(upstream, capfd):
    """As when Ctrl-C interrupts kmsdoctor: while the proxy holds its request, and while the
    proxy waits on a kept-alive connection for its next one."""
    with DelayProxy(_url(upstream), 0.3) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        request = b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n"

        held = socket.create_connection((host, int(port)))
        held.sendall(request)
        _wait_for(lambda: proxy.in_flight >= 1)
        _hang_up_abruptly(held)

        idle = socket.create_connection((host, int(port)))
        idle.sendall(request)
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        _hang_up_abruptly(idle)

        _wait_for(lambda: len(proxy.requests) == 2)
        time.sleep(0.2)  # the handler threads see the resets
        assert proxy.upstream_failures == []

    assert "Exception occurred" not in capfd.readouterr().err


def test_an_upstream_that_refuses_is_a_502_and_counted_not_a_traceback(capfd):
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with DelayProxy(nothing_listens, 0.0) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        client = http.client.HTTPConnection(host, int(port), timeout=10)
        client.request("GET", "/bucket/key")
        response = client.getresponse()
        response.read()
        client.close()

        assert response.status == 502
        assert len(proxy.upstream_failures) == 1
        assert "ConnectionRefusedError" in proxy.upstream_failures[0]

    assert "Exception occurred" not in capfd.readouterr().err
