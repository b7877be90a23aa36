"""Findings about how a policy is written rather than what it decides.

The policy engine reads a policy the way AWS does and keeps a `PolicyWarning` for text that
reads differently than it looks (a repeated JSON key keeps only its last value). Such a policy
can allow today and still not contain the check its author wrote.
"""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PolicyLayer, PrincipalEvaluation
from kmsdoctor.analyze.model import Fix, LockName
from kmsdoctor.analyze.rules.base import RuleHit, rule


def _layers_by_lock(ev: PrincipalEvaluation) -> list[tuple[LockName, PolicyLayer]]:
    return list(ev.policies.by_lock().items())


@rule(
    code="KD801",
    title="A policy repeats a JSON key: only the last one is read",
    lock="key_policy",
    severity="warning",
    example=(
        'A key policy statement has two "StringEquals" blocks in one Condition, the first with '
        "aws:PrincipalOrgID, the second with kms:ViaService. Only the second is read, so the "
        "organization check its author wrote never runs."
    ),
    fix=(
        "Merge the repeated blocks into one (several keys under one operator are ANDed) and put "
        "the policy again."
    ),
)
def policy_repeats_a_key(ev: PrincipalEvaluation) -> list[RuleHit]:
    """The policy grammar forbids repeating a key inside one JSON object, but a stored policy can
    still contain it. A JSON reader keeps only the last value, so a whole condition block (or a
    statement element) silently disappears. The lock's decision already reflects that; this
    finding says which check is missing."""
    hits: list[RuleHit] = []
    for lock, layer in _layers_by_lock(ev):
        for sourced in layer.all_policies():
            for warning in sourced.compiled.warnings:
                fix = Fix(
                    account="",
                    where=sourced.name,
                    change=(
                        f"At {warning.location}, merge the repeated entries into one so every "
                        "check you meant is read."
                    ),
                )
                fixes.unverifiable(
                    fix,
                    "the stored text repeats a JSON key and only the author knows which entries "
                    "were meant together: merge them by hand, then check the result with "
                    "--key-policy / --bucket-policy / --identity-policy",
                )
                detail = f"{warning.policy_name}, {warning.location}: {warning.message}."
                hits.append(RuleHit(detail=detail, fix=fix, lock=lock))
    return hits
