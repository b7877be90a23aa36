"""Every scenario in moto_fixtures/scenarios/ through the real CLI, against moto accounts A and B:
`diagnose --no-probe --format json`, checked against the fixture's `expect`.

`expect` holds the verdict, the exit code, lock statuses (of the only principal, or — with
several principals — per role name under `expect.principals`), and finding codes that must be
among the findings. A fixture whose configuration moto cannot build carries `moto_gap`: the
reason, which the test skips with; the same incident is covered by a snapshot unit test.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app
from moto_fixtures.builder import load_scenario, scenario_names

SCENARIOS = scenario_names()


def test_there_are_at_least_25_scenarios_each_with_an_expectation():
    assert len(SCENARIOS) >= 25
    for name in SCENARIOS:
        scenario = load_scenario(name)
        expect = scenario["expect"]
        assert expect["verdict"] in ("allow", "deny", "unknown"), name
        assert expect["exit_code"] == {"allow": 0, "deny": 1, "unknown": 3}[expect["verdict"]], name
        if scenario.get("moto_gap"):
            assert "moto" in scenario["description"], f"{name}: say the moto gap in description"


def _finding_codes(report: dict) -> set[str]:
    results = report.get("principals", [report])
    return {finding["code"] for result in results for finding in result["findings"]}


def _by_role_name(report: dict) -> dict[str, dict]:
    return {result["principal"].rsplit("/", 1)[-1]: result for result in report["principals"]}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_diagnosis_matches_expect(name, sandbox):
    scenario = load_scenario(name)
    if scenario.get("moto_gap"):
        pytest.skip(scenario["moto_gap"])
    box = sandbox(name)
    run = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", "--format", "json"))
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    report = json.loads(run.stdout)
    expect = scenario["expect"]

    assert report["verdict"] == expect["verdict"], json.dumps(report, indent=1)[:4000]
    assert run.exit_code == expect["exit_code"]

    if "principals" in report:
        results = _by_role_name(report)
        for role, wanted in expect.get("principals", {}).items():
            assert results[role]["verdict"] == wanted["verdict"], role
            for lock, status in wanted.get("locks", {}).items():
                assert results[role]["locks"][lock]["status"] == status, (role, lock)
    else:
        for lock, status in expect.get("locks", {}).items():
            got = report["locks"][lock]
            assert got["status"] == status, (lock, got["reason"])

    codes = _finding_codes(report)
    for code in expect.get("findings", []):
        assert code in codes, f"{code} not among {sorted(codes)}"

    for secret in box.secrets:
        assert secret not in run.stdout
