"""`diagnose --expect allow|deny` in CI: the exit code says whether the expectation held
(0 held, 1 not, 3 undecidable), whatever the verdict, and the report is printed as usual."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app


def run(box, *extra: str):
    result = CliRunner().invoke(app, box.cli_args("diagnose", "--no-probe", *extra))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.parametrize(
    ("scenario", "expect", "code"),
    [
        ("healthy-cross-account-read", "allow", 0),
        ("healthy-cross-account-read", "deny", 1),
        ("key-policy-missing-principal", "deny", 0),
        ("key-policy-missing-principal", "allow", 1),
    ],
)
def test_expect_exit_code_says_whether_the_verdict_matched(sandbox, scenario, expect, code):
    box = sandbox(scenario)
    result = run(box, "--expect", expect)
    assert result.exit_code == code
    assert "key_policy" in result.stdout  # the report is printed as without --expect


def test_expect_is_3_when_a_needed_lock_cannot_be_read(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    aws_faults.add("kms", "GetKeyPolicy", "AccessDeniedException", "not allowed")
    for expect in ("allow", "deny"):
        assert run(box, "--expect", expect, "--format", "json").exit_code == 3


def test_without_expect_the_exit_code_is_the_verdicts(sandbox):
    box = sandbox("key-policy-missing-principal")
    assert run(box).exit_code == 1
