"""`kmsdoctor check FILE`: every expectation of a TOML check file (DESIGN.md §4.1), one run.

file.py reads and validates the check file (locate.py finds each value's line); model.py turns
the analysis' answers into results, grouped by outcome; text.py, json_output.py, junit.py and
sarif.py print them; run.py asks AWS (through the collection planner) and the analysis.
"""

from __future__ import annotations

from kmsdoctor.check.file import CheckFile, CheckFileError, Expectation, load_check_file
from kmsdoctor.check.model import CheckReport, CheckResult

__all__ = [
    "CheckFile",
    "CheckFileError",
    "CheckReport",
    "CheckResult",
    "Expectation",
    "emit_check_report",
    "load_check_file",
]


def emit_check_report(
    report: CheckReport, fmt: str, junit_path: str | None = None, sarif_path: str | None = None
) -> int:
    """Print `report` in `fmt` (text | json), write the JUnit and SARIF files asked for, and
    return the exit code of §4.1."""
    import sys

    from kmsdoctor.errors import UsageError

    outputs: list[tuple[str, str]] = []
    if junit_path:
        from kmsdoctor.check.junit import render_junit

        outputs.append((junit_path, render_junit(report)))
    if sarif_path:
        from kmsdoctor.check.sarif import render_sarif

        outputs.append((sarif_path, render_sarif(report)))
    for path, text in outputs:
        try:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if fmt == "json":
        from kmsdoctor.check.json_output import render_json

        sys.stdout.write(render_json(report))
        sys.stdout.flush()
    else:
        from kmsdoctor.check.text import print_text

        print_text(report, sys.stdout)
    return report.exit_code
