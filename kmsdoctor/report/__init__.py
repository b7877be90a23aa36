"""Printing a diagnosis: rich text for people, JSON for scripts. Returns the exit code."""

from __future__ import annotations

import sys

from kmsdoctor.analyze.model import Diagnosis

FORMATS = ("text", "json")


def emit(diagnosis: Diagnosis, fmt: str) -> int:
    """Print `diagnosis` to stdout in `fmt` ("text" or "json") and return its exit code."""
    if fmt == "json":
        from kmsdoctor.report.json_report import render_json

        sys.stdout.write(render_json(diagnosis))
        sys.stdout.flush()
    elif fmt == "text":
        from kmsdoctor.report.text_report import print_text

        print_text(diagnosis, sys.stdout)
    else:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return diagnosis.exit_code
