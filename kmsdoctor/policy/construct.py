"""Fast construction of the model's frozen result types, which evaluation creates by the thousand.

A frozen dataclass's generated `__init__` sets every field through `object.__setattr__`; for a
`StatementTrace` (14 fields) that costs about 3.7 µs here, more than evaluating the statement.
These builders fill the instance's `__dict__` in one step instead (about 1 µs). The instances
are ordinary frozen dataclass instances: equality, hashing, repr and immutability are unchanged.
Every field must be given; tests/policy/test_construct.py checks that against the dataclasses.
"""

from __future__ import annotations

from kmsdoctor.policy.model import (
    AccessDecision,
    ConditionTrace,
    Decision,
    LayerName,
    LayerResult,
    PolicyResult,
    PrincipalMatch,
    Request,
    StatementText,
    StatementTrace,
)

_new = object.__new__
_set_attribute = object.__setattr__


def condition_trace(
    operator: str,
    key: str,
    policy_values: tuple[str, ...],
    request_values: tuple[str, ...] | None,
    matched: bool,
    note: str,
) -> ConditionTrace:
    trace = _new(ConditionTrace)
    _set_attribute(
        trace,
        "__dict__",
        {
            "operator": operator,
            "key": key,
            "policy_values": policy_values,
            "request_values": request_values,
            "matched": matched,
            "note": note,
        },
    )
    return trace


def statement_trace(
    policy_name: str,
    index: int,
    sid: str | None,
    effect: str,
    action_matched: bool,
    resource_matched: bool,
    principal_matched: bool | None,
    conditions: tuple[ConditionTrace, ...],
    applies: bool,
    principal_match: PrincipalMatch | None,
    notes: tuple[str, ...],
    text: StatementText | None,
    request: Request | None,
) -> StatementTrace:
    trace = _new(StatementTrace)
    _set_attribute(
        trace,
        "__dict__",
        {
            "policy_name": policy_name,
            "index": index,
            "sid": sid,
            "effect": effect,
            "action_matched": action_matched,
            "resource_matched": resource_matched,
            "principal_matched": principal_matched,
            "conditions": conditions,
            "applies": applies,
            "via_account_principal": principal_match == "account",
            "principal_match": principal_match,
            "notes": notes,
            "text": text,
            "request": request,
        },
    )
    return trace


def policy_result(
    policy_name: str, decision: Decision, statements: tuple[StatementTrace, ...]
) -> PolicyResult:
    result = _new(PolicyResult)
    _set_attribute(
        result,
        "__dict__",
        {"policy_name": policy_name, "decision": decision, "statements": statements},
    )
    return result


def layer_result(
    layer: LayerName,
    decision: Decision | None,
    results: tuple[PolicyResult, ...],
    reason: str,
    level_decisions: tuple[Decision, ...] = (),
) -> LayerResult:
    result = _new(LayerResult)
    _set_attribute(
        result,
        "__dict__",
        {
            "layer": layer,
            "decision": decision,
            "results": results,
            "reason": reason,
            "level_decisions": level_decisions,
        },
    )
    return result


def access_decision(
    decision: Decision,
    layers: dict[str, LayerResult],
    deciding_layer: LayerName | None,
    reason: str,
) -> AccessDecision:
    result = _new(AccessDecision)
    _set_attribute(
        result,
        "__dict__",
        {
            "decision": decision,
            "layers": layers,
            "deciding_layer": deciding_layer,
            "reason": reason,
        },
    )
    return result
