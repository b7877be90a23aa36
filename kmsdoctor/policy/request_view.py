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

from kmsdoctor.policy.model import ContextValue, Request

PrincipalKind = Literal["role_session", "user", "federated_user", "root", "service", "other"]


# Not frozen: a frozen dataclass costs several microseconds to build, and one of each is built
# per evaluated request. Nothing outside the engine sees these.
@dataclass(slots=True)
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


def normalise_context(context: Mapping[str, ContextValue]) -> dict[str, tuple[str, ...]]:
    normalised: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        # Single strings are by far the most common value; skip the general conversion.
        values = (value,) if type(value) is str else _context_values(value)
        # An empty multivalued key behaves like an absent one (ForAllValues: "returns true if
        # there are no context keys in the request, or if the context key value resolves to a
        # null dataset, such as an empty string"; Null: "the key ... is null").
        if values:
            normalised[str(key).lower()] = values
    return normalised


def _view_principal(request: Request) -> PrincipalView:
    principal = request.principal
    arn = principal.arn
    parts = arn.split(":", 5)
    partition = parts[1] if len(parts) == 6 and parts[1] else "aws"
    service_name = parts[2] if len(parts) == 6 else ""
    resource = parts[5] if len(parts) == 6 else ""

    if principal.service:
        return PrincipalView(
            arn, principal.account, "service", None, None, None, principal.service, partition
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
        )
    if service_name == "iam" and resource == "root":
        return PrincipalView(
            arn, principal.account, "root", arn, None, principal.unique_id, None, partition
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
    )


def view_request(request: Request) -> RequestView:
    return RequestView(
        request=request,
        action=request.action.lower(),
        resource=request.resource,
        principal=_view_principal(request),
        context=normalise_context(request.context),
    )
