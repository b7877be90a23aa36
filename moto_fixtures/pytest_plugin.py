"""pytest fixtures for tests that run kmsdoctor against moto accounts A and B.

Use from a conftest.py (pytest only honours `pytest_plugins` in the root conftest, so import the
fixtures by name instead):

    from moto_fixtures.pytest_plugin import aws_faults, sandbox  # noqa: F401

then in a test:

    def test_x(sandbox, aws_faults):
        box = sandbox("key-policy-missing-principal")      # a scenario name, or a dict
        aws_faults.add("kms", "GetKeyPolicy", "AccessDeniedException", "...")  # optional
        result = CliRunner().invoke(app, box.cli_args("collect", "--output", str(path)))

`sandbox` runs inside one `mock_aws()` for the whole test: every sandbox built in the test shares
the same moto state, and the process environment points at the last one built (config and
credentials files, Region; outer AWS credentials and profile variables removed). Everything is
undone before moto stops, so nothing leaks into other tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from moto_fixtures.builder import Sandbox, build_scenario, load_scenario
from moto_fixtures.faults import AwsFaults

SandboxFactory = Callable[[str | dict[str, Any]], Sandbox]


def apply_sandbox_env(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in box.env_removed:
        monkeypatch.delenv(name, raising=False)
    for name, value in box.env_overrides.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxFactory]:
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        # mock_aws exports fake AWS_ACCESS_KEY_ID/SECRET; the CLI must use the profiles only.
        built = 0

        def make(name_or_scenario: str | dict[str, Any]) -> Sandbox:
            nonlocal built
            scenario = (
                load_scenario(name_or_scenario)
                if isinstance(name_or_scenario, str)
                else copy.deepcopy(name_or_scenario)
            )
            built += 1
            box = build_scenario(scenario, tmp_path / f"sandbox-{built}")
            apply_sandbox_env(box, monkeypatch)
            return box

        yield make


@pytest.fixture
def aws_faults() -> Iterator[AwsFaults]:
    """Inject AWS error answers (and see every call made) for sessions created in the test."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield AwsFaults().install(monkeypatch)
