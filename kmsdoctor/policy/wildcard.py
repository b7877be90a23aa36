"""Wildcard patterns (`*`, `?`) and policy variables (`${aws:username}`), compiled once.

A pattern is first split into tokens: literal text, the two wildcards, and policy variables.
Variables are resolved per request; the resolved tokens are turned into a matcher, and that
step is cached, so a pattern without variables is compiled exactly once, at parse time.

Matching uses a regular expression in which every `*` but the last is an atomic, lazy group
(`(?>.*?SEGMENT)`): taking the leftmost match of each segment is always right for `*`/`?`
patterns, and the atomic group stops the regex engine from backtracking into it, so a hostile
pattern such as `*a*a*a*a*a*b` costs linear time rather than exponential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Star:
    pass


@dataclass(frozen=True, slots=True)
class Question:
    pass


@dataclass(frozen=True, slots=True)
class Variable:
    """`${key}` or `${key, 'default'}`; `key` is kept lower-cased (context keys ignore case)."""

    key: str
    default: str | None
    written: str  # as in the policy, for messages


Token = Literal | Star | Question | Variable
STAR = Star()
QUESTION = Question()

# IAM's escapes for characters that would otherwise be special.
# Source: "IAM policy elements: Variables and tags", section "Special characters".
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}
# `${aws:userid, 'anonymous'}`: a default value in single quotes after a comma.
_VARIABLE_WITH_DEFAULT = re.compile(r"^\s*(?P<key>[^,]+?)\s*,\s*'(?P<default>[^']*)'\s*$")


def tokenize(text: str, *, wildcards: bool, variables: bool) -> tuple[Token, ...]:
    """Split `text` into tokens.

    `wildcards`: whether `*` and `?` are wildcards (StringLike, ArnLike, Action, Resource) or
    plain characters (StringEquals). `variables`: whether `${...}` is a policy variable, which is
    only so in policies with Version 2012-10-17; in 2008-10-17 it is literal text.
    """
    tokens: list[Token] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append(Literal("".join(literal)))
            literal.clear()

    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if variables and char == "$" and text.startswith("${", position):
            end = text.find("}", position + 2)
            if end != -1:
                inner = text[position + 2 : end]
                written = text[position : end + 1]
                position = end + 1
                if inner in _SPECIAL_VARIABLES:
                    literal.append(_SPECIAL_VARIABLES[inner])
                    continue
                flush()
                tokens.append(_parse_variable(inner, written))
                continue
        if wildcards and char == "*":
            flush()
            # Consecutive stars mean the same as one.
            if not tokens or not isinstance(tokens[-1], Star):
                tokens.append(STAR)
        elif wildcards and char == "?":
            flush()
            tokens.append(QUESTION)
        else:
            literal.append(char)
        position += 1
    flush()
    return tuple(tokens)


def _parse_variable(inner: str, written: str) -> Variable:
    with_default = _VARIABLE_WITH_DEFAULT.match(inner)
    if with_default:
        return Variable(with_default["key"].strip().lower(), with_default["default"], written)
    return Variable(inner.strip().lower(), None, written)


def has_variables(tokens: Iterable[Token]) -> bool:
    return any(isinstance(token, Variable) for token in tokens)


class UnresolvedVariable(Exception):
    """A policy variable with no value in the request and no default."""

    def __init__(self, variable: Variable) -> None:
        super().__init__(variable.written)
        self.variable = variable


def resolve(tokens: Sequence[Token], context: Mapping[str, tuple[str, ...]]) -> tuple[Token, ...]:
    """Replace variables by literal text from the (lower-cased) request context.

    A multivalued key cannot be a policy variable (IAM "Single-valued vs. multivalued context
    keys"), so a key holding several values counts as unresolved, as does an absent one.
    """
    resolved: list[Token] = []
    for token in tokens:
        if isinstance(token, Variable):
            values = context.get(token.key)
            if values is not None and len(values) == 1:
                resolved.append(Literal(values[0]))
            elif token.default is not None:
                resolved.append(Literal(token.default))
            else:
                raise UnresolvedVariable(token)
        else:
            resolved.append(token)
    return tuple(resolved)


def literal_text(tokens: Iterable[Token]) -> str:
    """The text of tokens that hold no wildcards (after `resolve`)."""
    parts: list[str] = []
    for token in tokens:
        if isinstance(token, Literal):
            parts.append(token.text)
        elif isinstance(token, Star):
            parts.append("*")
        elif isinstance(token, Question):
            parts.append("?")
        else:
            parts.append(token.written)
    return "".join(parts)


def is_literal(tokens: Sequence[Token]) -> bool:
    return all(isinstance(token, Literal) for token in tokens)


# --- regular expressions ----------------------------------------------------------------------


def _segment_regex(segment: Sequence[Token], any_char: str) -> str:
    parts: list[str] = []
    for token in segment:
        if isinstance(token, Question):
            parts.append(any_char)
        elif isinstance(token, Literal):
            parts.append(re.escape(token.text))
        else:  # pragma: no cover - variables are resolved before this point
            raise TypeError(f"unexpected token {token!r}")
    return "".join(parts)


def pattern_regex(tokens: Sequence[Token], any_char: str = ".") -> str:
    """Regex source that matches the whole of a string against resolved `tokens`.

    `any_char` is what `?` matches: any character, or (in resource ARNs) any but a colon.
    """
    segments: list[list[Token]] = [[]]
    for token in tokens:
        if isinstance(token, Star):
            segments.append([])
        else:
            segments[-1].append(token)
    if len(segments) == 1:
        return _segment_regex(segments[0], any_char) + r"\Z"
    pieces = [_segment_regex(segments[0], any_char)]
    for middle in segments[1:-1]:
        # Leftmost match of each middle segment, and no backtracking into it (see module doc).
        pieces.append(f"(?>.*?{_segment_regex(middle, any_char)})")
    pieces.append(f".*{_segment_regex(segments[-1], any_char)}" + r"\Z")
    return "".join(pieces)


@lru_cache(maxsize=4096)
def compile_patterns(
    patterns: tuple[tuple[Token, ...], ...], ignore_case: bool, any_char: str = "."
) -> re.Pattern[str]:
    """One regex for several resolved patterns: a string matches if any pattern matches it."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    alternatives = "|".join(f"(?:{pattern_regex(tokens, any_char)})" for tokens in patterns)
    return re.compile(alternatives, flags)


# --- resource ARNs ----------------------------------------------------------------------------
#
# Source: IAM "IAM JSON policy elements: Resource", "Using wildcards in resource ARNs":
# wildcards go "within the individual segments of an ARN (the parts separated by colons)";
# "If the * wildcard is the last character of a resource ARN segment, it can expand to match
# beyond the colon boundaries." So a `*` before a colon (or at the end) matches anything, while
# any other `*`, and every `?`, stays inside its segment.

_NOT_COLON = "[^:]"


def split_at_colons(
    tokens: Sequence[Token], max_parts: int | None = None
) -> tuple[tuple[Token, ...], ...]:
    """Split resolved pattern tokens at literal colons (at most `max_parts` parts)."""
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if not isinstance(token, Literal):
            parts[-1].append(token)
            continue
        pieces = token.text.split(":")
        for index, piece in enumerate(pieces):
            if index > 0:
                if max_parts is None or len(parts) < max_parts:
                    parts.append([])
                else:
                    parts[-1].append(Literal(":"))
            if piece:
                parts[-1].append(Literal(piece))
    return tuple(tuple(part) for part in parts)


def _stars_only_end_segments(tokens: Sequence[Token]) -> bool:
    for index, token in enumerate(tokens):
        if not isinstance(token, Star):
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is not None and not (
            isinstance(following, Literal) and following.text.startswith(":")
        ):
            return False
    return True


@dataclass(frozen=True, slots=True)
class SegmentedPattern:
    """A resource pattern with a `*` inside a segment, matched segment by segment.

    Each pattern segment matches one segment of the value; a segment ending in `*` may also
    swallow the value segments after it (the "expand beyond the colon" rule).
    """

    segments: tuple[WildcardSet, ...]
    open_ended: tuple[bool, ...]

    def matches(self, value: str) -> bool:
        parts = value.split(":")
        # Value positions (segment indexes) where the next pattern segment may start.
        starts = {0}
        for segment, open_ended in zip(self.segments, self.open_ended, strict=True):
            next_starts: set[int] = set()
            for start in starts:
                if start < len(parts) and segment.matches(parts[start]):
                    if open_ended:
                        next_starts.update(range(start + 1, len(parts) + 1))
                    else:
                        next_starts.add(start + 1)
            if not next_starts:
                return False
            starts = next_starts
        return len(parts) in starts


def _segmented_pattern(tokens: tuple[Token, ...]) -> SegmentedPattern:
    segments = split_at_colons(tokens)
    return SegmentedPattern(
        segments=tuple(build_wildcard_set([segment], ignore_case=False) for segment in segments),
        open_ended=tuple(bool(segment) and isinstance(segment[-1], Star) for segment in segments),
    )


@dataclass(frozen=True, slots=True)
class WildcardSet:
    """A set of resolved wildcard patterns: exact strings in a set, the rest in one regex."""

    exact: frozenset[str]
    regex: re.Pattern[str] | None
    matches_everything: bool
    ignore_case: bool
    segmented: tuple[SegmentedPattern, ...] = ()  # resource patterns the regex cannot express

    def matches(self, value: str) -> bool:
        if self.ignore_case:
            value = value.lower()
        return self.matches_normalised(value)

    def matches_normalised(self, value: str) -> bool:
        """`matches` for a value already lower-cased when the set ignores case."""
        if self.matches_everything or value in self.exact:
            return True
        if self.regex is not None and self.regex.match(value) is not None:
            return True
        if not self.segmented:  # the common case; skip building a generator
            return False
        return any(pattern.matches(value) for pattern in self.segmented)


def build_wildcard_set(
    patterns: Iterable[tuple[Token, ...]], *, ignore_case: bool, arn_segments: bool = False
) -> WildcardSet:
    """Compile patterns. `arn_segments`: resource-ARN rules (see "resource ARNs" above)."""
    exact: set[str] = set()
    with_wildcards: list[tuple[Token, ...]] = []
    segmented: list[SegmentedPattern] = []
    matches_everything = False
    for tokens in patterns:
        if tokens == (STAR,):
            matches_everything = True
        elif is_literal(tokens):
            text = literal_text(tokens)
            exact.add(text.lower() if ignore_case else text)
        elif arn_segments and not _stars_only_end_segments(tokens):
            segmented.append(_segmented_pattern(tokens))
        else:
            # Without arn_segments every * is free; with it, every * here ends a segment and
            # may run past colons, so only `?` is held to its segment.
            with_wildcards.append(tokens)
    any_char = _NOT_COLON if arn_segments else "."
    regex = (
        compile_patterns(tuple(with_wildcards), ignore_case, any_char) if with_wildcards else None
    )
    return WildcardSet(frozenset(exact), regex, matches_everything, ignore_case, tuple(segmented))


@lru_cache(maxsize=4096)
def cached_wildcard_set(
    patterns: tuple[tuple[Token, ...], ...], ignore_case: bool, arn_segments: bool = False
) -> WildcardSet:
    """`build_wildcard_set` for patterns resolved per request (the cache keeps it cheap)."""
    return build_wildcard_set(patterns, ignore_case=ignore_case, arn_segments=arn_segments)


# --- ARNs -------------------------------------------------------------------------------------

ARN_COMPONENTS = 6  # arn:partition:service:region:account:resource (resource may hold colons)


@dataclass(frozen=True, slots=True)
class ArnPattern:
    """An ARN pattern matched component by component (ArnEquals/ArnLike and their negations).

    Source: IAM "Condition operators", ARN condition operators: "Each of the six colon-delimited
    components of the ARN is checked separately and each can include multi-character match
    wildcards (*) or single-character match wildcards (?)". A lone `*` matches any ARN.
    """

    components: tuple[WildcardSet, ...]
    matches_everything: bool

    def matches(self, arn: str) -> bool:
        if self.matches_everything:
            return True
        parts = arn.split(":", ARN_COMPONENTS - 1)
        if len(parts) != len(self.components):
            return False
        for part, component in zip(parts, self.components, strict=True):
            if not component.matches(part):
                return False
        return True


@lru_cache(maxsize=4096)
def arn_pattern(tokens: tuple[Token, ...]) -> ArnPattern:
    if tokens == (STAR,):
        return ArnPattern((), True)
    components = tuple(
        build_wildcard_set([component], ignore_case=False)
        for component in split_at_colons(tokens, ARN_COMPONENTS)
    )
    return ArnPattern(components, False)
