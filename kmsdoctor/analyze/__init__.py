"""The analysis: snapshot in, one diagnosis per principal out.

collect → snapshot → (probe) → analyze → report. This package knows nothing of boto3 or the CLI:
it reads a `Snapshot`, asks the policy engine, and returns a `Diagnosis` (see model.py). Every
command calls `answer`, `answer_by_class` or `analyze_snapshot` (api.py).
"""

from __future__ import annotations

from kmsdoctor.analyze.api import (
    ClassAnswer,
    ObjectAnswer,
    analyze_principal,
    analyze_snapshot,
    answer,
    answer_by_class,
)
from kmsdoctor.analyze.model import Diagnosis, Finding, LockResult, PrincipalDiagnosis

__all__ = [
    "ClassAnswer",
    "Diagnosis",
    "Finding",
    "LockResult",
    "ObjectAnswer",
    "PrincipalDiagnosis",
    "analyze_principal",
    "analyze_snapshot",
    "answer",
    "answer_by_class",
]
