"""The sandbox a user drives: `make demo`, `list`, and `serve`, whose printed lines must work when
pasted into another shell (both the sandbox's own config files and role_arn profiles)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.signals import default_sigint

ROOT = Path(__file__).resolve().parents[2]
ENV_WITHOUT_CREDENTIALS = {
    "PATH": "/usr/bin:/bin",
    "HOME": str(ROOT),
    "LANG": "C.UTF-8",
    # the slim service models in this run's directory (tests/conftest.py), not ROOT/.cache
    "KMSDOCTOR_MODEL_CACHE": os.environ["KMSDOCTOR_MODEL_CACHE"],
}


def sandbox(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moto_fixtures.sandbox", *args],
        cwd=ROOT,
        env=ENV_WITHOUT_CREDENTIALS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_make_demo_runs_the_cli_against_a_moto_server_and_gets_the_expected_exit():
    result = sandbox("demo")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "kmsdoctor sandbox: key-policy-missing-principal" in result.stdout
    assert "profile b = a session of BIAnalyticsRole" in result.stdout
    # The demo is broken on purpose: the CLI must say so (exit 1), as the scenario expects.
    assert "(this scenario expects 1)" in result.stdout
    assert "kmsdoctor exited 1" in result.stdout
    assert "Traceback" not in result.stderr


def test_help_and_list_name_every_scenario():
    help_text = sandbox("--help")
    assert help_text.returncode == 0
    for command in ("list", "demo", "serve"):
        assert command in help_text.stdout
    listing = sandbox("list")
    assert listing.returncode == 0
    names = [line.split(" — ", 1)[0] for line in listing.stdout.splitlines()]
    scenarios = sorted(p.stem for p in (ROOT / "moto_fixtures" / "scenarios").glob("*.json"))
    assert names == ["demo", *scenarios]


def test_an_unknown_scenario_is_one_line_and_exit_2():
    result = sandbox("serve", "no-such-scenario")
    assert result.returncode == 2
    assert result.stderr.startswith("sandbox: no scenario 'no-such-scenario'")


def _paste_block(lines: list[str], after: str) -> list[str]:
    """The indented lines of the block that follows the line `after`."""
    start = lines.index(after) + 2
    block = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line[2:])
    return block


def _run_pasted(exports: list[str], command: str, extra_env: dict[str, str]) -> int:
    env = dict(ENV_WITHOUT_CREDENTIALS)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(extra_env)
    for line in exports:
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    return subprocess.run(
        command, shell=True, env=env, capture_output=True, text=True, timeout=120, check=False
    ).returncode


def test_serve_keeps_a_server_whose_pasted_lines_and_role_arn_profiles_work(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "moto_fixtures.sandbox", "serve", "demo", "--dir", str(tmp_path)],
        cwd=ROOT,
        env=ENV_WITHOUT_CREDENTIALS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "serve ended early: " + (process.stderr.read() if process.stderr else "")
            lines.append(line.rstrip("\n"))
            if line.startswith("  kmsdoctor diagnose --source-profile sandbox-a"):
                break
        pasted = _paste_block(lines, "In another shell, paste:")
        exports = [line for line in pasted if line.startswith("export ")]
        assert {line.split("=", 1)[0] for line in exports} >= {
            "export AWS_ENDPOINT_URL",
            "export AWS_CONFIG_FILE",
            "export AWS_SHARED_CREDENTIALS_FILE",
        }
        # The sandbox's own profile files: the demo's broken key policy, exit 1.
        assert _run_pasted(exports, pasted[-1], {}) == 1

        # Role_arn profiles in one's own files, as printed.
        own = _paste_block(lines, "then:")
        text = "\n".join(lines)
        credentials_text = text.split("# ~/.aws/credentials (moto accepts any keys)\n", 1)[1]
        credentials_text = credentials_text.split("\n\n", 1)[0]
        config_text = text.split("# ~/.aws/config\n", 1)[1].split("\n\n", 1)[0]
        (tmp_path / "own-credentials").write_text(_dedent(credentials_text), encoding="utf-8")
        (tmp_path / "own-config").write_text(_dedent(config_text), encoding="utf-8")
        endpoint = [line for line in own if line.startswith("export ")]
        own_env = {
            "AWS_CONFIG_FILE": str(tmp_path / "own-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "own-credentials"),
        }
        assert _run_pasted(endpoint, own[-1], own_env) == 1
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "sandbox stopped" in out
    assert "Traceback" not in err


def _dedent(block: str) -> str:
    return "\n".join(line[2:] for line in block.splitlines()) + "\n"
