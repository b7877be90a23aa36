"""The JSON report: `Diagnosis.to_dict()` with the header every JSON document carries
(`kmsdoctor_version`, `generated_at`, `request`), documented in docs/json-output.md."""

from __future__ import annotations

import json
from typing import Any

from kmsdoctor.analyze.model import Diagnosis


def report_document(diagnosis: Diagnosis, request: dict[str, Any] | None) -> dict[str, Any]:
    from kmsdoctor.report import document_header

    body = diagnosis.to_dict()
    document: dict[str, Any] = {"schema_version": body.pop("schema_version")}
    document.update(document_header(request))
    document.update(body)
    return document


def render_json(diagnosis: Diagnosis, request: dict[str, Any] | None = None) -> str:
    return json.dumps(report_document(diagnosis, request), indent=2, ensure_ascii=False) + "\n"
