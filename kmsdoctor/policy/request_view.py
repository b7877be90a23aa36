"""A `Request` prepared once for evaluation against many policies.

Context keys are matched case-insensitively (IAM "Condition": "Condition key names are not
case-sensitive"), so they are lower-cased once here; values become tuples of strings.
The principal's ARN is taken apart once: account, kind of principal, and for role sessions the
role behind the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kmsdoctor.policy.memo import remember
from kmsdoctor.policy.model import ContextValue, Request, RequestPrincipal

PrincipalKind = Literal["role_session", "user", "federated_user", "root", "service", "other"]


# The fields of a RequestPrincipal, which are all a PrincipalView is derived from.
PrincipalIdentity = tuple[str, str, str | None, str | None, str | None]


# Frozen, so that one view can serve every request by the same principal (see view_principal).
@dataclass(frozen=True, slots=True)
class PrincipalView:
    arn: str
    account: str
    kind: PrincipalKind
    # The IAM role or user behind the caller: the role for a role session; the user itself for
    # an IAM user. For sessions without an `entity_arn` the role ARN is rebuilt from the session
    # ARN, which carries no role path.
    entity_arn: str | None
    role_name: str | None  # for role sessions: the name part of the role, without path
    unique_id: str | None
    service: str | None
    partition: str
    # (arn, account, entity_arn, unique_id, service) as given: a memo key standing for this
    # principal. For a principal whose fields cannot be hashed, an object equal to nothing else.
    identity: PrincipalIdentity | object

    @property
    def is_session(self) -> bool:
        return self.kind in ("role_session", "federated_user")


@dataclass(slots=True)
class RequestView:
    request: Request
    action: str  # lower-cased: action names are case-insensitive
    resource: str
    principal: PrincipalView
    context: Mapping[str, tuple[str, ...]]  # lower-cased keys; absent or empty keys left out


def _context_values(value: ContextValue | object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, list | tuple | set | frozenset):
        values: list[str] = []
        for item in value:
            values.extend(_context_values(item))
        return tuple(values)
    return (str(value),)


# Lower-cased context key names: requests use a small vocabulary of keys over and over.
_LOWERED_KEYS: dict[str, str] = {}


def _lower_key(key: object) -> str:
    if type(key) is not str:
        return str(key).lower()
    return remember(_LOWERED_KEYS, key, key.lower())


def normalise_context(context: Mapping[str, ContextValue]) -> dict[str, tuple[str, ...]]:
    normalised: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        lowered = _LOWERED_KEYS.get(key) if type(key) is str else None
        if lowered is None:
            lowered = _lower_key(key)
        if type(value) is str:
            # Single strings are by far the most common value; skip the general conversion.
            normalised[lowered] = (value,)
            continue
        values = _context_values(value)
        # An empty multivalued key behaves like an absent one (ForAllValues: "returns true if
        # there are no context keys in the request, or if the context key value resolves to a
        # null dataset, such as an empty string"; Null: "the key ... is null").
        if values:
            normalised[lowered] = values
    return normalised


# Views of the principals seen so far: a diagnosis asks many questions about the same caller.
# Bounded higher than the memos: who-can and checks walk through many more principals than a
# statement meets actions, and a view is small.
PRINCIPAL_VIEW_LIMIT = 4096
_PRINCIPAL_VIEWS: dict[PrincipalIdentity, PrincipalView] = {}


def view_principal(principal: RequestPrincipal) -> PrincipalView:
    """The request's principal taken apart once: account, kind, the role behind a session."""
    identity = (
        principal.arn,
        principal.account,
        principal.entity_arn,
        principal.unique_id,
        principal.service,
    )
    try:
        view = _PRINCIPAL_VIEWS.get(identity)
    except TypeError:  # a field that is not a string (nor None): nothing to memoise
        return _build_principal_view(principal, object())
    if view is None:
        view = _build_principal_view(principal, identity)
        if len(_PRINCIPAL_VIEWS) >= PRINCIPAL_VIEW_LIMIT:
            _PRINCIPAL_VIEWS.clear()
        _PRINCIPAL_VIEWS[identity] = view
    return view


def _build_principal_view(
    principal: RequestPrincipal, identity: PrincipalIdentity | object
) -> PrincipalView:
    arn = principal.arn
    parts = arn.split(":", 5)
    partition = parts[1] if len(parts) == 6 and parts[1] else "aws"
    service_name = parts[2] if len(parts) == 6 else ""
    resource = parts[5] if len(parts) == 6 else ""

    if principal.service:
        return PrincipalView(
            arn,
            principal.account,
            "service",
            None,
            None,
            None,
            principal.service,
            partition,
            identity,
        )
    if service_name == "sts" and resource.startswith("assumed-role/"):
        # arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME
        role_name = resource.split("/")[1] if resource.count("/") >= 2 else None
        entity = principal.entity_arn
        if entity is None and role_name:
            entity = f"arn:{partition}:iam::{principal.account}:role/{role_name}"
        return PrincipalView(
            arn,
            principal.account,
            "role_session",
            entity,
            role_name,
            principal.unique_id,
            None,
            partition,
            identity,
        )
    if service_name == "sts" and resource.startswith("federated-user/"):
        return PrincipalView(
            arn,
            principal.account,
            "federated_user",
            principal.entity_arn,
            None,
            principal.unique_id,
            None,
            partition,
            identity,
        )
    if service_name == "iam" and resource == "root":
        return PrincipalView(
            arn,
            principal.account,
            "root",
            arn,
            None,
            principal.unique_id,
            None,
            partition,
            identity,
        )
    if service_name == "iam" and resource.startswith("user/"):
        return PrincipalView(
            arn,
            principal.account,
            "user",
            principal.entity_arn or arn,
            None,
            principal.unique_id,
            None,
            partition,
            identity,
        )
    return PrincipalView(
        arn,
        principal.account,
        "other",
        principal.entity_arn,
        None,
        principal.unique_id,
        None,
        partition,
        identity,
    )


def view_request(request: Request) -> RequestView:
    # Positional: a dataclass __init__ called with keywords costs noticeably more.
    return RequestView(
        request,
        request.action.lower(),
        request.resource,
        view_principal(request.principal),
        normalise_context(request.context),
    )
