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

    def evaluate(
        self, view: RequestView, policy_name: str, principal_has_boundary: bool
    ) -> StatementTrace:
        if self.resources.with_variables:
            # The Resource depends on other context keys too: nothing to memoise.
            fields = self._element_fields(view, principal_has_boundary)
        else:
            key: object
            if not self.principal_matters:
                key = (view.action, view.resource) if self.resource_matters else view.action
            elif self.principal_by_account:
                principal = view.principal
                if self.resource_matters:
                    key = (view.action, view.resource, principal.account, principal.kind)
                else:
                    key = (view.action, principal.account, principal.kind)
            elif self.boundary_matters:
                principal_identity = view.principal.identity
                key = (view.action, view.resource, principal_identity, principal_has_boundary)
            elif self.resource_matters:
                key = (view.action, view.resource, view.principal.identity)
            else:
                key = (view.action, view.principal.identity)
            memo = self.element_memo
            fields = memo.get(key)
            if fields is None:
                fields = self._element_fields(view, principal_has_boundary)
                # memo.remember, inline: this is the path of every request not seen before.
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = fields

        if not self.conditions:
            return construct.statement_trace_from(fields, policy_name, view.request)
        # Every condition is traced, whether or not the elements matched: the report says
        # which conditions would also have stopped the statement.
        applies = fields["applies"]
        context = view.context
        traces: list[ConditionTrace] = []
        for condition in self.conditions:
            trace = condition.trace(context)
            traces.append(trace)
            if not trace.matched:
                applies = False
        return construct.statement_trace_with_conditions(
            fields, policy_name, tuple(traces), applies, view.request
        )

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
        name = self.name
        traces: list[StatementTrace] = []
        # Explicit deny if an applying statement denies, allow if one allows, else implicit
        # deny; every statement is traced either way.
        decision = _IMPLICIT_DENY
        for statement in self.statements:
            trace = statement.evaluate(view, name, principal_has_boundary)
            traces.append(trace)
            if trace.applies and decision is not _EXPLICIT_DENY:
                decision = _EXPLICIT_DENY if trace.effect == "Deny" else _ALLOW
        return construct.policy_result(name, decision, tuple(traces))
