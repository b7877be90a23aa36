"""Ctrl-C in the middle of a diagnosis: exit 130, one line, no traceback, and promptly — not
after the AWS calls in flight have finished.

A real `kmsdoctor` process runs against a moto server behind a loopback proxy that holds
requests for a long time, so that when SIGINT arrives worker threads are blocked in AWS calls,
as on a slow network: every request (mid-collection), or only the probe's one-byte GetObject
(mid-probe, after the collection has finished).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from bench.delay_proxy import DelayProxy, handler_for
from moto_fixtures.sandbox import free_port
from tests.helpers.signals import default_sigint

# Each request is held this long: far longer than the bound on stopping below, so a process
# that waits for its calls in flight cannot pass by luck.
HELD_S = 60.0
# What a user at the prompt would notice: a process that waits for its calls in flight takes
# HELD_S or more, one that stops at once takes well under a second; the wide bound between keeps
# a loaded CI machine from failing the test at random.
PROMPT_S = 15.0


class ProbeReadHoldingProxy(DelayProxy):
    """Answers every request at once, except a ranged GetObject — the probe's one-byte read,
    which no collector makes — held for HELD_S. `held` counts the reads it is holding."""

    held = 0

    def handler(self):
        proxy = self

        class Handler(handler_for(self)):
            def _send_upstream(self, body: bytes):
                if self.command == "GET" and self.headers.get("Range"):
                    with proxy._lock:
                        proxy.held += 1
                    time.sleep(HELD_S)
                return super()._send_upstream(body)

        return Handler


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_aws(moto_url: str) -> Iterator[DelayProxy]:
    with DelayProxy(moto_url, HELD_S) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def slow_probe_reads(moto_url: str) -> Iterator[ProbeReadHoldingProxy]:
    with ProbeReadHoldingProxy(moto_url, 0.0) as proxy:
        yield proxy


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("kmsdoctor never reached AWS")
        time.sleep(0.05)


def _interrupt_when(args: list[str], env: dict[str, str], ready) -> tuple[int, str, str, float]:
    """Run `kmsdoctor ARGS`, send SIGINT once `ready()`; exit code, stdout, stderr, and the
    seconds from the signal to the process's end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kmsdoctor", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        _wait_for(ready, timeout_s=60)
        signalled = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=HELD_S * 3)
        stopped_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stdout, stderr, stopped_after


def test_ctrl_c_mid_collection_exits_130_with_one_line_promptly(trust_sandbox, slow_aws):
    env = {**trust_sandbox.box.env, "AWS_ENDPOINT_URL": slow_aws.url}
    # Both profiles' first calls are held in the proxy: collection is under way.
    returncode, stdout, stderr, stopped_after = _interrupt_when(
        trust_sandbox.args("diagnose", "--no-probe"), env, lambda: slow_aws.in_flight >= 2
    )

    assert returncode == 130, stderr
    assert stderr.strip().splitlines() == ["kmsdoctor: interrupted"]
    assert "Traceback" not in stdout + stderr
    assert stopped_after < PROMPT_S, f"took {stopped_after:.1f} s to stop after Ctrl-C"


def test_ctrl_c_mid_probe_exits_130_with_one_line_promptly(trust_sandbox, slow_probe_reads):
    """The collection is over and the probe's calls are made; its one-byte GetObject hangs."""
    env = {**trust_sandbox.box.env, "AWS_ENDPOINT_URL": slow_probe_reads.url}
    returncode, stdout, stderr, stopped_after = _interrupt_when(
        trust_sandbox.args("diagnose"), env, lambda: slow_probe_reads.held >= 1
    )

    assert returncode == 130, stderr
    assert stderr.strip().splitlines() == ["kmsdoctor: interrupted"]
    assert "Traceback" not in stdout + stderr
    assert stopped_after < PROMPT_S, f"took {stopped_after:.1f} s to stop after Ctrl-C"
