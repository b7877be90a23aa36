"""Sentences about traces, for the report: why a statement did or did not apply.

statement AllowBIRoleDecrypt did not apply: kms:ViaService is s3.eu-west-1.amazonaws.com,
the policy wants s3.us-east-1.amazonaws.com
"""

from __future__ import annotations

from collections.abc import Sequence

from kmsdoctor.policy.conditions import Operator, resolve_operator
from kmsdoctor.policy.model import ConditionTrace, StatementTrace


def _list(values: Sequence[str]) -> str:
    return ", ".join(values)


def _request_values(trace: ConditionTrace) -> str:
    values = trace.request_values
    if values is None:
        return f"{trace.key} is not in the request"
    if len(values) == 1:
        return f"{trace.key} is {values[0]}"
    return f"{trace.key} is [{_list(values)}]"


def _positive_phrase(operator: Operator, values: Sequence[str]) -> str:
    base = operator.base
    one = len(values) == 1
    listed = values[0] if one else f"one of {_list(values)}"
    if base.family == "date":
        words = {"lt": "before", "le": "at or before", "gt": "after", "ge": "at or after"}
    else:
        words = {"lt": "less than", "le": "at most", "gt": "more than", "ge": "at least"}
    if base.comparison in words:
        return f"{words[base.comparison]} {listed}"
    if base.comparison == "equals_ignore_case":
        return f"{listed} (ignoring case)"
    if base.comparison == "like":
        return f"a value like {listed}"
    if base.comparison == "in":
        return f"an address in {listed}"
    return listed


def _negated_phrase(operator: Operator, values: Sequence[str]) -> str:
    base = operator.base
    one = len(values) == 1
    if base.comparison == "like":
        return f"a value not like {values[0]}" if one else f"a value like none of {_list(values)}"
    if base.comparison == "in":
        return f"an address outside {values[0]}" if one else f"an address outside {_list(values)}"
    suffix = " (ignoring case)" if base.comparison == "equals_ignore_case" else ""
    if one:
        return f"anything but {values[0]}{suffix}"
    return f"none of {_list(values)}{suffix}"


def _wanted(operator: Operator, trace: ConditionTrace) -> str:
    values = trace.policy_values
    if operator.base.family == "null":
        wants_absent = {value.lower() == "true" for value in values}
        if wants_absent == {True}:
            return "it absent"
        if wants_absent == {False}:
            return "it present"
        return "it present or absent"
    phrase = (
        _negated_phrase(operator, values)
        if operator.negated
        else _positive_phrase(operator, values)
    )
    if operator.qualifier == "ForAllValues":
        phrase = f"{phrase}, for every value"
    elif operator.qualifier == "ForAnyValue":
        phrase = f"{phrase}, for at least one value"
    if operator.if_exists:
        phrase = f"{phrase}, when the key is present"
    return phrase


def describe_condition(trace: ConditionTrace) -> str:
    """One clause about one condition, e.g. "kms:ViaService is X, the policy wants Y"."""
    operator = resolve_operator(trace.operator)
    actual = _request_values(trace)
    if operator is None:
        return f"{actual}; the policy tests it with {trace.operator}"
    sentence = f"{actual}, the policy wants {_wanted(operator, trace)}"
    if trace.note and not trace.note.startswith("key absent"):
        sentence = f"{sentence} ({trace.note})"
    return sentence


def _quoted_list(values: Sequence[str]) -> str:
    return _list(values) if values else "nothing"


def _mismatches(trace: StatementTrace) -> list[str]:
    text = trace.text
    request = trace.request
    action = request.action if request is not None else "the requested action"
    resource = request.resource if request is not None else "the requested resource"
    principal = request.principal.arn if request is not None else "the caller"
    reasons: list[str] = []
    if not trace.action_matched:
        if text is not None and text.actions_negated:
            reasons.append(f"its NotAction ({_quoted_list(text.actions)}) covers {action}")
        elif text is not None:
            reasons.append(f"its Action ({_quoted_list(text.actions)}) does not cover {action}")
        else:
            reasons.append(f"its Action does not cover {action}")
    if not trace.resource_matched:
        if text is not None and text.resources_negated:
            reasons.append(f"its NotResource ({_quoted_list(text.resources)}) covers {resource}")
        elif text is not None:
            reasons.append(
                f"its Resource ({_quoted_list(text.resources)}) does not cover {resource}"
            )
        else:
            reasons.append(f"its Resource does not cover {resource}")
    if trace.principal_matched is False:
        if text is not None and text.principals_negated:
            reasons.append(f"its NotPrincipal ({_quoted_list(text.principals)}) lists {principal}")
        elif text is not None:
            reasons.append(
                f"its Principal ({_quoted_list(text.principals)}) does not name {principal}"
            )
        else:
            reasons.append(f"its Principal does not name {principal}")
    for condition in trace.conditions:
        if not condition.matched:
            reasons.append(describe_condition(condition))
    reasons.extend(trace.notes)
    return reasons


def describe_statement(trace: StatementTrace) -> str:
    """One sentence on whether a statement took part in the decision, and why (not).

    "statement AllowBIRoleDecrypt did not apply: kms:ViaService is s3.eu-west-1.amazonaws.com,
    the policy wants s3.us-east-1.amazonaws.com"
    """
    if trace.applies:
        verb = "allows" if trace.effect == "Allow" else "denies"
        action = trace.request.action if trace.request is not None else "the request"
        sentence = f"statement {trace.label} applies: it {verb} {action}"
        if trace.via_account_principal:
            sentence += (
                " through the account principal, so that account's IAM policies must allow too"
            )
        if trace.notes:
            sentence += f" ({'; '.join(trace.notes)})"
        return sentence
    reasons = _mismatches(trace)
    if not reasons:
        return f"statement {trace.label} did not apply"
    return f"statement {trace.label} did not apply: {'; '.join(reasons)}"
