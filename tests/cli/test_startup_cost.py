"""What a command loads before it can work: counted in modules, never timed (speed is in
`make bench`). typer would load pydantic to convert option values, costing about half of
`import boto3` before `diagnose` sends its first request (issue #13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kmsdoctor.cli import Operation, app
from tests.analyze.factories import key_policy, make_key, make_snapshot

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from kmsdoctor.cli import main
sys.argv = ["kmsdoctor", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "pydantic_core"})
sys.stderr.write(json.dumps({"code": code, "loaded": loaded}))
"""


def loaded_by(args: list[str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return json.loads(result.stderr.splitlines()[-1])


def test_a_whole_analysis_converts_its_options_without_pydantic(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text(make_snapshot(key=make_key(policy=key_policy())).to_json(), encoding="utf-8")
    report = loaded_by(["analyze", str(path), "--format", "json", "--fix-dir", str(tmp_path)])
    assert report == {"code": 1, "loaded": []}


def test_option_values_arrive_with_their_types(tmp_path, monkeypatch):
    seen = {}

    def capture(*args):
        seen["args"] = args
        raise SystemExit(0)

    monkeypatch.setattr("kmsdoctor.cli._collect_request", capture)
    roles = ["arn:aws:iam::222222222222:role/R", "arn:aws:iam::222222222222:role/S"]
    args = ["diagnose", "--bucket", "b", "--operation", "write", "--fix-dir", str(tmp_path)]
    args += ["--role-arn", roles[0], "--role-arn", roles[1]]
    CliRunner().invoke(app, args)
    source, target, bucket, key, role_arn, region, operation, kms_key = seen["args"]
    assert (source, target, bucket, key, region, kms_key) == (None, None, "b", None, None, None)
    assert role_arn == roles
    assert operation is Operation.write


def test_a_value_outside_the_choices_is_refused_with_the_choices():
    result = CliRunner().invoke(app, ["analyze", "x.json", "--format", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of 'text', 'json'." in result.output
