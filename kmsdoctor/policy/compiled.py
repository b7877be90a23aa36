"""Compiled policies: what `parse_policy` returns, and how one policy decides one request.

A statement applies when its action, resource and principal elements match and every
condition holds. A policy's decision: an explicit deny if any applying statement denies, allow
if any applying statement allows, otherwise an implicit deny (IAM "Policy evaluation logic",
"The difference between explicit and implicit denies").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kmsdoctor.policy import construct, wildcard
from kmsdoctor.policy.conditions import CompiledCondition
from kmsdoctor.policy.memo import MEMO_LIMIT, remember
from kmsdoctor.policy.model import (
    ConditionTrace,
    Decision,
    PolicyKind,
    PolicyResult,
    PolicyWarning,
    PrincipalMatch,
    Request,
    StatementText,
    StatementTrace,
)
from kmsdoctor.policy.principals import PrincipalSet
from kmsdoctor.policy.request_view import RequestView, view_request

Effect = Literal["Allow", "Deny"]

# Reading an enum member off its class (Decision.ALLOW) costs about 0.1 µs in Python 3.11;
# the hot path reads these instead.
_ALLOW = Decision.ALLOW
_IMPLICIT_DENY = Decision.IMPLICIT_DENY
_EXPLICIT_DENY = Decision.EXPLICIT_DENY


@dataclass(frozen=True, slots=True)
class ResourceElement:
    """Resource or NotResource. Patterns with `${...}` are resolved per request."""

    static: wildcard.WildcardSet  # the patterns without variables (all of them, when absent)
    with_variables: tuple[tuple[wildcard.Token, ...], ...]
    negated: bool

    def match(self, view: RequestView) -> tuple[bool, str]:
        """(element satisfied, note). Matching is case-sensitive: ARNs are."""
        listed = self.static.matches_normalised(view.resource)
        note = ""
        if not listed and self.with_variables:
            resolved: list[tuple[wildcard.Token, ...]] = []
            unresolved: list[str] = []
            for tokens in self.with_variables:
                try:
                    resolved.append(wildcard.resolve(tokens, view.context))
                except wildcard.UnresolvedVariable as missing:
                    unresolved.append(missing.variable.written)
            if resolved:
                patterns = wildcard.cached_wildcard_set(tuple(resolved), False, arn_segments=True)
                listed = patterns.matches(view.resource)
            if unresolved and not listed:
                note = f"policy variable {', '.join(unresolved)} has no value in this request"
                if self.negated:
                    # An unresolvable NotResource cannot tell what is excluded: the IAM
                    # variables page says such a statement may be invalid, so it does not apply.
                    return False, note
        return (listed != self.negated), note


# The keys a statement's element fields are memoised under (CompiledStatement.key_shape),
# named after what they hold besides the lower-cased action.
_KEY_NOT_MEMOISED = 0  # the Resource holds a policy variable
_KEY_ACTION = 1
_KEY_ACTION_RESOURCE = 2
_KEY_ACTION_ACCOUNT = 3  # the caller's account and kind
_KEY_ACTION_RESOURCE_ACCOUNT = 4
_KEY_ACTION_RESOURCE_CALLER_BOUNDARY = 5  # the caller's identity, and whether it has a boundary
_KEY_ACTION_RESOURCE_CALLER = 6
_KEY_ACTION_CALLER = 7
# The keys that hold the resource, always second (see Policy.evaluate_traced).
_RESOURCE_SHAPES = frozenset(
    (
        _KEY_ACTION_RESOURCE,
        _KEY_ACTION_RESOURCE_ACCOUNT,
        _KEY_ACTION_RESOURCE_CALLER_BOUNDARY,
        _KEY_ACTION_RESOURCE_CALLER,
    )
)

_new = object.__new__


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    index: int
    sid: str | None
    effect: Effect
    actions: wildcard.WildcardSet
    actions_negated: bool
    resources: ResourceElement
    principals: PrincipalSet | None  # None in identity-based policies, SCPs, ...
    principals_negated: bool
    conditions: tuple[CompiledCondition, ...]
    text: StatementText
    # What the Action, Resource and Principal elements' outcome depends on besides the action:
    # the resource unless the Resource is a lone "*" (or NotResource "*"), the caller unless
    # the statement has no Principal or names everyone ("*") — only its account and kind when
    # the Principal names accounts only — and for a NotPrincipal also whether the caller has a
    # boundary. Set by the compiler (see _memo_shape); a statement
    # that depends on less finds its fields in element_memo for requests it has never seen.
    resource_matters: bool = True
    principal_matters: bool = True
    boundary_matters: bool = True
    # A Principal naming accounts only ("111122223333", ":root") matches by the caller's
    # account (and whether it is a service), so every new role session of a known account
    # finds the statement's fields in the memo.
    principal_by_account: bool = False
    # The trace's fields for the Action, Resource and Principal elements (see
    # construct.statement_fields), by everything they depend on when the Resource holds no
    # policy variable: policy name, lower-cased action, and what the three flags above name.
    # Requests repeat these; a hit saves the wildcard and principal matching and lets the
    # trace be copied from one dict.
    element_memo: dict[tuple[object, ...], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Behind it, for requests it has not seen (a new resource ARN, say): whether the Action
    # element matches, by lower-cased action, and the trace's fields by the elements' outcome,
    # which takes only a few values per statement.
    action_memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    outcome_memo: dict[tuple[object, ...], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # For a resource not seen before: the fields by the element_memo key with the resource
    # replaced by whether it matched, which is all the fields take from it when the Resource
    # holds no policy variable. A prefix check meets a new object ARN with every request;
    # this saves it the principal matching and the outcome lookup.
    match_memo: dict[tuple[object, ...], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Which element_memo key the statement's fields are kept under (one of _KEY_*), worked
    # out once from the flags above, so that evaluation picks it with one comparison or two.
    key_shape: int = field(init=False, default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Frozen: the shape is set once here, from the flags the compiler gave.
        object.__setattr__(self, "key_shape", self._key_shape())

    def _key_shape(self) -> int:
        """Which of the element-memo keys (the _KEY_* shapes) this statement's fields use."""
        if self.resources.with_variables:
            # The Resource depends on other context keys too: nothing to memoise.
            return _KEY_NOT_MEMOISED
        if not self.principal_matters:
            return _KEY_ACTION_RESOURCE if self.resource_matters else _KEY_ACTION
        if self.principal_by_account:
            return _KEY_ACTION_RESOURCE_ACCOUNT if self.resource_matters else _KEY_ACTION_ACCOUNT
        if self.boundary_matters:
            return _KEY_ACTION_RESOURCE_CALLER_BOUNDARY
        if self.resource_matters:
            return _KEY_ACTION_RESOURCE_CALLER
        return _KEY_ACTION_CALLER

    def fields_for(
        self, view: RequestView, principal_has_boundary: bool, key: object
    ) -> dict[str, Any]:
        """The element fields for a request whose memo key `key` missed (None: not memoised):
        worked out, and remembered under `key`."""
        if key is not None and self.key_shape in _RESOURCE_SHAPES:
            resources = self.resources
            resource_matched = resources.static.matches_normalised(view.resource) != (
                resources.negated
            )
            match_key = (key[0], resource_matched, *key[2:])  # type: ignore[index]
            fields = self.match_memo.get(match_key)
            if fields is None:
                fields = self._element_fields(view, principal_has_boundary)
                remember(self.match_memo, match_key, fields)
        else:
            fields = self._element_fields(view, principal_has_boundary)
        if key is not None:
            memo = self.element_memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = fields
        return fields

    def _element_fields(self, view: RequestView, principal_has_boundary: bool) -> dict[str, Any]:
        """The trace's fields before conditions, but for the policy name, which the trace is
        given when built (so that equal policies under other names share these): see
        construct.statement_fields."""
        action_matched = self.action_memo.get(view.action)
        if action_matched is None:
            # view.action is lower-cased already, and the action set ignores case.
            matched = self.actions.matches_normalised(view.action) != self.actions_negated
            action_matched = remember(self.action_memo, view.action, matched)
        resources = self.resources
        if resources.with_variables:
            resource_matched, resource_note = resources.match(view)
        else:
            # No variables, so nothing to note.
            resource_matched = resources.static.matches_normalised(view.resource) != (
                resources.negated
            )
            resource_note = ""
        principals = self.principals
        principal_match: PrincipalMatch | None = None
        principal_note = ""
        if principals is None:
            principal_matched: bool | None = None  # identity-based policies have no Principal
        elif not self.principals_negated:
            principal_match = principals.match(view.principal)
            principal_matched = principal_match is not None
        else:
            principal_matched, principal_note = self._match_not_principal(
                principals, view, principal_has_boundary
            )
        applies = action_matched and resource_matched and principal_matched is not False
        notes: tuple[str, ...] = ()
        if resource_note or principal_note:
            notes = tuple(note for note in (resource_note, principal_note) if note)
        outcome = (
            action_matched,
            resource_matched,
            principal_matched,
            principal_match,
            notes,
        )
        fields = self.outcome_memo.get(outcome)
        if fields is None:
            fields = construct.statement_fields(
                "",
                self.index,
                self.sid,
                self.effect,
                action_matched,
                resource_matched,
                principal_matched,
                applies,
                principal_match,
                notes,
                self.text,
            )
            remember(self.outcome_memo, outcome, fields)
        return fields

    @staticmethod
    def _match_not_principal(
        principals: PrincipalSet, view: RequestView, principal_has_boundary: bool
    ) -> tuple[bool, str]:
        """NotPrincipal (always with Deny; parse_policy rejects it with Allow): (the element is
        satisfied, i.e. the caller is not exempt; note)."""
        if principal_has_boundary and view.principal.kind in (
            "role_session",
            "user",
            "federated_user",
        ):
            return (
                True,
                "the caller has a permissions boundary, and AWS applies a NotPrincipal Deny to "
                "such principals whatever NotPrincipal lists",
            )
        unlisted = principals.unlisted_levels(view.principal)
        if not unlisted:
            return False, ""
        return (
            True,
            "NotPrincipal does not list " + ", ".join(unlisted) + "; AWS checks each separately",
        )


@dataclass(frozen=True)
class Policy:
    """A parsed and compiled policy. Build it with `parse_policy`; evaluate it many times."""

    name: str
    kind: PolicyKind
    version: str | None  # "2012-10-17", "2008-10-17", or None when the policy has no Version
    statements: tuple[CompiledStatement, ...]
    warnings: tuple[PolicyWarning, ...] = ()

    def evaluate(self, request: Request, *, principal_has_boundary: bool = False) -> PolicyResult:
        """Decide `request` against this policy alone, with a trace of every statement.

        `principal_has_boundary` matters only for NotPrincipal Deny statements, which AWS
        applies to every IAM principal that has a permissions boundary.
        """
        return self.evaluate_view(view_request(request), principal_has_boundary)

    def evaluate_view(
        self, view: RequestView, principal_has_boundary: bool = False
    ) -> PolicyResult:
        return self.evaluate_traced(view, principal_has_boundary)[0]

    def evaluate_traced(
        self, view: RequestView, principal_has_boundary: bool = False
    ) -> tuple[PolicyResult, StatementTrace | None, StatementTrace | None]:
        """(`evaluate_view`'s result, its first applying Allow trace, its first applying Deny
        trace): the layers' reasons name those statements.

        This is the engine's innermost loop, run for every statement of every policy of every
        request, so it is written out in one piece: a statement's element fields come from its
        memo (under the key its key_shape names) and its conditions' traces from theirs, and
        the trace is built as construct.statement_trace_with_conditions builds it.
        """
        name = self.name
        request = view.request
        action = view.action
        resource = view.resource
        principal = view.principal
        context = view.context
        traces: list[StatementTrace] = []
        first_allow: StatementTrace | None = None
        first_deny: StatementTrace | None = None
        key: object
        for statement in self.statements:
            shape = statement.key_shape
            if shape == _KEY_ACTION:
                key = action
            elif shape == _KEY_ACTION_RESOURCE:
                key = (action, resource)
            elif shape == _KEY_NOT_MEMOISED:
                key = None
            elif shape == _KEY_ACTION_ACCOUNT:
                key = (action, principal.account, principal.kind)
            elif shape == _KEY_ACTION_RESOURCE_ACCOUNT:
                key = (action, resource, principal.account, principal.kind)
            elif shape == _KEY_ACTION_RESOURCE_CALLER_BOUNDARY:
                key = (action, resource, principal.identity, principal_has_boundary)
            elif shape == _KEY_ACTION_RESOURCE_CALLER:
                key = (action, resource, principal.identity)
            else:
                key = (action, principal.identity)
            fields = statement.element_memo.get(key) if key is not None else None
            if fields is None:
                fields = statement.fields_for(view, principal_has_boundary, key)

            trace = _new(StatementTrace)
            values = trace.__dict__
            # One table copy, then the fields that are the request's own (see construct.py).
            values.update(fields)
            values["policy_name"] = name
            applies = fields["applies"]
            conditions = statement.conditions
            if conditions:
                # Every condition is traced, whether or not the elements matched: the report
                # says which conditions would also have stopped the statement.
                condition_traces: list[ConditionTrace] = []
                for condition in conditions:
                    condition_trace = condition.memo.get(context.get(condition.key))
                    if condition_trace is None:
                        condition_trace = condition.trace(context)
                    condition_traces.append(condition_trace)
                    if not condition_trace.matched:
                        applies = False
                values["conditions"] = tuple(condition_traces)
                values["applies"] = applies
            values["request"] = request
            traces.append(trace)
            if applies:
                if statement.effect == "Deny":
                    if first_deny is None:
                        first_deny = trace
                elif first_allow is None:
                    first_allow = trace
        # Explicit deny if an applying statement denies, allow if one allows, else implicit
        # deny; every statement is traced either way.
        if first_deny is not None:
            decision = _EXPLICIT_DENY
        elif first_allow is not None:
            decision = _ALLOW
        else:
            decision = _IMPLICIT_DENY
        return construct.policy_result(name, decision, tuple(traces)), first_allow, first_deny
