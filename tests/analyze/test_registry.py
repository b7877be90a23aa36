"""The findings registry: complete, unique, documented, and docs/findings.md in step with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kmsdoctor.analyze.model import LOCK_NAMES, SEVERITIES
from kmsdoctor.analyze.rules import REGISTRY, all_rules, markdown, readme_table, rule

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_has_code_title_lock_severity_and_documentation():
    assert len(all_rules()) >= 30
    for registered in all_rules():
        assert re.fullmatch(r"KD\d{3}", registered.code), registered.code
        assert registered.title.strip(), registered.code
        assert registered.lock in LOCK_NAMES, registered.code
        assert registered.severity in SEVERITIES, registered.code
        assert len(registered.meaning) > 40, f"{registered.code}: docstring (meaning) too short"
        assert len(registered.example) > 40, f"{registered.code}: example too short"
        assert len(registered.fix) > 20, f"{registered.code}: fix too short"
        for code in registered.suppressed_by:
            assert code in REGISTRY, f"{registered.code} is suppressed by unknown {code}"


def test_finding_codes_are_unique_and_registering_one_twice_fails():
    codes = [r.code for r in all_rules()]
    assert len(codes) == len(set(codes))
    with pytest.raises(ValueError, match="registered twice"):
        rule(code="KD101", title="x", lock="identity", severity="error", example="x", fix="x")(
            lambda ev: []
        )


def test_docs_findings_md_is_generated_from_the_registry():
    written = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert written == markdown(), (
        "docs/findings.md is out of date: run "
        "`.venv/bin/python -m kmsdoctor.analyze.rules --markdown > docs/findings.md`"
    )


def test_readme_finding_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- findings-table:start -->\n") + len("<!-- findings-table:start -->\n")
    end = readme.index("<!-- findings-table:end -->")
    assert readme[start:end] == readme_table(), (
        "README.md's finding table is out of date: paste the output of "
        "`.venv/bin/python -m kmsdoctor.analyze.rules --readme-table` between its markers"
    )


def test_every_finding_code_is_exercised_by_a_test_or_a_scenario():
    """Adding a trap means one rule and one fixture: this keeps the second half honest."""
    exercised: set[str] = set()
    for path in (ROOT / "moto_fixtures" / "scenarios").glob("*.json"):
        scenario = json.loads(path.read_text(encoding="utf-8"))
        exercised.update(scenario.get("expect", {}).get("findings", []))
    test_files = [*(ROOT / "tests" / "analyze").glob("test_*.py")]
    test_files += (ROOT / "tests" / "probe").glob("test_*.py")  # the probe's findings
    for path in test_files:
        if path.name == "test_registry.py":
            continue
        exercised.update(re.findall(r"KD\d{3}", path.read_text(encoding="utf-8")))
    missing = sorted(set(REGISTRY) - exercised)
    assert missing == [], f"finding codes no test or scenario expects: {missing}"
