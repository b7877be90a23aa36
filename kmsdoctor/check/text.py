"""The text report of `kmsdoctor check`: one line per result, failures first.

    FAIL  checks.toml:7  BI reads curated sales — BIAnalyticsRole (222222222222) read
          s3://…: expected allow, got deny: key_policy shut [KD301]
          fix: in account 111111111111, key policy of arn:…: add …

Plain lines (no colour, no panels): it is read in CI logs more than in terminals.
"""

from __future__ import annotations

from typing import IO

from kmsdoctor.check import describe
from kmsdoctor.check.model import CheckReport, CheckResult

LABELS = {"fail": "FAIL", "unknown": "????", "pass": "pass"}
INDENT = " " * 6


def render_text(report: CheckReport) -> str:
    lines: list[str] = []
    for result in report.ordered():
        lines.extend(_result_lines(report, result))
    summary = report.summary()
    expectations = len(report.check_file.expectations)
    lines.append("")
    lines.append(
        f"{expectations} expectation{'s' if expectations != 1 else ''}, "
        f"{len(report.results)} result{'s' if len(report.results) != 1 else ''}: "
        f"{summary['fail']} failed, {summary['unknown']} could not be decided, "
        f"{summary['pass']} passed"
    )
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def _result_lines(report: CheckReport, result: CheckResult) -> list[str]:
    where = f"{report.check_file.path}:{result.line}"
    scope = describe.scope(result)
    scope_text = f" ({scope})" if scope else ""
    lines = [
        f"{LABELS[result.status]}  {where}  {result.name} — {describe.subject(result)}: "
        f"{describe.outcome(result)}{scope_text}"
    ]
    fix = describe.fix_line(result)
    if fix:
        label = "fix" if result.status == "fail" else "why"
        lines.append(f"{INDENT}{label}: {fix}")
    # The folded "every other principal" keeps its notes even when it passes: they name the
    # outside principals the policies open to that cannot get through.
    if result.status != "pass" or result.principal is None:
        for note in result.notes:
            lines.append(f"{INDENT}note: {note}")
    return lines


def print_text(report: CheckReport, stream: IO[str]) -> None:
    stream.write(render_text(report))
    stream.flush()
