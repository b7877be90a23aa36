"""Fixtures for the collector tests: moto sandboxes, injected AWS answers, the real CLI."""

from __future__ import annotations

import sys
from pathlib import Path

# `python -m pytest` puts the repository root on sys.path; a bare `pytest` does not.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from moto_fixtures.pytest_plugin import aws_faults, sandbox  # noqa: E402, F401
from tests.helpers.cli import fast_retries, run_cli  # noqa: E402, F401
