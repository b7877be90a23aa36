"""A mistyped command line at 3 a.m. gets one line that says what is wrong, and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

MISTAKES = [
    (["diagnose"], "Missing option '--bucket'", "kmsdoctor diagnose --help"),
    (["collect", "--bucket", "b"], "Missing option '--output'", "kmsdoctor collect --help"),
    (["diagnose", "--bucket", "b", "--operation", "delete"], "'delete' is not one of", "diagnose"),
    (["diagnose", "--bucket", "b", "--format", "xml"], "'xml' is not one of", "diagnose"),
    (["bogus"], "No such command 'bogus'", "kmsdoctor --help"),
]


def run_kmsdoctor(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "kmsdoctor", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("args", "says", "points_to"), MISTAKES)
def test_command_line_mistake_is_one_line_and_exit_2(args, says, points_to):
    result = run_kmsdoctor(args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kmsdoctor: ")
    assert says in lines[0]
    assert points_to in lines[0]
    assert "internal error" not in lines[0]


def test_unknown_profile_is_one_line_and_exit_2():
    result = run_kmsdoctor(
        ["diagnose", "--bucket", "b", "--source-profile", "nope", "--target-profile", "nope"]
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "kmsdoctor: profile 'nope' is not in your AWS config files"
