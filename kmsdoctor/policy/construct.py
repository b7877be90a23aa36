"""Fast construction of the model's frozen result types, which evaluation creates by the thousand.

A frozen dataclass's generated `__init__` sets every field through `object.__setattr__`; for a
`StatementTrace` (14 fields) that costs about 3.7 µs here, more than evaluating the statement.
These builders store the fields straight into the new instance's `__dict__` instead (about
0.5 µs), in field order, as `__init__` does: instances of one class then share one table of
keys, which is also why this beats building a dict and assigning it as `__dict__` (0.7 µs). The
instances are ordinary frozen dataclass instances: equality, hashing, repr and immutability are
unchanged. Every field must be given; tests/policy/test_construct.py checks that against the
dataclasses (`statement_trace` goes through `statement_fields` and
`statement_trace_with_conditions`).

Statement traces are the most numerous. Evaluation memoises each statement's fields before
conditions (`statement_fields`) and builds a trace by copying them into the new instance with
one `dict.update` (about 0.3 µs), then sets the conditions, `applies` and the request: as
`statement_trace_with_conditions` does, written out in Policy.evaluate_traced's loop
(tests/policy/test_fast_paths.py compares the two).
"""

from __future__ import annotations

from typing import Any

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


def condition_trace(
    operator: str,
    key: str,
    policy_values: tuple[str, ...],
    request_values: tuple[str, ...] | None,
    matched: bool,
    note: str,
) -> ConditionTrace:
    trace = _new(ConditionTrace)
    # Writing to __dict__ directly passes by the frozen dataclass's __setattr__.
    fields = trace.__dict__
    fields["operator"] = operator
    fields["key"] = key
    fields["policy_values"] = policy_values
    fields["request_values"] = request_values
    fields["matched"] = matched
    fields["note"] = note
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
    fields = statement_fields(
        policy_name,
        index,
        sid,
        effect,
        action_matched,
        resource_matched,
        principal_matched,
        applies,
        principal_match,
        notes,
        text,
    )
    return statement_trace_with_conditions(fields, policy_name, conditions, applies, request)


def statement_fields(
    policy_name: str,
    index: int,
    sid: str | None,
    effect: str,
    action_matched: bool,
    resource_matched: bool,
    principal_matched: bool | None,
    applies: bool,
    principal_match: PrincipalMatch | None,
    notes: tuple[str, ...],
    text: StatementText | None,
) -> dict[str, Any]:
    """A `StatementTrace`'s fields, in field order, without conditions and request (filled
    in by `statement_trace_with_conditions`). Evaluation keeps these per statement and reuses
    them: they depend only on the statement's elements and the request's action, resource and
    principal."""
    return {
        "policy_name": policy_name,
        "index": index,
        "sid": sid,
        "effect": effect,
        "action_matched": action_matched,
        "resource_matched": resource_matched,
        "principal_matched": principal_matched,
        "conditions": (),
        "applies": applies,
        "via_account_principal": principal_match == "account",
        "principal_match": principal_match,
        "notes": notes,
        "text": text,
        "request": None,
    }


def statement_trace_with_conditions(
    fields: dict[str, Any],
    policy_name: str,
    conditions: tuple[ConditionTrace, ...],
    applies: bool,
    request: Request | None,
) -> StatementTrace:
    """A trace from `statement_fields`, the name of the policy (the fields' own is a
    placeholder: equal policies under other names share them), the conditions' traces, the
    final `applies` and the request."""
    trace = _new(StatementTrace)
    values = trace.__dict__
    # Updating an empty dict from a full one is a single table copy in CPython: about half
    # the cost of storing 14 fields one by one. `fields` itself is never changed.
    values.update(fields)
    values["policy_name"] = policy_name
    values["conditions"] = conditions
    values["applies"] = applies
    values["request"] = request
    return trace


def policy_result(
    policy_name: str, decision: Decision, statements: tuple[StatementTrace, ...]
) -> PolicyResult:
    result = _new(PolicyResult)
    fields = result.__dict__
    fields["policy_name"] = policy_name
    fields["decision"] = decision
    fields["statements"] = statements
    return result


def layer_result(
    layer: LayerName,
    decision: Decision | None,
    results: tuple[PolicyResult, ...],
    reason: str,
    level_decisions: tuple[Decision, ...] = (),
) -> LayerResult:
    result = _new(LayerResult)
    fields = result.__dict__
    fields["layer"] = layer
    fields["decision"] = decision
    fields["results"] = results
    fields["reason"] = reason
    fields["level_decisions"] = level_decisions
    return result


def access_decision(
    decision: Decision,
    layers: dict[str, LayerResult],
    deciding_layer: LayerName | None,
    reason: str,
) -> AccessDecision:
    result = _new(AccessDecision)
    fields = result.__dict__
    fields["decision"] = decision
    fields["layers"] = layers
    fields["deciding_layer"] = deciding_layer
    fields["reason"] = reason
    return result
