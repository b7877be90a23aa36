"""The terminal report an on-call engineer reads at 3 a.m.: the answer in the first lines, fixes
that paste as they are, open locks out of the way, and no claim that access works when the
object itself was never checked."""

from __future__ import annotations

import copy
import io
import json
import re

from kmsdoctor.analyze.model import Diagnosis
from kmsdoctor.report import emit, request_of
from kmsdoctor.report.fix_files import write_fix_files
from kmsdoctor.report.text_report import print_text
from tests.analyze.factories import (
    KEY_ARN,
    A,
    B,
    diagnose,
    finding,
    make_principal,
    make_snapshot,
    only,
    unknown,
)
from tests.report import incidents

ARN = re.compile(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d*:[A-Za-z0-9/_+=,.@:*-]+")
BOX_DRAWING = re.compile(r"[│╭╮╰╯─┌┐└┘]")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _text(diagnosis, stream=None, request=None, fix_files=(), width=None) -> str:
    stream = stream or io.StringIO()
    print_text(diagnosis, stream, request=request, fix_files=fix_files, width=width)
    return stream.getvalue()


def key_policy_missing_the_role():
    """The BI incident: the key policy names only A's root, so BIAnalyticsRole cannot decrypt."""
    snapshot = incidents.key_policy_missing_the_role()
    return snapshot, diagnose(snapshot)


def test_the_first_three_lines_give_verdict_shut_lock_with_code_and_the_fix():
    snapshot, diagnosis = key_policy_missing_the_role()
    lines = _text(diagnosis, request=request_of(snapshot)).splitlines()
    assert lines[0] == "kmsdoctor verdict: DENY — key_policy is shut"
    assert lines[1].startswith("  ✗ key_policy (implicit deny) KD301 — The key policy does not")
    answer = " ".join(line.strip() for line in lines[2:4])
    assert answer == (
        "Fix: key_policy in A 111111111111: KD301 — add a statement for role/BIAnalyticsRole "
        "allowing kms:Decrypt"
    )


def test_the_shut_lock_comes_before_the_open_ones_which_take_one_line_each():
    snapshot, diagnosis = key_policy_missing_the_role()
    lines = _text(diagnosis, request=request_of(snapshot)).splitlines()
    full = lines.index("✗ key_policy · implicit deny")
    one_liners = [i for i, line in enumerate(lines) if re.match(r"^[✓–] \w+ · ", line)]
    assert len(one_liners) == 9  # every other lock
    assert one_liners == list(range(one_liners[0], one_liners[0] + 9))  # one line each
    assert full < one_liners[0]
    assert all(len(lines[i]) <= 80 for i in one_liners)


def test_the_fix_statement_pastes_as_json_with_no_border_and_no_split_arn():
    snapshot, diagnosis = key_policy_missing_the_role()
    output = _text(diagnosis, request=request_of(snapshot))
    assert not BOX_DRAWING.search(output)
    start = output.index('    {\n      "Sid": "AllowBIAnalyticsRoleViaS3"')
    end = output.index("\n    }\n", start) + len("\n    }")
    pasted = json.loads(output[start:end])
    assert pasted == finding(only(diagnosis), "KD301").fix.statement


def test_commands_and_arns_are_never_split_across_lines():
    snapshot, diagnosis = key_policy_missing_the_role()
    output = _text(diagnosis, request=request_of(snapshot))
    command = finding(only(diagnosis), "KD301").fix.show_current[0]
    assert command in output.splitlines()[output.splitlines().index("  Show current:") + 1]
    known = {arn.rstrip(".,:;") for arn in ARN.findall(json.dumps(diagnosis.to_dict()))}
    seen = 0
    for line in output.splitlines():
        for match in ARN.finditer(line):
            if line[match.end() : match.end() + 1] == "…":
                continue  # a one-line summary cut at the width, said with …
            assert match.group(0).rstrip(".,:;") in known, line
            seen += 1
    assert seen > 10


def test_prose_wraps_at_80_columns_and_only_copyable_lines_are_longer():
    snapshot, diagnosis = key_policy_missing_the_role()
    output = _text(diagnosis, request=request_of(snapshot))
    assert "\x1b[" not in output
    for line in output.splitlines():
        if len(line) > 80:
            # a command, or one word that cannot be broken (an ARN) on its own line
            assert line.startswith("    aws ") or len(line.split()) == 1, line


def test_a_wider_terminal_gets_wider_lines():
    snapshot, diagnosis = key_policy_missing_the_role()
    narrow = _text(diagnosis, request=request_of(snapshot), width=80)
    wide = _text(diagnosis, request=request_of(snapshot), width=100)
    assert max(len(line) for line in wide.splitlines() if "aws kms" not in line) > 80
    assert len(wide.splitlines()) < len(narrow.splitlines())


def test_unknown_lock_is_shown_in_full_with_a_question_mark():
    principal = make_principal(inline=unknown("iam:ListRolePolicies"))
    snapshot = make_snapshot(principals=[principal])
    output = _text(diagnose(snapshot), request=request_of(snapshot))
    lines = output.splitlines()
    assert lines[0].startswith("kmsdoctor verdict: UNKNOWN — could not decide: identity")
    assert "? identity · unknown" in lines
    assert "iam:ListRolePolicies" in output


def test_no_key_never_claims_access_works_and_says_what_was_not_checked():
    # `diagnose --bucket datalake-curated-a` without --key: only the bucket default is known.
    snapshot = make_snapshot(object_key=None)
    diagnosis = diagnose(snapshot)
    assert diagnosis.verdict == "allow"
    output = _text(diagnosis, request=request_of(snapshot))
    assert output.splitlines()[0] == (
        "kmsdoctor verdict: ALLOW — bucket default only: the object was not checked"
    )
    assert "access works" not in output
    flat = " ".join(output.split())
    assert "Checked without --key: the bucket's default encryption key" in flat
    assert "Not checked: that the object exists, the key it was really written with" in flat


def test_with_a_key_an_open_path_says_access_works():
    snapshot = make_snapshot()
    output = _text(diagnose(snapshot), request=request_of(snapshot))
    assert output.splitlines()[0] == "kmsdoctor verdict: ALLOW — access works: every lock is open"
    assert "Not checked" not in output


def test_no_colour_on_a_terminal_when_no_color_is_set(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    _, diagnosis = key_policy_missing_the_role()
    output = _text(diagnosis, FakeTerminal())
    assert "\x1b[3" not in output  # no foreground colours
    assert "✗ key_policy" in output


def test_colour_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    _, diagnosis = key_policy_missing_the_role()
    assert "\x1b[" in _text(diagnosis, FakeTerminal())


def test_several_principals_name_the_shut_one_first_and_detail_it_first():
    snapshot, arns = incidents.pipeline_with_the_execution_role_shut_out()
    output = _text(diagnose(snapshot), request=request_of(snapshot))
    lines = output.splitlines()
    assert lines[0] == "kmsdoctor verdict: DENY — 1 of 4 principals are shut out"
    assert lines[1] == f"  DENY    {arns[3]}"
    assert lines[2].startswith("    ✗ key_policy (implicit deny) KD301")
    assert "role/DeployExecutionRole allowing kms:Decrypt" in " ".join(lines[3:5])
    details = [output.index(f"Principal {arn} · ") for arn in arns]
    assert details[3] == min(details)  # the shut principal's details come first
    assert details[0] < details[1] < details[2]  # the others keep the order given


def test_policy_text_with_brackets_is_printed_verbatim_not_as_markup():
    _, diagnosis = key_policy_missing_the_role()
    output = _text(diagnosis)
    assert '"Action": "kms:Decrypt"' in output
    assert "[bold]" not in output


def test_emit_returns_the_exit_code_for_both_formats(capsys):
    _, diagnosis = key_policy_missing_the_role()
    assert emit(diagnosis, "text") == 1
    assert emit(diagnosis, "json") == 1
    assert '"verdict": "deny"' in capsys.readouterr().out


# --- proven fixes: the patched policy and its apply command -------------------------------------


def with_a_proven_key_policy_fix():
    """KD301 as the fix prover leaves it: the whole patched key policy and its put command."""
    snapshot, diagnosis = key_policy_missing_the_role()
    patched = incidents.prove_the_key_policy_fix(diagnosis)
    return snapshot, diagnosis, patched


def test_without_fix_dir_the_patched_policy_and_apply_command_are_printed_to_copy():
    snapshot, diagnosis, patched = with_a_proven_key_policy_fix()
    output = _text(diagnosis, request=request_of(snapshot))
    start = output.index("Patched policy (the whole document):")
    block = output[output.index("{", start) : output.index("\n    }\n", start) + 6]
    assert json.loads(block) == patched
    assert "Verified: re-analysed with the patched policy" in output
    lines = output.splitlines()
    apply_at = lines.index("  Apply (kmsdoctor never runs it):")
    assert lines[apply_at + 1].strip().startswith("aws kms put-key-policy --key-id " + KEY_ARN)


def test_fix_dir_writes_the_patched_policy_and_points_the_command_at_it(tmp_path):
    snapshot, diagnosis, patched = with_a_proven_key_policy_fix()
    written = write_fix_files(diagnosis, tmp_path / "fixes")
    assert [item.path.name for item in written] == ["key-policy.json"]
    path = tmp_path / "fixes" / "key-policy.json"
    assert json.loads(path.read_text(encoding="utf-8")) == patched
    output = _text(diagnosis, request=request_of(snapshot), fix_files=written)
    flat = " ".join(output.split())
    assert f"Patched policy written to {path}" in flat
    assert f"--policy file://{path} --profile a" in output
    assert "Patched policy (the whole document)" not in output  # the file holds it


def test_fix_dir_gives_two_fixes_of_one_key_policy_two_files_and_says_apply_one(tmp_path):
    # Two roles missing from the same key policy: each patch is the current policy plus one
    # statement, so applying both files one after the other would lose the first.
    _, diagnosis, _ = with_a_proven_key_policy_fix()
    second = copy.deepcopy(diagnosis.principals[0])
    second.principal = f"arn:aws:iam::{B}:role/DeployExecutionRole"
    both = Diagnosis(principals=[diagnosis.principals[0], second])
    written = write_fix_files(both, tmp_path)
    assert sorted(item.path.name for item in written) == ["key-policy-2.json", "key-policy.json"]
    assert all(item.shares_target for item in written)
    output = " ".join(_text(both, fix_files=written).split())
    assert "apply one, then run kmsdoctor again" in output


def test_json_report_carries_version_time_and_request(capsys):
    snapshot, diagnosis = key_policy_missing_the_role()
    emit(diagnosis, "json", request_of(snapshot))
    document = json.loads(capsys.readouterr().out)
    assert list(document)[:4] == ["schema_version", "kmsdoctor_version", "generated_at", "request"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["generated_at"])
    assert document["request"] == {
        "bucket": "datalake-curated-a",
        "key": "sales/2026/q1/regions.parquet",
        "operation": "read",
        "region": "eu-west-1",
        "principals": [f"arn:aws:iam::{B}:role/BIAnalyticsRole"],
    }
    assert A in json.dumps(document)
