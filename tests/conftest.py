"""Suite-wide read-only guard: no test may see kmsdoctor make an AWS call off its allow-list.

`kmsdoctor.aws.client()` already refuses unlisted operations before they are signed. This guard
is the independent check of that promise: for the whole session it wraps
`botocore.client.BaseClient._make_api_call` (every boto3 API call, paginated pages included)
and records each call *kmsdoctor* made — not the scenario builder's or a test's own setup calls.

A call counts as kmsdoctor's when either
- the client was made by `kmsdoctor.aws.client()` (it carries `_kmsdoctor_profile`), or
- a frame of code under the `kmsdoctor/` package is on the calling thread's stack, which also
  catches a client kmsdoctor code made some other way (the case `client()` cannot police).

A test that made such a call off `ALLOWED_OPERATIONS` fails in teardown; one made outside any
test (a module or package fixture) fails the session at the end. A test that provokes one on
purpose takes it with `read_only_guard.take_off_list()` and asserts on it.

Calls made in a subprocess (the CLI run as a process) are not seen here; the same code paths
run in-process in the collector and trust tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `python -m pytest` puts the repository root on sys.path; a bare `pytest` does not. The tests
# import `moto_fixtures`, `bench` and `tests.*` from there.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# kmsdoctor's slim service models (kmsdoctor/service_models.py) in a directory of this run's own,
# not the user's cache; the CLI run as a subprocess inherits it.
os.environ.setdefault("KMSDOCTOR_MODEL_CACHE", tempfile.mkdtemp(prefix="kmsdoctor-models-"))

import botocore.client  # noqa: E402

import kmsdoctor  # noqa: E402
from kmsdoctor.aws import ALLOWED_OPERATIONS  # noqa: E402

KMSDOCTOR_DIR = Path(kmsdoctor.__file__).resolve().parent
OUTSIDE_TESTS = "<outside any test>"
STRAY_WORKER_WAIT_S = 10.0


@dataclass(frozen=True)
class KmsdoctorCall:
    """One AWS API call kmsdoctor made, as the guard saw it."""

    operation: str  # "kms:GetKeyPolicy"
    test: str  # the pytest node id, or OUTSIDE_TESTS
    made_by: str  # why it counts as kmsdoctor's: "kmsdoctor.aws.client" or "path:line"

    @property
    def allowed(self) -> bool:
        return self.operation in ALLOWED_OPERATIONS


@dataclass
class ReadOnlyGuard:
    """Every kmsdoctor call of the session, and the off-list ones no test has accounted for."""

    calls: list[KmsdoctorCall] = field(default_factory=list)
    off_list: list[KmsdoctorCall] = field(default_factory=list)
    current_test: str = OUTSIDE_TESTS
    threads_before_test: set[threading.Thread] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, made_by: str) -> None:
        call = KmsdoctorCall(operation, self.current_test, made_by)
        with self._lock:
            self.calls.append(call)
            if not call.allowed:
                self.off_list.append(call)

    def take_off_list(self) -> list[KmsdoctorCall]:
        """The off-list calls of the current test, which the test takes responsibility for."""
        with self._lock:
            taken = [c for c in self.off_list if c.test == self.current_test]
            self.off_list = [c for c in self.off_list if c.test != self.current_test]
        return taken

    def operations_in(self, test: str) -> list[str]:
        with self._lock:
            return [c.operation for c in self.calls if c.test == test]

    def settle(self) -> None:
        """Wait (up to STRAY_WORKER_WAIT_S) for pool workers the current test left running.

        kmsdoctor's `worker_pool` does not wait for the calls in flight when its block fails (a
        one-line error, Ctrl-C): that is what makes it stop promptly. In a test, such workers
        would finish their AWS calls during the *next* test — counted against it here, and
        touching the global `random` (moto's ids, retry jitter) inside its hypothesis draws.
        A test that asserts on the calls an error run made settles first.
        """
        deadline = time.monotonic() + STRAY_WORKER_WAIT_S
        for thread in threading.enumerate():
            if thread in self.threads_before_test:
                continue
            if thread.name.startswith("ThreadPoolExecutor"):
                thread.join(timeout=max(0.0, deadline - time.monotonic()))


GUARD = ReadOnlyGuard()


def kmsdoctor_origin(aws_client: Any) -> str | None:
    """Why a call on `aws_client`, made from the current stack, is kmsdoctor's; None if not."""
    if getattr(aws_client, "_kmsdoctor_profile", None) is not None:
        return "kmsdoctor.aws.client"
    frame = sys._getframe(2)  # skip this function and the wrapper
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(str(KMSDOCTOR_DIR)):
            return f"{Path(filename).relative_to(KMSDOCTOR_DIR.parent)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


_original_make_api_call = botocore.client.BaseClient._make_api_call


def _guarded_make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    made_by = kmsdoctor_origin(self)
    if made_by is not None:
        service = self.meta.service_model.service_name
        GUARD.record(f"{service}:{operation_name}", made_by)
    return _original_make_api_call(self, operation_name, api_params)


def pytest_configure(config: pytest.Config) -> None:
    botocore.client.BaseClient._make_api_call = _guarded_make_api_call


def pytest_unconfigure(config: pytest.Config) -> None:
    botocore.client.BaseClient._make_api_call = _original_make_api_call


def _describe(calls: list[KmsdoctorCall]) -> str:
    return "; ".join(f"{c.operation} (made at {c.made_by}, in {c.test})" for c in calls)


@pytest.fixture(autouse=True)
def read_only_guard(request: pytest.FixtureRequest) -> Iterator[ReadOnlyGuard]:
    """Attributes kmsdoctor's calls to the running test and fails it on an off-list one."""
    GUARD.current_test = request.node.nodeid
    GUARD.threads_before_test = set(threading.enumerate())
    try:
        yield GUARD
        GUARD.settle()
        unaccounted = GUARD.take_off_list()
    finally:
        GUARD.current_test = OUTSIDE_TESTS
    if unaccounted:
        pytest.fail(
            "kmsdoctor made AWS calls that are not on ALLOWED_OPERATIONS: "
            + _describe(unaccounted),
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Calls made outside any test (module or package fixtures) have no teardown to fail in.
    if GUARD.off_list:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(
            "\nread-only guard: kmsdoctor made AWS calls off ALLOWED_OPERATIONS outside any "
            f"test: {_describe(GUARD.off_list)}\n"
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    operations = {c.operation for c in GUARD.calls}
    terminalreporter.write_line(
        f"read-only guard: {len(GUARD.calls)} AWS calls by kmsdoctor, "
        f"{len(operations)} distinct operations, "
        f"{len(GUARD.off_list)} off the allow-list outside tests"
    )
