"""The JSON report: exactly `Diagnosis.to_dict()` (documented in docs/json-output.md)."""

from __future__ import annotations

import json

from kmsdoctor.analyze.model import Diagnosis


def render_json(diagnosis: Diagnosis) -> str:
    return json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False) + "\n"
