"""The Condition element: operators resolved and values parsed at compile time.

Source for every rule here unless noted: AWS IAM User Guide, "IAM JSON policy elements:
Condition operators" (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_elements_condition_operators.html) and "Single-valued vs. multivalued context
keys" (reference_policies_condition-single-vs-multi-valued-context-keys.html).

- Several operators in one Condition, and several keys under one operator, are ANDed.
- Several values for one key are ORed; for a negated operator (StringNotEquals, NotIpAddress,
  ArnNotLike, ...) the result is the negation of that OR: the request value is none of them.
- A key missing from the request makes a positive operator false and a negated operator true;
  `...IfExists` makes any operator true for a missing key; `Null` tests presence itself.
- `ForAllValues:` is true when every request value matches (and when the key is missing or
  empty); `ForAnyValue:` is true when at least one does (false when the key is missing).
- Condition key names ignore case; values are case-sensitive unless the operator says otherwise.
- Policy variables are substituted in String and ARN operators only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import operator as op
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from kmsdoctor.policy import construct, wildcard
from kmsdoctor.policy.invalid import InvalidPolicy
from kmsdoctor.policy.memo import remember
from kmsdoctor.policy.model import ConditionTrace
from kmsdoctor.policy.request_view import RequestView

Family = Literal["string", "numeric", "date", "bool", "binary", "ip", "arn", "null"]
Comparison = Literal["equals", "equals_ignore_case", "like", "lt", "le", "gt", "ge", "in"]
Qualifier = Literal["ForAnyValue", "ForAllValues"]


@dataclass(frozen=True, slots=True)
class BaseOperator:
    name: str  # canonical spelling, e.g. "StringNotEqualsIgnoreCase"
    family: Family
    comparison: Comparison
    negated: bool


def _base_operators() -> dict[str, BaseOperator]:
    table = [
        BaseOperator("StringEquals", "string", "equals", False),
        BaseOperator("StringNotEquals", "string", "equals", True),
        BaseOperator("StringEqualsIgnoreCase", "string", "equals_ignore_case", False),
        BaseOperator("StringNotEqualsIgnoreCase", "string", "equals_ignore_case", True),
        BaseOperator("StringLike", "string", "like", False),
        BaseOperator("StringNotLike", "string", "like", True),
        BaseOperator("NumericEquals", "numeric", "equals", False),
        BaseOperator("NumericNotEquals", "numeric", "equals", True),
        BaseOperator("NumericLessThan", "numeric", "lt", False),
        BaseOperator("NumericLessThanEquals", "numeric", "le", False),
        BaseOperator("NumericGreaterThan", "numeric", "gt", False),
        BaseOperator("NumericGreaterThanEquals", "numeric", "ge", False),
        BaseOperator("DateEquals", "date", "equals", False),
        BaseOperator("DateNotEquals", "date", "equals", True),
        BaseOperator("DateLessThan", "date", "lt", False),
        BaseOperator("DateLessThanEquals", "date", "le", False),
        BaseOperator("DateGreaterThan", "date", "gt", False),
        BaseOperator("DateGreaterThanEquals", "date", "ge", False),
        BaseOperator("Bool", "bool", "equals", False),
        BaseOperator("BinaryEquals", "binary", "equals", False),
        BaseOperator("IpAddress", "ip", "in", False),
        BaseOperator("NotIpAddress", "ip", "in", True),
        # ArnEquals and ArnLike behave the same: both match component by component, with
        # wildcards allowed in each component.
        BaseOperator("ArnEquals", "arn", "like", False),
        BaseOperator("ArnLike", "arn", "like", False),
        BaseOperator("ArnNotEquals", "arn", "like", True),
        BaseOperator("ArnNotLike", "arn", "like", True),
        BaseOperator("Null", "null", "equals", False),
    ]
    return {base.name.lower(): base for base in table}


BASE_OPERATORS = _base_operators()


@dataclass(frozen=True, slots=True)
class Operator:
    written: str
    base: BaseOperator
    qualifier: Qualifier | None
    if_exists: bool

    @property
    def negated(self) -> bool:
        return self.base.negated


@lru_cache(maxsize=512)
def resolve_operator(written: str) -> Operator | None:
    """`ForAnyValue:StringLikeIfExists` → its parts; None for anything that is not an operator.

    Operator names are matched ignoring case: AWS stores only policies it accepted, so reading
    `stringequals` as StringEquals cannot misread a policy AWS holds, while rejecting it could
    refuse one. Unknown names are never guessed at.
    """
    text = written.strip()
    qualifier: Qualifier | None = None
    prefix, separator, rest = text.partition(":")
    if separator:
        if prefix.lower() == "foranyvalue":
            qualifier = "ForAnyValue"
        elif prefix.lower() == "forallvalues":
            qualifier = "ForAllValues"
        else:
            return None
        text = rest
    if_exists = False
    base = BASE_OPERATORS.get(text.lower())
    if base is None and text.lower().endswith("ifexists"):
        base = BASE_OPERATORS.get(text[: -len("ifexists")].lower())
        if_exists = True
    if base is None:
        return None
    if base.family == "null" and (if_exists or qualifier is not None):
        # Null tests presence; "NullIfExists" and set-qualified Null have no documented meaning.
        return None
    return Operator(written, base, qualifier, if_exists)


# --- value matchers ---------------------------------------------------------------------------

Predicate = Callable[[str], bool]
_NO_UNRESOLVED: tuple[str, ...] = ()


def _never(_: str) -> bool:
    return False


class StaticMatcher:
    """Policy values fixed at compile time: one predicate for every request."""

    __slots__ = ("predicate",)

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate


class VariableMatcher:
    """Policy values with `${...}` variables, resolved against each request's context."""

    __slots__ = ("_build", "_patterns")

    def __init__(
        self,
        patterns: tuple[tuple[wildcard.Token, ...], ...],
        build: Callable[[tuple[tuple[wildcard.Token, ...], ...]], Predicate],
    ) -> None:
        self._patterns = patterns
        self._build = build

    def bind(self, context: Mapping[str, tuple[str, ...]]) -> tuple[Predicate, tuple[str, ...]]:
        resolved: list[tuple[wildcard.Token, ...]] = []
        unresolved: list[str] = []
        for tokens in self._patterns:
            try:
                resolved.append(wildcard.resolve(tokens, context))
            except wildcard.UnresolvedVariable as missing:
                unresolved.append(missing.variable.written)
        predicate = self._build(tuple(resolved)) if resolved else _never
        return predicate, tuple(unresolved)


Matcher = StaticMatcher | VariableMatcher


def _string_equals_predicate(patterns: tuple[tuple[wildcard.Token, ...], ...]) -> Predicate:
    wanted = frozenset(wildcard.literal_text(tokens) for tokens in patterns)
    return wanted.__contains__


def _string_equals_ignore_case_predicate(
    patterns: tuple[tuple[wildcard.Token, ...], ...],
) -> Predicate:
    wanted = frozenset(wildcard.literal_text(tokens).lower() for tokens in patterns)

    def matches(value: str) -> bool:
        return value.lower() in wanted

    return matches


def _string_like_predicate(patterns: tuple[tuple[wildcard.Token, ...], ...]) -> Predicate:
    return wildcard.cached_wildcard_set(patterns, False).matches


def _arn_like_predicate(patterns: tuple[tuple[wildcard.Token, ...], ...]) -> Predicate:
    arn_patterns = tuple(wildcard.arn_pattern(tokens) for tokens in patterns)
    if len(arn_patterns) == 1:
        return arn_patterns[0].matches

    def matches(value: str) -> bool:
        return any(pattern.matches(value) for pattern in arn_patterns)

    return matches


_STRING_PREDICATES: dict[
    Comparison, Callable[[tuple[tuple[wildcard.Token, ...], ...]], Predicate]
] = {
    "equals": _string_equals_predicate,
    "equals_ignore_case": _string_equals_ignore_case_predicate,
    "like": _string_like_predicate,
}


def _textual_matcher(base: BaseOperator, values: tuple[str, ...], variables: bool) -> Matcher:
    """String and ARN operators: the two families that take wildcards and policy variables."""
    if base.family == "arn":
        build = _arn_like_predicate
        uses_wildcards = True
    else:
        build = _STRING_PREDICATES[base.comparison]
        uses_wildcards = base.comparison == "like"
    patterns = tuple(
        wildcard.tokenize(value, wildcards=uses_wildcards, variables=variables) for value in values
    )
    if any(wildcard.has_variables(tokens) for tokens in patterns):
        return VariableMatcher(patterns, build)
    return StaticMatcher(build(patterns))


_ORDERINGS: dict[Comparison, Callable[[object, object], bool]] = {
    "equals": op.eq,
    "lt": op.lt,
    "le": op.le,
    "gt": op.gt,
    "ge": op.ge,
}


def parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def parse_date(text: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 date/time or an epoch-seconds number.

    Source: "Date condition operators": values in "one of the W3C implementations of the ISO
    8601 date formats" or "in epoch (UNIX) time". A date/time without a zone is read as UTC.
    """
    stripped = text.strip()
    if not stripped:
        return None
    number = parse_number(stripped)
    if number is not None:
        return float(number)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _ordered_predicate(
    wanted: tuple[object, ...],
    comparison: Comparison,
    parse: Callable[[str], object | None],
) -> Predicate:
    compare = _ORDERINGS[comparison]

    def matches(value: str) -> bool:
        parsed = parse(value)
        if parsed is None:
            # A request value that is not a number (date) compares equal to nothing.
            return False
        return any(compare(parsed, policy_value) for policy_value in wanted)

    return matches


def _bool_predicate(values: tuple[str, ...], location: str) -> Predicate:
    wanted: set[str] = set()
    for value in values:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise InvalidPolicy(location, f"Bool takes true or false, not {value!r}")
        wanted.add(lowered)
    frozen = frozenset(wanted)

    def matches(value: str) -> bool:
        return value.lower() in frozen

    return matches


def _decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _binary_predicate(values: tuple[str, ...], location: str) -> Predicate:
    wanted: set[bytes] = set()
    for value in values:
        decoded = _decode_base64(value)
        if decoded is None:
            raise InvalidPolicy(location, f"BinaryEquals takes base-64 values, not {value!r}")
        wanted.add(decoded)
    frozen = frozenset(wanted)

    def matches(value: str) -> bool:
        decoded = _decode_base64(value)
        return decoded is not None and decoded in frozen

    return matches


def _ip_predicate(values: tuple[str, ...], location: str) -> Predicate:
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise InvalidPolicy(
                location, f"{value!r} is not an IPv4 or IPv6 address or CIDR range"
            ) from None
    frozen = tuple(networks)

    def matches(value: str) -> bool:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(address in network for network in frozen)

    return matches


def _ordered_values(
    values: tuple[str, ...], parse: Callable[[str], object | None], what: str, location: str
) -> tuple[object, ...]:
    parsed_values: list[object] = []
    for value in values:
        parsed = parse(value)
        if parsed is None:
            raise InvalidPolicy(location, f"{value!r} is not {what}")
        parsed_values.append(parsed)
    return tuple(parsed_values)


def build_matcher(
    base: BaseOperator, values: tuple[str, ...], variables: bool, location: str
) -> Matcher:
    if base.family in ("string", "arn"):
        return _textual_matcher(base, values, variables)
    if base.family == "numeric":
        wanted = _ordered_values(values, parse_number, "a number", location)
        return StaticMatcher(_ordered_predicate(wanted, base.comparison, parse_number))
    if base.family == "date":
        wanted = _ordered_values(values, parse_date, "an ISO 8601 date or epoch time", location)
        return StaticMatcher(_ordered_predicate(wanted, base.comparison, parse_date))
    if base.family == "bool":
        return StaticMatcher(_bool_predicate(values, location))
    if base.family == "binary":
        return StaticMatcher(_binary_predicate(values, location))
    if base.family == "ip":
        return StaticMatcher(_ip_predicate(values, location))
    raise AssertionError(f"no matcher for {base.family}")  # Null is handled by the caller


# --- compiled conditions ----------------------------------------------------------------------

_NOTE_IF_EXISTS = "key absent; ...IfExists matches"
_NOTE_FOR_ALL_EMPTY = "key absent; ForAllValues matches an absent or empty key"
_NOTE_FOR_ANY_EMPTY = "key absent; ForAnyValue needs at least one value"
_NOTE_NEGATED_ABSENT = "key absent; a negated operator matches when the key is absent"
_NOTE_ABSENT = "key absent"
_NOTE_MULTIVALUED = (
    "the request holds several values for this key and the operator has no ForAnyValue/"
    "ForAllValues qualifier; read as matching when any value matches"
)


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    operator: Operator
    key_written: str
    key: str  # lower-cased
    policy_values: tuple[str, ...]
    matcher: Matcher | None  # None for Null
    null_wants_absent: frozenset[bool]  # Null only: True for "true", False for "false"
    # Traces already computed, by the request's values for `key`. A condition whose values
    # hold no policy variable depends on nothing else, so its trace for given values never
    # changes; with variables it also depends on other context keys and is not memoised.
    memo: dict[tuple[str, ...] | None, ConditionTrace] = field(
        default_factory=dict, compare=False, repr=False
    )

    def evaluate(self, view: RequestView) -> ConditionTrace:
        return self.trace(view.context)

    def trace(self, context: Mapping[str, tuple[str, ...]]) -> ConditionTrace:
        """This condition's trace for a request's (lower-cased) context."""
        request_values = context.get(self.key)
        known = self.memo.get(request_values)
        if known is not None:
            return known
        if isinstance(self.matcher, VariableMatcher):
            return self._evaluate(request_values, context)
        return remember(self.memo, request_values, self._evaluate(request_values, context))

    def _evaluate(
        self, request_values: tuple[str, ...] | None, context: Mapping[str, tuple[str, ...]]
    ) -> ConditionTrace:
        operator = self.operator
        if self.matcher is None:
            present = request_values is not None
            matched = (not present) in self.null_wants_absent
            note = "" if present else _NOTE_ABSENT
            return construct.condition_trace(
                operator.written,
                self.key_written,
                self.policy_values,
                request_values,
                matched,
                note,
            )
        if request_values is None:
            matched, note = self._absent_result()
            return construct.condition_trace(
                operator.written, self.key_written, self.policy_values, None, matched, note
            )

        if isinstance(self.matcher, StaticMatcher):
            predicate, unresolved = self.matcher.predicate, _NO_UNRESOLVED
        else:
            predicate, unresolved = self.matcher.bind(context)
        note = ""
        if unresolved:
            variables = ", ".join(unresolved)
            if operator.negated:
                # The IAM variables page: a variable AWS cannot resolve may make the whole
                # statement invalid; a negated test against an unknown value cannot hold.
                return construct.condition_trace(
                    operator.written,
                    self.key_written,
                    self.policy_values,
                    request_values,
                    False,
                    f"policy variable {variables} has no value in this request",
                )
            note = f"policy variable {variables} has no value in this request; ignored that value"

        matched = self._present_result(predicate, request_values)
        if operator.qualifier is None and len(request_values) > 1:
            note = f"{note}; {_NOTE_MULTIVALUED}" if note else _NOTE_MULTIVALUED
        return construct.condition_trace(
            operator.written, self.key_written, self.policy_values, request_values, matched, note
        )

    def _absent_result(self) -> tuple[bool, str]:
        operator = self.operator
        if operator.if_exists:
            return True, _NOTE_IF_EXISTS
        if operator.qualifier == "ForAllValues":
            return True, _NOTE_FOR_ALL_EMPTY
        if operator.qualifier == "ForAnyValue":
            return False, _NOTE_FOR_ANY_EMPTY
        if operator.negated:
            return True, _NOTE_NEGATED_ABSENT
        return False, _NOTE_ABSENT

    def _present_result(self, predicate: Predicate, request_values: tuple[str, ...]) -> bool:
        operator = self.operator
        negated = operator.negated
        if operator.qualifier == "ForAllValues":
            return all(predicate(value) != negated for value in request_values)
        if operator.qualifier == "ForAnyValue":
            return any(predicate(value) != negated for value in request_values)
        # No qualifier: one value, or several read as "any of them" (see _NOTE_MULTIVALUED).
        if len(request_values) == 1:
            return predicate(request_values[0]) != negated
        return any(predicate(value) for value in request_values) != negated


def condition_values(raw: object, location: str) -> tuple[str, ...]:
    """A condition's value(s) as strings: JSON strings, numbers and booleans are allowed."""
    items = raw if isinstance(raw, list | tuple) else [raw]
    if not items:
        raise InvalidPolicy(location, "no values")
    values: list[str] = []
    for index, item in enumerate(items):
        item_location = f"{location}[{index}]" if isinstance(raw, list | tuple) else location
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, int):
            values.append(str(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidPolicy(item_location, "not a finite number")
            values.append(repr(item))
        elif isinstance(item, str):
            values.append(item)
        else:
            raise InvalidPolicy(
                item_location, "a condition value must be a string, number or boolean"
            )
    return tuple(values)


def compile_condition(
    operator_written: str,
    key_written: str,
    raw_values: object,
    *,
    variables: bool,
    location: str,
) -> CompiledCondition:
    operator = resolve_operator(operator_written)
    if operator is None:
        raise InvalidPolicy(location, f"unknown condition operator {operator_written!r}")
    if not key_written.strip():
        raise InvalidPolicy(location, "empty condition key")
    key_location = f"{location}.{key_written}"
    values = condition_values(raw_values, key_location)
    if operator.base.family == "null":
        wanted: set[bool] = set()
        for value in values:
            lowered = value.lower()
            if lowered not in ("true", "false"):
                raise InvalidPolicy(key_location, f"Null takes true or false, not {value!r}")
            wanted.add(lowered == "true")
        return CompiledCondition(
            operator, key_written, key_written.lower(), values, None, frozenset(wanted)
        )
    matcher = build_matcher(operator.base, values, variables, key_location)
    return CompiledCondition(
        operator, key_written, key_written.lower(), values, matcher, frozenset()
    )
