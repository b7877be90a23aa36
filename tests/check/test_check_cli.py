"""`kmsdoctor check` on a bad file: one line naming the line and the field, exit 2, and no AWS
call (the profiles named do not even exist)."""

from __future__ import annotations

import os
import subprocess
import sys

BI = "arn:aws:iam::222222222222:role/BIAnalyticsRole"


def run_kmsdoctor(args: list[str], cwd) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run(
        [sys.executable, "-m", "kmsdoctor", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_unknown_account_is_one_line_exit_2_before_any_aws_call(tmp_path):
    (tmp_path / "checks.toml").write_text(
        '[accounts]\n"222222222222" = "no-such-profile"\n\n[[expect]]\n'
        'principal = "arn:aws:iam::999999999999:role/Stranger"\n'
        'bucket = "datalake-curated-a"\nkey = "k"\naccess = "allow"\n',
        encoding="utf-8",
    )
    result = run_kmsdoctor(["check", "checks.toml"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        'kmsdoctor: checks.toml:5: expect[1].principal: account "999999999999" is not in '
        "[accounts]; add the profile that reads it"
    )


def test_toml_syntax_error_is_one_line_exit_2(tmp_path):
    (tmp_path / "checks.toml").write_text("[accounts\n", encoding="utf-8")
    result = run_kmsdoctor(["check", "checks.toml", "--junit", "out.xml"], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("kmsdoctor: checks.toml: TOML syntax error: ")
    assert "line 1" in lines[0]
    assert not (tmp_path / "out.xml").exists()  # nothing is written for a file never run


def test_missing_file_is_one_line_exit_2(tmp_path):
    result = run_kmsdoctor(["check", "nope.toml"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kmsdoctor: cannot read check file nope.toml: No such file or directory"
    )


def test_a_binary_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "checks.toml").write_bytes(b'region = "eu-west-1"\n\xff\xfe')
    result = run_kmsdoctor(["check", "checks.toml"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "kmsdoctor: checks.toml:2: the check file is not UTF-8 text"


# In a fresh interpreter: the command's help, and a bad file, then which AWS libraries got in.
IMPORTS_SCRIPT = """
import json, sys
from kmsdoctor.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["kmsdoctor", *argv]
    try:
        main()
    except SystemExit as exit:
        codes.append(exit.code)
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore"})
sys.stderr.write(json.dumps({"codes": codes, "loaded": loaded}))
"""


def test_help_and_a_bad_file_load_no_aws_library(tmp_path):
    import json

    (tmp_path / "checks.toml").write_text('[accounts]\n"1" = "a"\n', encoding="utf-8")
    runs = [["check", "--help"], ["check", "checks.toml"]]
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_SCRIPT, json.dumps(runs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr.splitlines()[-1])
    assert report["codes"] == [0, 2]
    assert "--junit" in result.stdout and "--sarif" in result.stdout
    assert report["loaded"] == []
