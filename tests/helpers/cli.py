"""Fixtures for running the real CLI in-process: `run_cli` (the entry point, its exit code and
both streams) and `fast_retries` (no backoff sleeps). A folder's conftest.py imports the ones
it uses:

    from tests.helpers.cli import fast_retries, run_cli  # noqa: F401
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from unittest.mock import patch

import pytest
from tenacity import wait_none


@dataclass
class CliRun:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run `kmsdoctor ARGS` through the real entry point (exit codes, one-line errors)."""
    from kmsdoctor.cli import main

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        with patch.object(sys, "argv", ["kmsdoctor", *args]):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
        out = capsys.readouterr()
        return CliRun(code, out.out, out.err)

    return run


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without the backoff sleeps, for tests that inject throttling."""
    import kmsdoctor.aws

    monkeypatch.setattr(kmsdoctor.aws, "RETRY_WAIT", wait_none())
