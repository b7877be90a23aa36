"""Fixtures for the collector tests: moto sandboxes, injected AWS answers, the real CLI."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

import pytest
from tenacity import wait_none

# `python -m pytest` puts the repository root on sys.path; a bare `pytest` does not.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from moto_fixtures.pytest_plugin import aws_faults, sandbox  # noqa: E402, F401


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
