"""`make demo`: the sandbox builds the demo in a moto server and runs the real CLI on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_runs_the_cli_against_a_moto_server_and_gets_the_expected_exit():
    env_without_credentials = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [sys.executable, "-m", "moto_fixtures.sandbox", "demo"],
        cwd=ROOT,
        env=env_without_credentials,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "kmsdoctor sandbox: key-policy-missing-principal" in result.stdout
    assert "profile b = a session of BIAnalyticsRole" in result.stdout
    # The demo is broken on purpose: the CLI must say so (exit 1), as the scenario expects.
    assert "(this scenario expects 1)" in result.stdout
    assert "kmsdoctor exited 1" in result.stdout
    assert "Traceback" not in result.stderr
