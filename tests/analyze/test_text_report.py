"""The terminal report: a panel per lock with ✓ / ✗ / ?, fixes and CloudTrail hints, 80 columns,
no colour when NO_COLOR is set or stdout is not a terminal."""

from __future__ import annotations

import io

from kmsdoctor.report import emit
from kmsdoctor.report.text_report import print_text
from tests.analyze.factories import (
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    diagnose,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    unknown,
)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _text(diagnosis, stream=None) -> str:
    stream = stream or io.StringIO()
    print_text(diagnosis, stream)
    return stream.getvalue()


def test_shut_key_policy_shows_cross_fix_command_and_cloudtrail_hint():
    output = _text(diagnose(make_snapshot(key=make_key(policy=key_policy()))))
    assert "kmsdoctor verdict: DENY" in output
    assert "✗ key_policy · implicit deny" in output
    assert "✓ bucket_policy · allow" in output
    assert "KD301 error" in output
    assert '"kms:ViaService": "s3.eu-west-1.amazonaws.com"' in output
    assert "Show current: aws kms get-key-policy" in output
    assert "CloudTrail: A's trail" in output


def test_unknown_lock_shows_a_question_mark():
    principal = make_principal(inline=unknown("iam:ListRolePolicies"))
    output = _text(diagnose(make_snapshot(principals=[principal])))
    assert "? identity · unknown" in output
    assert "UNKNOWN" in output


def test_not_applicable_locks_are_listed_together():
    output = _text(diagnose(make_snapshot()))
    assert "Not applicable" in output
    assert "– scp:" in output


def test_lines_fit_in_80_columns_and_no_escape_codes_when_not_a_terminal():
    output = _text(diagnose(make_snapshot(key=make_key(policy=key_policy()))))
    assert "\x1b[" not in output
    assert max(len(line) for line in output.splitlines()) <= 80


def test_no_colour_on_a_terminal_when_no_color_is_set(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    output = _text(diagnose(make_snapshot(key=make_key(policy=key_policy()))), FakeTerminal())
    assert "\x1b[3" not in output  # no foreground colours
    assert "✗ key_policy" in output


def test_colour_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    output = _text(diagnose(make_snapshot(key=make_key(policy=key_policy()))), FakeTerminal())
    assert "\x1b[" in output


def test_several_principals_start_with_a_summary_and_show_the_shut_one_first():
    # The pipeline incident: four roles, and only the last one given is shut out of the key.
    allowed = [
        make_principal(f"arn:aws:iam::{B}:role/{name}", session_arn=None, source="role_arn")
        for name in ("PipelineRole", "BuildRole", "DeployActionRole")
    ]
    denied = make_principal(
        f"arn:aws:iam::{B}:role/DeployExecutionRole", session_arn=None, source="role_arn"
    )
    everyone = [p.arn for p in (*allowed, denied)]
    snapshot = make_snapshot(
        key=make_key(policy=key_policy(allow_role_decrypt_statement([p.arn for p in allowed]))),
        bucket_policy_doc=bucket_policy(allow_role_read_statement(principal=everyone)),
        principals=[*allowed, denied],
    )
    output = _text(diagnose(snapshot))
    assert "DENY" in output
    summary_at = output.index("Summary")
    details = [output.index(f"Principal {p.arn}") for p in (*allowed, denied)]
    assert summary_at < min(details)
    assert details[3] == min(details)  # the shut principal's panels come first
    assert details[0] < details[1] < details[2]  # the others keep the order given


def test_policy_text_with_brackets_is_printed_verbatim_not_as_markup():
    output = _text(diagnose(make_snapshot(key=make_key(policy=key_policy()))))
    assert '"Action": "kms:Decrypt"' in output
    assert "[bold]" not in output


def test_emit_returns_the_exit_code_for_both_formats(capsys):
    diagnosis = diagnose(make_snapshot(key=make_key(policy=key_policy())))
    assert emit(diagnosis, "text") == 1
    assert emit(diagnosis, "json") == 1
    assert '"verdict": "deny"' in capsys.readouterr().out
