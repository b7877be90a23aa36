"""The JSON contract (docs/json-output.md) and the exit codes, through the `analyze` command."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kmsdoctor
from kmsdoctor.cli import app, main
from tests.analyze.factories import (
    READ_LAKE_STATEMENT,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    unknown,
)

LOCKS = {
    "identity",
    "bucket_policy",
    "key_policy",
    "scp",
    "rcp",
    "permissions_boundary",
    "session_policy",
    "vpc_endpoint",
    "key_state",
    "object",
}
LOCK_STATUSES = {"allow", "implicit_deny", "explicit_deny", "not_applicable", "unknown"}
VERDICTS = {"allow", "deny", "unknown"}
SEVERITIES = {"error", "warning", "info"}
FIX_KEYS = {
    "account",
    "where",
    "change",
    "statement",
    "show_current",
    "target",
    "patched_policy",
    "apply_command",
    "verified",
    "verification",
}


# DESIGN.md §4: every JSON document says which kmsdoctor made it, when, and for what request.
HEADER_KEYS = {"schema_version", "kmsdoctor_version", "generated_at", "request"}
REQUEST_KEYS = {"bucket", "key", "operation", "region", "principals"}


def _check_header(report: dict) -> None:
    assert list(report)[:4] == ["schema_version", "kmsdoctor_version", "generated_at", "request"]
    assert report["kmsdoctor_version"] == kmsdoctor.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["generated_at"])
    assert set(report["request"]) == REQUEST_KEYS
    assert report["request"]["bucket"] == "datalake-curated-a"
    assert report["request"]["region"] == "eu-west-1"


def _analyze(tmp_path, snapshot, fmt="json"):
    path = tmp_path / "snapshot.json"
    path.write_text(snapshot.to_json(), encoding="utf-8")
    return CliRunner().invoke(app, ["analyze", str(path), "--format", fmt])


def _check_principal_result(result: dict) -> None:
    assert set(result["locks"]) == LOCKS
    for lock in result["locks"].values():
        assert set(lock) == {"status", "reason", "evidence"}
        assert lock["status"] in LOCK_STATUSES
        assert isinstance(lock["reason"], str) and lock["reason"]
        assert isinstance(lock["evidence"], dict)
    for finding in result["findings"]:
        assert set(finding) == {"code", "severity", "lock", "title", "detail", "fix"}
        assert finding["severity"] in SEVERITIES
        assert finding["lock"] in LOCKS
        assert finding["fix"] is None or set(finding["fix"]) == FIX_KEYS


def test_single_principal_json_is_flat_with_principal_and_exit_0(tmp_path):
    run = _analyze(tmp_path, make_snapshot())
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert set(report) == {
        *HEADER_KEYS,
        "verdict",
        "principal",
        "locks",
        "findings",
        "notes",
    }
    assert report["schema_version"] == 1
    _check_header(report)
    assert report["verdict"] == "allow"
    assert report["principal"] == "arn:aws:iam::222222222222:role/BIAnalyticsRole"
    _check_principal_result(report)


def test_shut_lock_gives_verdict_deny_and_exit_1(tmp_path):
    snapshot = make_snapshot(key=make_key(policy=key_policy()))
    run = _analyze(tmp_path, snapshot)
    assert run.exit_code == 1
    report = json.loads(run.stdout)
    assert report["verdict"] == "deny"
    assert report["locks"]["key_policy"]["status"] == "implicit_deny"
    assert report["findings"][0]["code"] == "KD301"
    assert report["findings"][0]["fix"]["statement"]["Effect"] == "Allow"
    _check_principal_result(report)


def test_unknown_lock_gives_verdict_unknown_and_exit_3(tmp_path):
    snapshot = make_snapshot(key=make_key(policy=unknown("kms:GetKeyPolicy")))
    run = _analyze(tmp_path, snapshot)
    assert run.exit_code == 3
    assert json.loads(run.stdout)["verdict"] == "unknown"


def test_several_principals_json_lists_principals_under_the_worst_verdict(tmp_path):
    healthy = make_principal()
    broken = make_principal(
        "arn:aws:iam::222222222222:role/DeployRole",
        inline={"P": identity_policy(READ_LAKE_STATEMENT)},
        session_arn=None,
        source="role_arn",
    )
    run = _analyze(tmp_path, make_snapshot(principals=[healthy, broken]))
    assert run.exit_code == 1
    report = json.loads(run.stdout)
    assert set(report) == {*HEADER_KEYS, "verdict", "principals", "notes"}
    _check_header(report)
    assert report["request"]["principals"] == [healthy.arn, broken.arn]
    assert report["verdict"] == "deny"
    assert [p["verdict"] for p in report["principals"]] == ["allow", "deny"]
    for result in report["principals"]:
        assert set(result) == {"principal", "verdict", "locks", "findings"}
        assert result["verdict"] in VERDICTS
        _check_principal_result(result)


def test_malformed_snapshot_is_a_usage_error_exit_2(tmp_path, monkeypatch, capsys):
    path = tmp_path / "snapshot.json"
    path.write_text('{"schema_version": 1}', encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["kmsdoctor", "analyze", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "missing field" in capsys.readouterr().err


def test_json_output_never_contains_rich_markup_or_colour(tmp_path):
    run = _analyze(tmp_path, make_snapshot(key=make_key(policy=key_policy())))
    assert "\x1b[" not in run.stdout
    json.loads(run.stdout)


def test_the_example_in_docs_json_output_md_has_the_real_shape(tmp_path):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "json-output.md").read_text("utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("\n```", 1)[0])
    real = json.loads(_analyze(tmp_path, make_snapshot(key=make_key(policy=key_policy()))).stdout)
    assert set(example) == set(real)
    assert list(example["locks"]) == list(real["locks"])
    assert example["locks"]["key_policy"]["status"] == real["locks"]["key_policy"]["status"]
    assert example["findings"][0]["fix"] == real["findings"][0]["fix"]
    assert [f["code"] for f in example["findings"]] == [f["code"] for f in real["findings"]]
    _check_principal_result(example)
