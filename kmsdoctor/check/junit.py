"""`--junit FILE`: one test case per result, in the JUnit XML that CI systems read (GitHub
test reporters, GitLab's `artifacts:reports:junit`, Jenkins).

A failed expectation is a `<failure>` whose message names the shut lock, the finding code and
the fix; an undecidable one is an `<error>` (the test could not run to a verdict, and the exit
code is 3, not 0) whose message says why, or what would settle it. Each test case carries
`file` and `line`: where the expectation is.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from kmsdoctor.check import describe
from kmsdoctor.check.model import CheckReport, CheckResult
from kmsdoctor.check.xmltext import xml_safe

SUITE_NAME = "kmsdoctor check"


def render_junit(report: CheckReport) -> str:
    summary = report.summary()
    suites = ET.Element("testsuites", _attrs(name=SUITE_NAME))
    suite = ET.SubElement(
        suites,
        "testsuite",
        _attrs(
            name=f"{SUITE_NAME} {report.check_file.path}",
            tests=str(len(report.results)),
            failures=str(summary["fail"]),
            errors=str(summary["unknown"]),
            skipped="0",
        ),
    )
    suites.set("tests", str(len(report.results)))
    suites.set("failures", str(summary["fail"]))
    suites.set("errors", str(summary["unknown"]))
    names: dict[str, int] = {}
    for result in report.ordered():
        _testcase(suite, report, result, names)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(
    suite: ET.Element, report: CheckReport, result: CheckResult, names: dict[str, int]
) -> None:
    name = f"{result.name} — {describe.subject(result)}"
    scope = describe.scope(result)
    if scope and result.expectation.prefix is not None:
        name += f" ({scope})"
    # Test names are keys in CI dashboards: keep them unique within the file.
    seen = names.get(name, 0)
    names[name] = seen + 1
    if seen:
        name += f" #{seen + 1}"
    case = ET.SubElement(
        suite,
        "testcase",
        _attrs(
            classname=f"kmsdoctor.check.{report.check_file.path}",
            name=name,
            file=report.check_file.path,
            line=str(result.line),
            time="0",
        ),
    )
    if result.status == "pass":
        return
    outcome = describe.outcome(result)
    fix = describe.fix_line(result)
    body_lines = [f"{describe.subject(result)}: {outcome}"]
    if fix:
        body_lines.append(("fix: " if result.status == "fail" else "why: ") + fix)
    for finding in result.deciding_findings():
        body_lines.append(f"{finding.code} ({finding.lock}) {finding.title}: {finding.detail}")
    body_lines.extend(f"note: {note}" for note in result.notes)
    element = "failure" if result.status == "fail" else "error"
    codes = describe.codes(result)
    message = outcome
    if fix:  # what to change, or (undecided) why and what would settle it
        message += f"; fix: {fix}" if result.status == "fail" else f"; why: {fix}"
    child = ET.SubElement(
        case,
        element,
        _attrs(message=message, type=codes[0] if codes else result.status),
    )
    child.text = xml_safe("\n".join(body_lines))


def _attrs(**values: str) -> dict[str, str]:
    return {name: xml_safe(value) for name, value in values.items()}
