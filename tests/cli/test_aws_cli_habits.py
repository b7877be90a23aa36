"""What an engineer used to the AWS CLI types by habit, and what kmsdoctor must do with it:
`--version`, a bare `kmsdoctor`, `AWS_REGION`, `AWS_PROFILE`, `s3://bucket/key` where a bucket
goes, `--output -`, `| head`, and help that shows how to call each command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kmsdoctor
from kmsdoctor.aws import session_for
from kmsdoctor.cli import _progress, app
from kmsdoctor.snapshot import Snapshot
from moto_fixtures.pytest_plugin import sandbox  # noqa: F401
from tests.analyze.factories import key_policy, make_key, make_snapshot

ROOT = Path(__file__).resolve().parents[2]
DEMO = "key-policy-missing-principal"
BUCKET = "datalake-curated-a"
KEY = "sales/2026/q1/regions.parquet"
COMMANDS = ["collect", "analyze", "diagnose", "explain"]


def kmsdoctor_process(
    args: list[str], env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "kmsdoctor", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
        cwd=ROOT,
        **kwargs,
    )


def run_in_process(*args: str):
    """The real entry point in this process (so moto's in-process mock answers)."""
    from unittest.mock import patch

    from kmsdoctor.cli import main

    with patch.object(sys, "argv", ["kmsdoctor", *args]):
        try:
            main()
        except SystemExit as exc:
            return exc.code
    return 0


# --- the command line itself ------------------------------------------------------------------


def test_version_prints_the_version():
    result = kmsdoctor_process(["--version"])
    assert result.returncode == 0
    assert result.stdout == f"kmsdoctor {kmsdoctor.__version__}\n"


def test_kmsdoctor_alone_prints_the_help_and_no_empty_error_line():
    result = kmsdoctor_process([])
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: kmsdoctor [OPTIONS] COMMAND [ARGS]...")
    assert "diagnose" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_has_an_example_and_no_type_placeholders(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    for placeholder in ("<str>", "<bool>", "<path>", "<list", "<text|json>"):
        assert placeholder not in result.stdout, placeholder
    example = result.stdout.split("Example:", 1)[1]
    assert f"kmsdoctor {command}" in example


def test_shell_completion_can_be_installed():
    # Typed in bash, as a user would: typer finds the shell among the command's parents, so a
    # suite run without a shell above it (a background job re-parented to init) still has one.
    result = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m kmsdoctor --show-completion; exit $?"],
        capture_output=True,
        text=True,
        env={**os.environ, "SHELL": "/bin/bash"},
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "_KMSDOCTOR_COMPLETE" in result.stdout


# --- profile and Region, as the AWS CLI resolves them -----------------------------------------


@pytest.fixture
def config_with_profile(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-central-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_aws_region_wins_over_aws_default_region_and_the_profile(config_with_profile):
    assert session_for("ops", None).region_name == "eu-central-1"
    config_with_profile.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert session_for("ops", None).region_name == "us-east-1"
    config_with_profile.setenv("AWS_REGION", "ap-south-1")
    assert session_for("ops", None).region_name == "ap-south-1"
    assert session_for("ops", "eu-west-1").region_name == "eu-west-1"  # --region wins


def test_an_unknown_aws_profile_is_named():
    result = kmsdoctor_process(
        ["diagnose", "--bucket", BUCKET, "--no-probe"], env={"AWS_PROFILE": "nosuch"}
    )
    assert result.returncode == 2
    assert result.stderr == "kmsdoctor: profile 'nosuch' is not in your AWS config files\n"


# --- s3:// addresses and keys ------------------------------------------------------------------


def _diagnose_json(capsys, *args: str) -> tuple[dict, int]:
    capsys.readouterr()
    code = run_in_process("diagnose", *args, "--no-probe", "--format", "json")
    out = capsys.readouterr()
    assert out.err == "", out.err  # no progress line when stderr is not a terminal
    return json.loads(out.out), code


def _profiles(box) -> list[str]:
    return ["--source-profile", "a", "--target-profile", "b", "--region", box.region]


@pytest.mark.parametrize(
    "address", [f"s3://{BUCKET}/{KEY}", f"arn:aws:s3:::{BUCKET}/{KEY}"], ids=["uri", "arn"]
)
def test_an_s3_uri_or_object_arn_as_bucket_gives_the_key(sandbox, capsys, address):  # noqa: F811
    box = sandbox(DEMO)
    by_name, name_code = _diagnose_json(capsys, *_profiles(box), "--bucket", BUCKET, "--key", KEY)
    by_address, address_code = _diagnose_json(capsys, *_profiles(box), "--bucket", address)
    assert by_address["request"]["bucket"] == BUCKET
    assert by_address["request"]["key"] == KEY
    assert (address_code, by_address["verdict"]) == (name_code, by_name["verdict"]) == (1, "deny")
    assert by_address["locks"] == by_name["locks"]


def test_an_address_and_a_different_key_is_one_line_exit_2():
    result = kmsdoctor_process(["diagnose", "--bucket", f"s3://{BUCKET}/{KEY}", "--key", "other"])
    assert result.returncode == 2
    assert result.stderr.startswith(f"kmsdoctor: --bucket 's3://{BUCKET}/{KEY}' names the key")
    assert len(result.stderr.splitlines()) == 1


def test_an_s3_uri_given_as_key_is_pointed_to_bucket():
    result = kmsdoctor_process(["diagnose", "--bucket", BUCKET, "--key", f"s3://{BUCKET}/{KEY}"])
    assert result.returncode == 2
    assert result.stderr == (
        f"kmsdoctor: --key 's3://{BUCKET}/{KEY}' is an S3 address, not a key: pass it as "
        f"--bucket s3://{BUCKET}/{KEY} (the key is taken from it)\n"
    )


@pytest.mark.parametrize("bucket", ["s3://my bucket/x", "my bucket", "s3:///key"])
def test_a_malformed_bucket_is_one_line_not_an_internal_error(bucket):
    result = kmsdoctor_process(["diagnose", "--bucket", bucket])
    assert result.returncode == 2
    assert result.stderr.startswith("kmsdoctor: ")
    assert "internal error" not in result.stderr
    assert "ParamValidationError" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_key_with_a_leading_slash_gets_a_hint(sandbox, capsys):  # noqa: F811
    box = sandbox(DEMO)
    capsys.readouterr()
    run_in_process(
        "diagnose", *_profiles(box), "--bucket", BUCKET, "--key", "/" + KEY, "--no-probe"
    )
    err = capsys.readouterr().err
    assert err.startswith(f"kmsdoctor: hint: the key '/{KEY}' starts with '/'")
    assert f"has key '{KEY}'" in err


# --- outputs -------------------------------------------------------------------------------------


def test_collect_output_dash_writes_the_snapshot_to_stdout(
    sandbox,  # noqa: F811
    capsys,
    tmp_path,
    monkeypatch,
):
    box = sandbox(DEMO)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    args = ["--bucket", BUCKET, "--key", KEY, "--output", "-"]
    code = run_in_process("collect", *_profiles(box), *args)
    out = capsys.readouterr()
    assert code == 0
    snapshot = Snapshot.from_json(out.out)
    assert [question.key for question in snapshot.questions] == [KEY]
    assert out.err.startswith("snapshot written to stdout")
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    ("snapshot", "verdict_code"),
    [(make_snapshot(), 0), (make_snapshot(key=make_key(policy=key_policy())), 1)],
    ids=["allow", "deny"],
)
def test_a_closed_pipe_ends_quietly_with_the_verdicts_exit_code(tmp_path, snapshot, verdict_code):
    # `kmsdoctor analyze snapshot.json | head -0`: the reader is gone before the report is out.
    path = tmp_path / "snapshot.json"
    path.write_text(snapshot.to_json(), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "kmsdoctor", "analyze", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == verdict_code
    assert stderr == ""


class FakeTerminal:
    def __init__(self) -> None:
        self.written: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_the_progress_line_shows_on_a_terminal_only(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _progress("reading both accounts' configuration…"):
        pass
    assert "reading both accounts' configuration…" in "".join(terminal.written)

    class NotATerminal(FakeTerminal):
        def isatty(self) -> bool:
            return False

    pipe = NotATerminal()
    monkeypatch.setattr(sys, "stderr", pipe)
    with _progress("reading both accounts' configuration…"):
        pass
    assert pipe.written == []


def test_collect_json_summary_carries_the_document_header(sandbox, capsys, tmp_path):  # noqa: F811
    box = sandbox(DEMO)
    output = tmp_path / "snapshot.json"
    capsys.readouterr()
    args = ["--bucket", f"s3://{BUCKET}/{KEY}", "--output", str(output), "--format", "json"]
    assert run_in_process("collect", *_profiles(box), *args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary)[:4] == ["schema_version", "kmsdoctor_version", "generated_at", "request"]
    assert summary["request"]["key"] == KEY
    assert summary["output"] == str(output)
