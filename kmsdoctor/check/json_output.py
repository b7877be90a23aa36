"""The JSON report of `kmsdoctor check` (DESIGN.md §4.1; documented in docs/check.md).

{schema_version, kmsdoctor_version, generated_at,
 results: [{name, principal, bucket, key | prefix, operation, expected, verdict,
            status, locks_shut, findings, line, notes, [objects, example_keys],
            [principals], [outside]}],
 summary: {pass, fail, unknown}}
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import kmsdoctor
from kmsdoctor.check.model import CheckReport, CheckResult

CHECK_SCHEMA_VERSION = 1


def generated_at(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def result_to_dict(result: CheckResult) -> dict[str, Any]:
    expectation = result.expectation
    document: dict[str, Any] = {
        "name": result.name,
        "principal": result.principal,
        "bucket": expectation.bucket,
    }
    if expectation.key is not None:
        document["key"] = expectation.key
    else:
        document["prefix"] = expectation.prefix
    document.update(
        {
            "operation": expectation.operation,
            "expected": result.expected,
            "verdict": result.verdict,
            "status": result.status,
            "locks_shut": result.locks_shut,
            "findings": [finding.to_dict() for finding in result.findings],
            "line": result.line,
            "notes": list(result.notes),
        }
    )
    if expectation.prefix is not None:
        document["objects"] = result.objects
        document["example_keys"] = list(result.example_keys)
    if result.principal is None:
        document["principals"] = result.principals  # the folded "every other principal"
    if result.outside is not None:  # a principal outside [accounts] (who-can's "outside")
        document["outside"] = result.outside.to_dict()
    return document


def report_to_dict(report: CheckReport, now: datetime | None = None) -> dict[str, Any]:
    return {
        "schema_version": CHECK_SCHEMA_VERSION,
        "kmsdoctor_version": kmsdoctor.__version__,
        "generated_at": generated_at(now),
        "check_file": report.check_file.path,
        "results": [result_to_dict(result) for result in report.ordered()],
        "summary": report.summary(),
        "notes": list(report.notes),
    }


def render_json(report: CheckReport, now: datetime | None = None) -> str:
    return json.dumps(report_to_dict(report, now), indent=2, ensure_ascii=False) + "\n"
