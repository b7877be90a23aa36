"""`kmsdoctor explain` end to end: through typer's CliRunner and through a real
`python -m kmsdoctor explain` process (argument and stdin, text and JSON, exit codes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app
from kmsdoctor.errors import UsageError
from kmsdoctor.explain import emit_explanation, explain_message

REPO = Path(__file__).resolve().parents[2]
KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_POLICY_DENIAL = (
    "An error occurred (AccessDenied) when calling the GetObject operation: User: "
    "arn:aws:sts::222222222222:assumed-role/Reader/etl-run-42 is not authorized to perform: "
    f"kms:Decrypt on resource: {KEY} because no resource-based policy allows the kms:Decrypt "
    "action"
)
BARE = "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied"
GIBBERISH = "the build is red again, no idea why"
CONTRACT_KEYS = ["principal", "action", "resource", "lock", "deny_type", "next_steps", "command"]
# Every kmsdoctor JSON document starts with these (DESIGN.md §4).
HEADER_KEYS = ["schema_version", "kmsdoctor_version", "generated_at", "request"]
ANSI = re.compile(r"\x1b\[")

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/+=="
WITH_CREDENTIALS = (
    "$ export AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\n"
    f"$ export AWS_SECRET_ACCESS_KEY={SECRET}\n"
    f"$ export AWS_SESSION_TOKEN={TOKEN}\n"
    "$ aws s3 cp s3://shared-artifacts/app.zip .\n" + KEY_POLICY_DENIAL
)


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "kmsdoctor", "explain", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


# --- CliRunner ------------------------------------------------------------------------------------


def test_cli_runner_text_names_the_lock_and_exits_0():
    result = CliRunner().invoke(app, ["explain", KEY_POLICY_DENIAL])
    assert result.exit_code == 0, result.output
    assert "lock       key_policy (implicit deny)" in result.output
    assert "kmsdoctor diagnose \\" in result.output


def test_cli_runner_json_has_exactly_the_documented_keys():
    result = CliRunner().invoke(app, ["explain", "--format", "json", KEY_POLICY_DENIAL])
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert list(document) == [*HEADER_KEYS, *CONTRACT_KEYS, "summary", "recognised"]
    assert document["schema_version"] == 1
    assert document["request"] == {
        "bucket": None,
        "key": None,
        "operation": "read",
        "region": "eu-west-1",
        "principals": ["arn:aws:sts::222222222222:assumed-role/Reader/etl-run-42"],
    }
    assert document["lock"] == "key_policy"
    assert document["deny_type"] == "implicit"
    assert document["resource"] == KEY
    assert document["command"].startswith("kmsdoctor diagnose --source-profile")


def test_cli_runner_reads_stdin_when_no_argument_or_dash():
    for args in (["explain"], ["explain", "-"]):
        result = CliRunner().invoke(app, [*args, "--format", "json"], input=BARE + "\n")
        assert result.exit_code == 0, args
        assert json.loads(result.output)["deny_type"] is None


def test_cli_runner_unrecognised_message_exits_3():
    result = CliRunner().invoke(app, ["explain", "--format", "json", GIBBERISH])
    assert result.exit_code == 3
    assert json.loads(result.output)["recognised"] is False


def test_cli_runner_empty_message_is_a_usage_error():
    result = CliRunner().invoke(app, ["explain", "   "])
    assert isinstance(result.exception, UsageError)


def test_unknown_format_is_a_usage_error_not_a_crash():
    with pytest.raises(UsageError):
        emit_explanation(explain_message(BARE), "yaml")


# --- a real process ---------------------------------------------------------------------------


def test_process_argument_json_exits_0():
    result = run_cli("--format", "json", KEY_POLICY_DENIAL)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lock"] == "key_policy"


def test_process_stdin_text_has_no_colour_and_fits_80_columns():
    result = run_cli(stdin=KEY_POLICY_DENIAL)
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout)
    for line in result.stdout.splitlines():
        # Only a single unbreakable token (an ARN) may be wider than 80 columns.
        assert len(line) <= 80 or len(line.split()) == 1, line


def test_process_multi_line_paste_on_stdin_is_read_whole():
    wrapped = KEY_POLICY_DENIAL.replace(" is not authorized", "\nis not authorized")
    result = run_cli("--format", "json", stdin=wrapped)
    assert json.loads(result.stdout)["principal"].endswith("assumed-role/Reader/etl-run-42")


@pytest.mark.parametrize(
    ("args", "stdin"), [(("",), None), (("   ",), None), ((), ""), ((), "\n\n")]
)
def test_process_empty_input_exits_2_with_one_line(args, stdin):
    result = run_cli(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("kmsdoctor: explain: ")


def test_process_unrecognised_message_exits_3():
    assert run_cli(GIBBERISH).returncode == 3


def test_process_never_echoes_pasted_credentials():
    for fmt in ("text", "json"):
        result = run_cli("--format", fmt, stdin=WITH_CREDENTIALS)
        assert result.returncode == 0, result.stderr
        for secret in ("ASIAIOSFODNN7EXAMPLE", SECRET, TOKEN, TOKEN[:24]):
            assert secret not in result.stdout + result.stderr, (fmt, secret)
        # The paste still got its diagnosis.
        assert "key_policy" in result.stdout


def test_explain_does_not_import_boto3_or_botocore():
    script = (
        "import json, sys\n"
        "from kmsdoctor.cli import main\n"
        f"sys.argv = ['kmsdoctor', 'explain', {KEY_POLICY_DENIAL!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "sys.stderr.write(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert "key_policy" in result.stdout, result.stderr
    assert json.loads(result.stderr) == []
