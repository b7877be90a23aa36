"""Printing a diagnosis: rich text for people, JSON for scripts. Returns the exit code.

Also the pieces every JSON document shares (`document_header`: kmsdoctor_version, generated_at,
request) and writing to a stdout that a reader may close early (`kmsdoctor … | head`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmsdoctor.report.pipe import silence_stdout

if TYPE_CHECKING:  # the analysis is not imported to print a snapshot's or an explanation's JSON
    from kmsdoctor.analyze.model import Diagnosis
    from kmsdoctor.snapshot import Snapshot, SnapshotView

__all__ = ["document_header", "emit", "request_of", "silence_stdout", "utc_now", "write_stdout"]

FORMATS = ("text", "json")


def emit(
    diagnosis: Diagnosis,
    fmt: str,
    request: dict[str, Any] | None = None,
    fix_dir: Path | None = None,
) -> int:
    """Print `diagnosis` to stdout in `fmt` ("text" or "json") and return its exit code.

    `request`: what was asked (see `request_of`); the JSON carries it, and the text report says
    what was and was not checked when no object key was given. `fix_dir`: where each proven
    fix's patched policy is written (see fix_files.py). A reader that closes stdout early ends
    the output quietly; the exit code is still the verdict's.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    written = []
    if fix_dir is not None:
        from kmsdoctor.report.fix_files import write_fix_files

        written = write_fix_files(diagnosis, fix_dir)
    try:
        if fmt == "json":
            from kmsdoctor.report.json_report import render_json

            write_stdout(render_json(diagnosis, request), flush=True)
            if written:
                from kmsdoctor.report.fix_files import summary_lines

                sys.stderr.write("".join(line + "\n" for line in summary_lines(written)))
        else:
            from kmsdoctor.report.text_report import print_text

            print_text(diagnosis, sys.stdout, request=request, fix_files=written)
            sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    return diagnosis.exit_code


def write_stdout(text: str, flush: bool = False) -> None:
    sys.stdout.write(text)
    if flush:
        sys.stdout.flush()


def document_header(request: dict[str, Any] | None) -> dict[str, Any]:
    """The fields every JSON document carries, so results of many runs can be told apart."""
    from kmsdoctor import __version__

    return {
        "kmsdoctor_version": __version__,
        "generated_at": utc_now(),
        "request": request,
    }


def utc_now() -> str:
    """UTC, ISO 8601, to the second: `2026-12-01T04:05:06Z`."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def request_of(snapshot: Snapshot | SnapshotView) -> dict[str, Any]:
    """What was asked, as the JSON documents give it: bucket, key, operation, the Region the
    calls were made in, and the principals checked (IAM role or user ARNs). For a snapshot of
    several questions, the first question's object (the two-profile shorthand asks one)."""
    questions = getattr(snapshot, "questions", None)
    if questions is None:  # one question's view (the v1 shape)
        view = snapshot
        principals = [principal.arn for principal in view.target.principals]
        return {
            "bucket": view.request.bucket,
            "key": view.request.key,
            "operation": view.request.operation,
            "region": view.request.region,
            "principals": principals or list(view.request.role_arns),
        }
    first = questions[0] if questions else None
    principals = [info.arn for info in snapshot.principals.values()]
    return {
        "bucket": first.bucket if first else None,
        "key": first.key if first else None,
        "operation": first.operation if first else None,
        "region": snapshot.region,
        "principals": principals,
    }
