"""Every scenario built in moto, diagnosed WITH the probe: the AWS answers its `probe` section
gives must agree with the diagnosis it expects. This keeps the fixtures honest (an answer that
contradicts the configuration would show as a disagreement) and runs the reconciliation on every
incident the project knows."""

from __future__ import annotations

import pytest

from moto_fixtures.builder import load_scenario, scenario_names
from tests.probe.helpers import diagnose_json

SCENARIOS = scenario_names()


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_scenarios_probe_answers_agree_with_its_expected_diagnosis(name, sandbox, aws_faults):
    scenario = load_scenario(name)
    if scenario.get("moto_gap"):
        pytest.skip(scenario["moto_gap"])
    box = sandbox(name)
    aws_faults.answer_probes(box)
    report, exit_code = diagnose_json(box)

    expect = scenario["expect"]
    assert report["verdict"] == expect["verdict"]
    assert exit_code == expect["exit_code"]
    command = scenario["command"]
    undecidable = command.get("operation") == "write" or not command.get("key")
    for result in report.get("principals", [report]):
        probe = result["probe"]
        wanted = "partial" if undecidable else "agrees"
        assert probe["status"] == wanted, (result["principal"], probe["summary"])
        assert probe["verdict"] is None  # the probe confirmed; the locks decided
