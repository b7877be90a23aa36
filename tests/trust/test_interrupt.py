"""Ctrl-C in the middle of a diagnosis: exit 130, one line, no traceback, and promptly — not
after the AWS calls in flight have finished.

A real `kmsdoctor` process runs against a moto server behind a loopback proxy that holds every
request for a long time, so that when SIGINT arrives the collectors' worker threads are all
blocked in AWS calls, as on a slow network.
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

from bench.delay_proxy import DelayProxy
from moto_fixtures.sandbox import free_port

# Each request is held this long: far longer than the bound on stopping below, so a process
# that waits for its calls in flight cannot pass by luck.
HELD_S = 20.0
PROMPT_S = 3.0  # the brief's "about 2 s", with room for a loaded CI machine


@pytest.fixture(scope="module")
def slow_aws() -> Iterator[DelayProxy]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with DelayProxy(f"http://{host}:{port}", HELD_S) as proxy:
            yield proxy
    finally:
        server.stop()


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("kmsdoctor never reached AWS")
        time.sleep(0.05)


def test_ctrl_c_mid_collection_exits_130_with_one_line_promptly(trust_sandbox, slow_aws):
    env = {**trust_sandbox.box.env, "AWS_ENDPOINT_URL": slow_aws.url}
    process = subprocess.Popen(
        [sys.executable, "-m", "kmsdoctor", *trust_sandbox.args("diagnose", "--no-probe")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Both profiles' first calls are held in the proxy: collection is under way.
        _wait_for(lambda: slow_aws.in_flight >= 2, timeout_s=60)
        signalled = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=HELD_S * 3)
        stopped_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["kmsdoctor: interrupted"]
    assert "Traceback" not in stdout + stderr
    assert stopped_after < PROMPT_S, f"took {stopped_after:.1f} s to stop after Ctrl-C"
