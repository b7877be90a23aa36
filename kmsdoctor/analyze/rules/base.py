"""The findings registry: what a rule is, how it registers, and helpers rules share.

A rule is one function decorated with `@rule(...)`: a stable code, a title, the lock it explains,
a severity, and documentation (the function's docstring says what it means; `example` and `fix`
are shown in docs/findings.md). The function reads a `PrincipalEvaluation` and returns
`RuleHit`s — the detail (statement Sid, the condition and its values) and the fix.

Severity: `error` means the finding shuts (or by itself would shut) the lock; `warning` means it
works today but is risky or breaks something nearby; `info` is context.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import Fix, LockName, Severity
from kmsdoctor.policy.model import ConditionTrace, PolicyResult, StatementTrace


@dataclass(frozen=True)
class RuleHit:
    detail: str
    fix: Fix | None = None
    # The lock this hit is about, when one rule can point at several (the probe's findings name
    # the lock AWS's answer names); None: the rule's own lock.
    lock: LockName | None = None


CheckFunction = Callable[[PrincipalEvaluation], list[RuleHit]]
# Probe rules read the principal's one reconciliation (reconcile.py) as well: they run in their
# own stage, after the policy rules and after the reconciliation has run once.
ProbeCheckFunction = Callable[[PrincipalEvaluation, Any], list[RuleHit]]
Stage = Literal["policy", "probe"]


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    lock: LockName
    severity: Severity
    meaning: str  # what the finding means (the function's docstring)
    example: str  # an incident that produces it
    fix: str  # how it is fixed, in general terms
    check: Callable[..., list[RuleHit]]  # CheckFunction, or ProbeCheckFunction for stage "probe"
    # Codes of more specific findings that explain the same thing better: when one of them
    # fires for the principal, this rule's findings are dropped.
    suppressed_by: tuple[str, ...] = ()
    stage: Stage = "policy"


REGISTRY: dict[str, Rule] = {}


def rule(
    *,
    code: str,
    title: str,
    lock: LockName,
    severity: Severity,
    example: str,
    fix: str,
    suppressed_by: tuple[str, ...] = (),
    stage: Stage = "policy",
) -> Callable[[Callable[..., list[RuleHit]]], Rule]:
    def register(check: Callable[..., list[RuleHit]]) -> Rule:
        if code in REGISTRY:
            raise ValueError(f"finding code {code} is registered twice")
        meaning = inspect.getdoc(check) or ""
        registered = Rule(
            code=code,
            title=title,
            lock=lock,
            severity=severity,
            meaning=meaning,
            example=example,
            fix=fix,
            check=check,
            suppressed_by=suppressed_by,
            stage=stage,
        )
        REGISTRY[code] = registered
        return registered

    return register


# --- helpers over engine traces ---------------------------------------------------------------


def format_values(values: tuple[str, ...] | list[str] | None) -> str:
    if values is None:
        return "(absent)"
    if len(values) == 1:
        return f'"{values[0]}"'
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def describe_condition(condition: ConditionTrace) -> str:
    state = "matched" if condition.matched else "did not match"
    text = (
        f"{condition.operator} {condition.key} {format_values(condition.policy_values)} "
        f"{state}: the request has {format_values(condition.request_values)}"
    )
    if condition.note:
        text += f" ({condition.note})"
    return text


def statement_place(trace: StatementTrace) -> str:
    return f'statement "{trace.label}" of {trace.policy_name}'


def iter_statements(results: tuple[PolicyResult, ...]) -> Iterator[StatementTrace]:
    for result in results:
        yield from result.statements


def targets_request(trace: StatementTrace) -> bool:
    """Action and resource match (the statement is about this request)."""
    return trace.action_matched and trace.resource_matched


def names_caller(trace: StatementTrace) -> bool:
    """The statement's principal matches the caller (or it has no Principal element)."""
    return trace.principal_matched is not False


def allow_near_misses(results: tuple[PolicyResult, ...]) -> list[StatementTrace]:
    """Allow statements about this request and this caller that a condition kept from applying."""
    misses = []
    for trace in iter_statements(results):
        if trace.effect != "Allow" or trace.applies:
            continue
        if targets_request(trace) and names_caller(trace):
            misses.append(trace)
    return misses


def blocking_conditions(
    results: tuple[PolicyResult, ...], key_matches: Callable[[str], bool]
) -> list[tuple[StatementTrace, ConditionTrace]]:
    """Conditions on the chosen keys that shut the request.

    For an Allow about this request and caller: its failed conditions on those keys. For a Deny
    that applied: its conditions on those keys (they matched, so the Deny applied).
    """
    found: list[tuple[StatementTrace, ConditionTrace]] = []
    for trace in iter_statements(results):
        if trace.effect == "Allow":
            if trace.applies or not (targets_request(trace) and names_caller(trace)):
                continue
            for condition in trace.conditions:
                if not condition.matched and key_matches(condition.key):
                    found.append((trace, condition))
        elif trace.applies:
            for condition in trace.conditions:
                if key_matches(condition.key):
                    found.append((trace, condition))
    return found


def allows_for_caller(results: tuple[PolicyResult, ...]) -> bool:
    """Some Allow statement applies to this request."""
    return any(t.effect == "Allow" and t.applies for t in iter_statements(results))


def applying_denies(results: tuple[PolicyResult, ...]) -> list[StatementTrace]:
    return [t for t in iter_statements(results) if t.effect == "Deny" and t.applies]


def key_is(*names: str) -> Callable[[str], bool]:
    wanted = {n.lower() for n in names}
    return lambda key: key.lower() in wanted


def request_decision(ev: PrincipalEvaluation, lock: str, action: str) -> str | None:
    """The per-request decision a lock recorded in its evidence (e.g. identity for kms:Decrypt)."""
    result = ev.locks.get(lock)
    if result is None:
        return None
    return result.evidence.decision_for(action)
