"""The terminal report: one panel per lock with ✓ / ✗ / ?, its evidence, findings and fixes.

Readable in 80 columns. No colour when NO_COLOR is set or stdout is not a terminal (rich already
does both; we pass them explicitly so a test can rely on it). Policy text is printed with
`rich.text.Text`, never as markup, so brackets in JSON or ARNs are shown as they are.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kmsdoctor.analyze.model import (
    DENY_STATUSES,
    Diagnosis,
    Finding,
    LockResult,
    PrincipalDiagnosis,
)

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
    "allow": ("ALLOW", "green", "access works: every lock is open"),
    "deny": ("DENY", "red", "a lock is shut"),
    "unknown": ("UNKNOWN", "yellow", "could not decide: a needed lock is unknown"),
}
SEVERITY_STYLES = {"error": "red", "warning": "yellow", "info": "cyan"}
# When AWS's answer to the probe decided the verdict rather than the locks.
PROBE_VERDICT_WORDS = {
    "allow": "the read works: the probe as the caller read one byte",
    "deny": "AWS denied the read to the probe as the caller",
    "unknown": "could not decide: the probe disagrees with the analysis",
}


def make_console(stream: IO[str]) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_terminal else 80
    return Console(
        file=stream,
        no_color=no_color,
        color_system="auto" if is_terminal and not no_color else None,
        force_terminal=False if not is_terminal else None,
        width=width,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def print_text(diagnosis: Diagnosis, stream: IO[str]) -> None:
    console = make_console(stream)
    word, style, meaning = VERDICT_WORDS[diagnosis.verdict]
    if any(p.probe_verdict == diagnosis.verdict for p in diagnosis.principals):
        meaning = PROBE_VERDICT_WORDS[diagnosis.verdict]
    header = Text()
    header.append("kmsdoctor verdict: ", style="bold")
    header.append(word, style=f"bold {style}")
    header.append(f" — {meaning}")
    console.print(header)

    several = len(diagnosis.principals) > 1
    if several:
        # A pipeline has four principals: the table says at once which one is shut.
        console.print()
        console.print(summary_table(diagnosis))
    for principal in worst_first(diagnosis.principals):
        console.print()
        print_principal(console, principal, several)

    if diagnosis.notes:
        console.print()
        notes = Text()
        for note in diagnosis.notes:
            notes.append("• " + note + "\n")
        console.print(Panel(notes, title="Notes", title_align="left", border_style="dim"))


def print_principal(console: Console, principal: PrincipalDiagnosis, several: bool) -> None:
    word, style, _ = VERDICT_WORDS[principal.verdict]
    line = Text()
    line.append("Principal ", style="bold")
    line.append(principal.principal)
    line.append("  ")
    line.append(word, style=f"bold {style}")
    console.print(line)

    findings_by_lock: dict[str, list[Finding]] = {}
    for finding in principal.findings:
        findings_by_lock.setdefault(finding.lock, []).append(finding)

    quiet: list[tuple[str, LockResult]] = []
    for name, result in principal.locks.items():
        findings = findings_by_lock.get(name, [])
        if result.status == "not_applicable" and not findings:
            quiet.append((name, result))
            continue
        console.print(lock_panel(name, result, findings))
    if quiet:
        console.print(not_applicable_panel(quiet))
    if principal.probe is not None:
        console.print(probe_panel(principal.probe))


PROBE_STYLES = {"agrees": "green", "settles": "green", "disagrees": "yellow", "partial": "dim"}
OUTCOME_SYMBOLS = {"ok": "✓", "error": "✗", "skipped": "–"}


def probe_panel(probe: dict[str, Any]) -> Panel:
    """What AWS answered as the caller, each call with what it proves, and the agreement."""
    parts: list[RenderableType] = []
    summary = Text()
    summary.append(str(probe.get("summary", "")), style="bold")
    if probe.get("verdict"):
        summary.append(f" (verdict decided by the probe: {probe['verdict']})")
    parts.append(summary)
    calls = Text()
    for call in probe.get("calls", []):
        calls.append(f"{OUTCOME_SYMBOLS.get(call.get('outcome'), '?')} {call.get('operation')}")
        if call.get("error_code"):
            calls.append(f" {call['error_code']}")
            if call.get("error_message"):
                calls.append(f": {call['error_message']}")
        calls.append("\n")
        calls.append(f"  {call.get('meaning', '')}\n", style="dim")
    if calls.plain:
        calls.rstrip()
        parts.append(calls)
    unseen = probe.get("unseen_layers") or []
    if unseen:
        layers = Text()
        layers.append("Layers kmsdoctor could not see that can explain it:\n", style="bold")
        for layer in unseen:
            layers.append(f"• {layer}\n")
        layers.rstrip()
        parts.append(layers)
    trail = Text()
    for entry in probe.get("cloudtrail", []):
        trail.append("CloudTrail: ", style="bold")
        trail.append(str(entry.get("detail", "")))
        if entry.get("error"):
            trail.append(f" ({entry['error']})")
        trail.append("\n")
    if trail.plain:
        trail.rstrip()
        parts.append(trail)
    style = PROBE_STYLES.get(str(probe.get("status")), "dim")
    title = Text()
    title.append("Probe as the caller", style="bold")
    title.append(f" · {probe.get('status')}", style=style)
    return Panel(_spaced(parts), title=title, title_align="left", border_style=style)


def lock_panel(name: str, result: LockResult, findings: list[Finding]) -> Panel:
    parts: list[RenderableType] = [Text(result.reason)]

    deciding = deciding_lines(result)
    if deciding:
        parts.append(deciding)

    for finding in findings:
        parts.append(finding_block(finding))

    hint = result.evidence.cloudtrail
    if hint:
        text = Text()
        text.append("CloudTrail: ", style="bold")
        text.append(str(hint))
        parts.append(text)

    title = Text()
    title.append(SYMBOLS[result.status] + " ", style=STYLES[result.status])
    title.append(name, style="bold")
    title.append(" · " + STATUS_WORDS[result.status], style=STYLES[result.status])
    border = STYLES[result.status] if result.status in DENY_STATUSES else "dim"
    return Panel(_spaced(parts), title=title, title_align="left", border_style=border)


def deciding_lines(result: LockResult) -> Text | None:
    """The statements that decided (or nearly allowed), one line each."""
    lines = Text()
    for request in result.evidence.requests or []:
        for statement in request.statements or []:
            label = "Deciding" if statement.applies else "Closest"
            lines.append(f"{label}: ", style="bold")
            lines.append(statement.summary + "\n")
    if not lines.plain:
        return None
    lines.rstrip()
    return lines


def finding_block(finding: Finding) -> RenderableType:
    head = Text()
    head.append(finding.code, style="bold")
    head.append(f" {finding.severity}", style=SEVERITY_STYLES[finding.severity])
    head.append(f"  {finding.title}", style="bold")
    body: list[RenderableType] = [head, Text(finding.detail)]
    fix = finding.fix
    if fix is not None:
        where = Text()
        where.append("Fix", style="bold")
        account = f" in account {fix.account}" if fix.account else ""
        where.append(f"{account} — {fix.where}: ")
        where.append(fix.change)
        body.append(where)
        if fix.statement is not None:
            body.append(Text(_json(fix.statement)))
        for command in fix.show_current:
            line = Text()
            line.append("Show current: ", style="bold")
            line.append(command)
            body.append(line)
    return Group(*body)


def not_applicable_panel(quiet: list[tuple[str, LockResult]]) -> Panel:
    text = Text()
    for name, result in quiet:
        text.append(f"{SYMBOLS['not_applicable']} {name}: ", style="dim")
        text.append(result.reason + "\n")
    text.rstrip()
    return Panel(text, title="Not applicable", title_align="left", border_style="dim")


# Details are printed for the shut principals first; the summary keeps the order given.
_VERDICT_RANK = {"deny": 0, "unknown": 1, "allow": 2}


def worst_first(principals: list[PrincipalDiagnosis]) -> list[PrincipalDiagnosis]:
    return sorted(principals, key=lambda principal: _VERDICT_RANK[principal.verdict])


def summary_table(diagnosis: Diagnosis) -> Table:
    table = Table(title="Summary", title_justify="left", show_lines=False)
    table.add_column("principal", overflow="fold")
    table.add_column("verdict")
    table.add_column("shut or unknown")
    for principal in diagnosis.principals:
        word, style, _ = VERDICT_WORDS[principal.verdict]
        problems = [
            f"{SYMBOLS[r.status]} {name}"
            for name, r in principal.locks.items()
            if r.status in DENY_STATUSES or r.status == "unknown"
        ]
        table.add_row(principal.principal, Text(word, style=style), ", ".join(problems) or "—")
    return table


def _spaced(parts: list[RenderableType]) -> Group:
    spaced: list[RenderableType] = []
    for index, part in enumerate(parts):
        if index:
            spaced.append(Text(""))
        spaced.append(part)
    return Group(*spaced)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
