"""Counting the analysis' re-analyses: every `proof.lock_results` call (a fix proven for the
principal or a stand-in), by the principal it analysed."""

from __future__ import annotations

import pytest

from kmsdoctor.analyze import proof


def count_re_analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ARN of each principal re-analysed from now on, in order."""
    seen: list[str] = []
    real = proof.lock_results

    def counting(snapshot, principal):
        seen.append(principal.arn)
        return real(snapshot, principal)

    monkeypatch.setattr(proof, "lock_results", counting)
    return seen
