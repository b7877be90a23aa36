"""The terminal report, answer first.

The first lines are the answer: the verdict, each shut lock with its finding code, and each fix
in one line. Then, per principal (shut ones first), the shut and unknown locks in full, the open
and not-applicable ones one line each, the other findings, and what the probe saw; notes last.

Copyable as printed: fix statements, patched policies and AWS CLI commands are never boxed,
indented inside a border or wrapped (printed with soft wrap, so a long ARN stays one string; the
terminal may fold it on screen, a copy gives it back whole). Prose wraps at the console width,
but a word longer than the line (an ARN) is never split. No colour when NO_COLOR is set or
stdout is not a terminal; 80 columns when it is not a terminal. Policy text is printed with
`rich.text.Text`, never as markup, so brackets in JSON or ARNs are shown as they are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from kmsdoctor.analyze.model import (
    DENY_STATUSES,
    Diagnosis,
    Finding,
    Fix,
    LockResult,
    PrincipalDiagnosis,
)
from kmsdoctor.arn import parse_arn
from kmsdoctor.lock_catalogue import lock_spec
from kmsdoctor.report.pipe import QuietPipeConsole

if TYPE_CHECKING:
    from kmsdoctor.report.fix_files import WrittenFix

SYMBOLS = {
    "allow": "✓",
    "implicit_deny": "✗",
    "explicit_deny": "✗",
    "unknown": "?",
    "not_applicable": "–",
}
STYLES = {
    "allow": "green",
    "implicit_deny": "red",
    "explicit_deny": "bold red",
    "unknown": "yellow",
    "not_applicable": "dim",
}
STATUS_WORDS = {
    "allow": "allow",
    "implicit_deny": "implicit deny",
    "explicit_deny": "explicit deny",
    "unknown": "unknown",
    "not_applicable": "not applicable",
}
VERDICT_WORDS = {
    "allow": ("ALLOW", "green"),
    "deny": ("DENY", "red"),
    "unknown": ("UNKNOWN", "yellow"),
}
SEVERITY_STYLES = {"error": "red", "warning": "yellow", "info": "cyan"}
# When AWS's answer to the probe decided the verdict rather than the locks.
PROBE_VERDICT_WORDS = {
    "allow": "the read works: the probe as the caller read one byte",
    "deny": "AWS denied the read to the probe as the caller",
    "unknown": "could not decide: the probe disagrees with the analysis",
}
# How the first lines name the account of a fix: A owns the bucket and key, B is the caller's.
_SIDE_LETTERS = {"resource": "A", "caller": "B"}
INDENT = "  "


def make_console(stream: IO[str], width: int | None = None) -> Console:
    """`width`: fixed columns (tests, golden files); default the terminal's, or 80 when the
    output is not a terminal."""
    no_color = bool(os.environ.get("NO_COLOR"))
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    if width is None and not is_terminal:
        width = 80
    return QuietPipeConsole(
        file=stream,
        no_color=no_color,
        color_system="auto" if is_terminal and not no_color else None,
        force_terminal=False if not is_terminal else None,
        width=width,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def print_text(
    diagnosis: Diagnosis,
    stream: IO[str],
    request: dict[str, Any] | None = None,
    fix_files: Sequence[WrittenFix] = (),
    width: int | None = None,
) -> None:
    """The whole report. `request`: what was asked (report.request_of); without it the object
    key is taken as given. `fix_files`: the patched policies `--fix-dir` wrote."""
    console = make_console(stream, width)
    written = {id(item.finding): item for item in fix_files}
    no_key = request is not None and request.get("key") is None

    print_answer(console, diagnosis, no_key)
    for principal in worst_first(diagnosis.principals):
        console.print()
        print_principal(console, principal, written)

    if fix_files and any(item.shares_target for item in fix_files):
        from kmsdoctor.report.fix_files import SHARED_TARGET_NOTE

        console.print()
        _prose(console, SHARED_TARGET_NOTE)
    if diagnosis.notes:
        console.print()
        console.print(Text("Notes", style="bold"))
        for note in diagnosis.notes:
            _prose(console, "• " + note, INDENT)


# --- the answer ---------------------------------------------------------------------------------


def print_answer(console: Console, diagnosis: Diagnosis, no_key: bool) -> None:
    """Verdict, shut locks with their codes, and each fix in one line."""
    word, style = VERDICT_WORDS[diagnosis.verdict]
    header = Text()
    header.append("kmsdoctor verdict: ", style="bold")
    header.append(word, style=f"bold {style}")
    header.append(f" — {verdict_meaning(diagnosis, no_key)}")
    _prose(console, header)

    several = len(diagnosis.principals) > 1
    for principal in worst_first(diagnosis.principals):
        if several:
            _one_line(console, _principal_line(principal))
        prefix = INDENT * 2 if several else INDENT
        for name in principal.shut_locks():
            _one_line(console, shut_lock_line(name, principal.locks[name], principal), prefix)
        if principal.verdict == "unknown":
            for name in _deciding_unknown_locks(principal):
                line = Text("? ", style=STYLES["unknown"])
                line.append(name, style="bold")
                line.append(f" — {principal.locks[name].reason}")
                _one_line(console, line, prefix)
        for finding in principal.findings:
            if finding.fix is not None and finding.lock in principal.shut_locks():
                # Wrapped rather than cut: the principal's name is what must be copied.
                line = Text("Fix: ", style="bold")
                line.append(fix_line(finding, principal))
                _prose(console, line, prefix, hanging=" " * len("Fix: "))
    if no_key:
        _prose(
            console,
            "Checked without --key: the bucket's default encryption key and an object ARN "
            "standing for any object (bucket/*). Not checked: that the object exists, the key it "
            "was really written with, its owner, and whether it was written with an S3 Bucket "
            "Key. Give --key (or --bucket s3://BUCKET/KEY) to check the object itself.",
            INDENT,
        )


def verdict_meaning(diagnosis: Diagnosis, no_key: bool) -> str:
    verdict = diagnosis.verdict
    if any(p.probe_verdict == verdict for p in diagnosis.principals):
        return PROBE_VERDICT_WORDS[verdict]
    if verdict == "deny":
        shut = [p for p in diagnosis.principals if p.verdict == "deny"]
        if len(diagnosis.principals) > 1:
            return f"{len(shut)} of {len(diagnosis.principals)} principals are shut out"
        names = shut[0].shut_locks() if shut else []
        if len(names) == 1:
            return f"{names[0]} is shut"
        return " and ".join(names) + " are shut" if names else "a lock is shut"
    if verdict == "unknown":
        unknown = sorted(
            {name for p in diagnosis.principals for name in _deciding_unknown_locks(p)}
        )
        if unknown:
            return "could not decide: " + ", ".join(unknown) + " could not be read"
        return "could not decide"
    if no_key:
        return "bucket default only: the object was not checked"
    return "access works: every lock is open"


def _deciding_unknown_locks(principal: PrincipalDiagnosis) -> list[str]:
    from kmsdoctor.analyze.model import CEILING_LOCKS

    return [
        name
        for name, result in principal.locks.items()
        if result.status == "unknown" and name not in CEILING_LOCKS
    ]


def _principal_line(principal: PrincipalDiagnosis) -> Text:
    word, style = VERDICT_WORDS[principal.verdict]
    line = Text(INDENT)
    line.append(word.ljust(8), style=f"bold {style}")
    line.append(principal.principal)
    return line


def shut_lock_line(name: str, result: LockResult, principal: PrincipalDiagnosis) -> Text:
    line = Text()
    line.append(SYMBOLS[result.status] + " ", style=STYLES[result.status])
    line.append(name, style="bold")
    line.append(f" ({STATUS_WORDS[result.status]})", style=STYLES[result.status])
    codes = [f.code for f in principal.findings if f.lock == name and f.severity == "error"]
    codes = codes or [f.code for f in principal.findings if f.lock == name]
    if codes:
        line.append(" " + ", ".join(dict.fromkeys(codes)), style="bold")
        first = next(f for f in principal.findings if f.code == codes[0])
        line.append(f" — {first.title}")
    return line


def fix_line(finding: Finding, principal: PrincipalDiagnosis) -> str:
    """`key_policy in A 111111111111: KD301 — add a statement for role/BIAnalyticsRole …`"""
    assert finding.fix is not None
    return f"{finding.lock} {where_to_fix(finding, principal)}: {finding.code} — " + fix_summary(
        finding.fix
    )


def where_to_fix(finding: Finding, principal: PrincipalDiagnosis) -> str:
    """`in A 111111111111` (the resource account) or `in B 222222222222` (the caller's), from
    the lock catalogue's side of the lock."""
    fix = finding.fix
    assert fix is not None
    side = lock_spec(finding.lock).side
    if side == "organization" or not fix.account:
        return "in the organization's management account"
    return f"in {_SIDE_LETTERS[side]} {fix.account}"


def fix_summary(fix: Fix) -> str:
    """The change in a few words: who the statement is for and what it allows, else the first
    sentence of the fix."""
    statement = fix.statement
    if statement and fix.change.lower().startswith("add") and statement.get("Effect") == "Allow":
        actions = ", ".join(_as_list(statement.get("Action")))
        principals = [_short_principal(p) for p in _statement_principals(statement)]
        if principals and actions:
            return f"add a statement for {', '.join(principals)} allowing {actions}"
        if actions:
            return f"add a statement allowing {actions}"
    first = fix.change.split(". ", 1)[0].rstrip(".")
    return first[:1].lower() + first[1:]


def _statement_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        found: list[str] = []
        for value in principal.values():
            found.extend(_as_list(value))
        return found
    return _as_list(principal)


def _short_principal(arn: str) -> str:
    """`role/BIAnalyticsRole` for an IAM role ARN; anything else as it is."""
    parsed = parse_arn(arn)
    if parsed is not None and parsed.service == "iam":
        return parsed.resource
    return arn


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


# --- one principal ------------------------------------------------------------------------------


def print_principal(
    console: Console,
    principal: PrincipalDiagnosis,
    written: dict[int, WrittenFix] | None = None,
) -> None:
    written = written or {}
    word, style = VERDICT_WORDS[principal.verdict]
    heading = Text()
    heading.append("Principal ", style="bold")
    heading.append(principal.principal)
    heading.append(" · ")
    heading.append(word, style=f"bold {style}")
    _prose(console, heading)

    findings_by_lock: dict[str, list[Finding]] = {}
    for finding in principal.findings:
        findings_by_lock.setdefault(finding.lock, []).append(finding)

    # Shut and unknown locks in full, then the rest one line each.
    brief: list[tuple[str, LockResult]] = []
    for name, result in principal.locks.items():
        if result.status in DENY_STATUSES or result.status == "unknown":
            console.print()
            print_lock(console, name, result, findings_by_lock.pop(name, []), principal, written)
        else:
            brief.append((name, result))
    if brief:
        console.print()
        for name, result in brief:
            line = Text()
            line.append(SYMBOLS[result.status] + " ", style=STYLES[result.status])
            line.append(name, style="bold")
            line.append(f" · {STATUS_WORDS[result.status]}", style=STYLES[result.status])
            line.append(f" — {result.reason}")
            _one_line(console, line)

    # Findings on open or not-applicable locks: warnings worth reading, below the one-liners.
    others = [f for name, _ in brief for f in findings_by_lock.get(name, [])]
    if others:
        console.print()
        console.print(Text("Also found", style="bold"))
        for finding in others:
            print_finding(console, finding, principal, written)
    if principal.probe is not None:
        console.print()
        print_probe(console, principal.probe)


def print_lock(
    console: Console,
    name: str,
    result: LockResult,
    findings: list[Finding],
    principal: PrincipalDiagnosis,
    written: dict[int, WrittenFix],
) -> None:
    title = Text()
    title.append(SYMBOLS[result.status] + " ", style=STYLES[result.status])
    title.append(name, style="bold")
    title.append(" · " + STATUS_WORDS[result.status], style=STYLES[result.status])
    _prose(console, title)
    _prose(console, result.reason, INDENT)
    for line in deciding_lines(result):
        _prose(console, line, INDENT)
    for finding in findings:
        print_finding(console, finding, principal, written)
    hint = result.evidence.cloudtrail
    if hint:
        # The hint ends with the lookup command: printed whole, on its own line, to copy.
        sentence, marker, command = str(hint).partition(" Look up: ")
        text = Text("CloudTrail: ", style="bold")
        text.append(sentence)
        _prose(console, text, INDENT)
        if marker and command.startswith("aws "):
            _command(console, "Look up", command)
        elif marker:
            _prose(console, "Look up: " + command, INDENT)


def deciding_lines(result: LockResult) -> list[Text]:
    """The statements that decided (or nearly allowed), one each."""
    lines = []
    for request in result.evidence.requests or []:
        for statement in request.statements or []:
            label = "Deciding" if statement.applies else "Closest"
            line = Text(f"{label}: ", style="bold")
            line.append(statement.summary)
            lines.append(line)
    return lines


def print_finding(
    console: Console,
    finding: Finding,
    principal: PrincipalDiagnosis,
    written: dict[int, WrittenFix],
) -> None:
    head = Text()
    head.append(finding.code, style="bold")
    head.append(f" {finding.severity}", style=SEVERITY_STYLES[finding.severity])
    head.append(f"  {finding.title}", style="bold")
    console.print()
    _prose(console, head, INDENT)
    _prose(console, finding.detail, INDENT)
    fix = finding.fix
    if fix is None:
        return
    where = Text("Fix", style="bold")
    where.append(f" — {fix.where}: {fix.change}")
    _prose(console, where, INDENT)
    if fix.statement is not None:
        _copyable(console, _json(fix.statement))
    for command in fix.show_current:
        _command(console, "Show current", command)
    if fix.verification:
        label = "Verified" if fix.verified else "Not verified"
        text = Text(f"{label}: ", style="bold")
        text.append(fix.verification)
        _prose(console, text, INDENT)
    item = written.get(id(finding))
    if item is not None:
        text = Text("Patched policy written to ", style="bold")
        text.append(str(item.path))
        _one_line_whole(console, text, INDENT)
        if item.apply_command:
            _command(console, "Apply (kmsdoctor never runs it)", item.apply_command)
    elif fix.patched_policy is not None:
        _prose(console, Text("Patched policy (the whole document):", style="bold"), INDENT)
        _copyable(console, _json(fix.patched_policy))
        if fix.apply_command:
            _command(console, "Apply (kmsdoctor never runs it)", fix.apply_command)


# --- the probe ----------------------------------------------------------------------------------

PROBE_STYLES = {"agrees": "green", "settles": "green", "disagrees": "yellow", "partial": "dim"}
OUTCOME_SYMBOLS = {"ok": "✓", "error": "✗", "skipped": "–"}


def print_probe(console: Console, probe: dict[str, Any]) -> None:
    """What AWS answered as the caller, each call with what it proves, and the agreement."""
    style = PROBE_STYLES.get(str(probe.get("status")), "dim")
    title = Text("Probe as the caller", style="bold")
    title.append(f" · {probe.get('status')}", style=style)
    _prose(console, title)
    summary = Text(str(probe.get("summary", "")))
    if probe.get("verdict"):
        summary.append(f" (verdict decided by the probe: {probe['verdict']})")
    _prose(console, summary, INDENT)
    for call in probe.get("calls", []):
        line = Text(f"{OUTCOME_SYMBOLS.get(call.get('outcome'), '?')} {call.get('operation')}")
        if call.get("error_code"):
            line.append(f" {call['error_code']}")
            if call.get("error_message"):
                line.append(f": {call['error_message']}")
        _prose(console, line, INDENT)
        if call.get("meaning"):
            _prose(console, Text(str(call["meaning"]), style="dim"), INDENT * 2)
    unseen = probe.get("unseen_layers") or []
    if unseen:
        _prose(console, Text("Layers kmsdoctor could not see that can explain it:"), INDENT)
        for layer in unseen:
            _prose(console, f"• {layer}", INDENT * 2)
    for entry in probe.get("cloudtrail", []):
        line = Text("CloudTrail: ", style="bold")
        line.append(str(entry.get("detail", "")))
        if entry.get("error"):
            line.append(f" ({entry['error']})")
        _prose(console, line, INDENT)


# Details are printed for the shut principals first; the summary keeps the order given.
_VERDICT_RANK = {"deny": 0, "unknown": 1, "allow": 2}


def worst_first(principals: list[PrincipalDiagnosis]) -> list[PrincipalDiagnosis]:
    return sorted(principals, key=lambda principal: _VERDICT_RANK[principal.verdict])


# --- printing helpers ---------------------------------------------------------------------------


def _prose(console: Console, text: Text | str, indent: str = "", hanging: str = "") -> None:
    """Wrapped at the console width, indented (`hanging`: further indent of the lines after
    the first); a word longer than a line (an ARN) is left whole."""
    body = text if isinstance(text, Text) else Text(text)
    body = body.copy()
    body.overflow = "ignore"
    width = max(console.width - len(indent) - len(hanging), 20)
    # overflow "ignore" on the text (not passed to wrap(), where it means "do not wrap"): lines
    # break between words only, and a word wider than the line is neither folded nor cut.
    for number, line in enumerate(body.wrap(console, width)):
        line.rstrip()
        console.print(Text(indent + (hanging if number else "")) + line, soft_wrap=True)


def _one_line(console: Console, text: Text, indent: str = "") -> None:
    """Exactly one line: cut with … at the console width (the full text is further down)."""
    console.print(Text(indent) + text, no_wrap=True, overflow="ellipsis", crop=True)


def _one_line_whole(console: Console, text: Text, indent: str = "") -> None:
    """One line never cut (a path or a command to copy); the terminal may fold it on screen."""
    console.print(Text(indent) + text, soft_wrap=True)


def _command(console: Console, label: str, command: str) -> None:
    _prose(console, Text(f"{label}:", style="bold"), INDENT)
    console.print(Text(INDENT * 2 + command), soft_wrap=True)


def _copyable(console: Console, text: str) -> None:
    """JSON as it is: no border, no wrap, no markup; indented by whole JSON whitespace."""
    for line in text.splitlines():
        console.print(Text(INDENT * 2 + line), soft_wrap=True)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
