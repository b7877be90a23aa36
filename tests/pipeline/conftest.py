"""Fixtures for the pipeline tests: the reference-000 pipeline built in moto (four accounts),
injected AWS answers, and the real CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto import mock_aws

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from moto_fixtures.pipeline import (  # noqa: E402
    PipelineSandbox,
    apply_env,
    build_pipeline,
    pipeline_scenario,
)
from moto_fixtures.pytest_plugin import aws_faults  # noqa: E402, F401
from tests.helpers.cli import fast_retries, run_cli  # noqa: E402, F401


@pytest.fixture
def pipeline_box(tmp_path: Path) -> Iterator[Callable[[str | dict], PipelineSandbox]]:
    """Build a pipeline scenario (a name from PIPELINE_SCENARIOS, or a scenario dict) in moto;
    the process environment points at its profiles until the test ends."""
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        built = 0

        def make(name_or_scenario: str | dict) -> PipelineSandbox:
            nonlocal built
            scenario = (
                pipeline_scenario(name_or_scenario)
                if isinstance(name_or_scenario, str)
                else name_or_scenario
            )
            built += 1
            box = build_pipeline(scenario, tmp_path / f"pipeline-{built}")
            apply_env(box, monkeypatch)
            return box

        yield make
