"""The Principal and NotPrincipal elements: parsed once, matched against a request's principal.

Sources (AWS IAM User Guide):
- "AWS JSON policy elements: Principal" — account ids and `:root` name the account (and delegate
  to its IAM policies); role ARNs match every session of the role; an assumed-role session ARN
  matches that session only; `"*"` and `{"AWS": "*"}` are everyone; a wildcard may not stand for
  part of a name or ARN; a policy that names a role which is then deleted shows the role's unique
  id (AROA...), which a new role of the same name does not hold.
- "AWS JSON policy elements: NotPrincipal" — for Deny, AWS may check the account, then the role,
  then the session separately, so the caller escapes the Deny only when every one of them is
  listed; a principal with a permissions boundary is always denied by a NotPrincipal Deny.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kmsdoctor.policy.invalid import InvalidPolicy
from kmsdoctor.policy.model import PrincipalMatch
from kmsdoctor.policy.request_view import PrincipalView

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM unique ids: four-letter type prefix (AROA role, AIDA user, ...), then upper-case letters
# and digits. Source: IAM "IAM identifiers", "Understanding unique ID prefixes".
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{3}[A-Z0-9]{12,124}$")
_PRINCIPAL_TYPES = {
    "aws": "AWS",
    "service": "Service",
    "federated": "Federated",
    "canonicaluser": "CanonicalUser",
}


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """Everything one Principal (or NotPrincipal) element names, indexed for matching."""

    written: tuple[str, ...]  # "AWS:arn:...", "Service:s3.amazonaws.com", "*"
    wildcard: bool
    accounts: frozenset[str]
    roles: frozenset[tuple[str, str]]  # (account, role name lower-cased)
    users: frozenset[tuple[str, str]]  # (account, user name lower-cased)
    exact_arns: frozenset[str]  # role sessions, federated users, other principal ARNs
    unique_ids: frozenset[str]
    services: frozenset[str]  # lower-cased

    def match(self, principal: PrincipalView) -> PrincipalMatch | None:
        """The strongest way this element names `principal`, or None."""
        if self.wildcard:
            return "wildcard"
        if principal.kind == "service":
            if principal.service is not None and principal.service.lower() in self.services:
                return "exact"
            return None
        if principal.arn in self.exact_arns:
            return "exact"
        if principal.unique_id is not None and principal.unique_id in self.unique_ids:
            # A user's own id names the user; a role's id names the role behind the session.
            return "exact" if principal.kind == "user" else "entity"
        entity_key = _entity_key(principal)
        if entity_key is not None:
            if principal.kind == "user" and entity_key in self.users:
                return "exact"
            if principal.kind == "role_session" and entity_key in self.roles:
                return "entity"
            if principal.kind == "federated_user" and entity_key in self.users:
                return "entity"
        if principal.entity_arn is not None and principal.entity_arn in self.exact_arns:
            return "entity"
        if principal.account in self.accounts:
            return "account"
        return None

    def unlisted_levels(self, principal: PrincipalView) -> list[str]:
        """For NotPrincipal: the levels of the caller's identity this element does not list.

        AWS checks the account, then the role or user, then the session; the caller is exempt
        from a NotPrincipal Deny only if each level is listed.
        """
        if self.wildcard:
            return []
        if principal.kind == "service":
            listed = principal.service is not None and principal.service.lower() in self.services
            return [] if listed else [f"the service {principal.service}"]
        missing: list[str] = []
        if principal.account not in self.accounts:
            missing.append(f"the account {principal.account}")
        entity_key = _entity_key(principal)
        if principal.kind == "role_session":
            role_listed = (entity_key is not None and entity_key in self.roles) or (
                principal.unique_id is not None and principal.unique_id in self.unique_ids
            )
            if not role_listed:
                missing.append(f"the role {principal.entity_arn}")
        if (
            principal.kind == "federated_user"
            and principal.entity_arn is not None
            and (entity_key is None or entity_key not in self.users)
        ):
            missing.append(f"the user {principal.entity_arn}")
        if principal.kind in ("role_session", "federated_user", "user", "other"):
            named = principal.arn in self.exact_arns or (
                principal.kind == "user"
                and (
                    (entity_key is not None and entity_key in self.users)
                    or (principal.unique_id is not None and principal.unique_id in self.unique_ids)
                )
            )
            if not named:
                missing.append(principal.arn)
        return missing


def _entity_key(principal: PrincipalView) -> tuple[str, str] | None:
    """(account, name) of the role or user behind the caller; IAM names ignore case and paths
    do not make them unique, so name and account identify the entity."""
    if principal.kind == "role_session" and principal.role_name:
        return (principal.account, principal.role_name.lower())
    entity = principal.entity_arn
    if entity is None:
        return None
    parts = entity.split(":", 5)
    if len(parts) != 6:
        return None
    resource = parts[5]
    if resource.startswith(("user/", "role/")):
        return (parts[4], resource.rsplit("/", 1)[-1].lower())
    return None


@dataclass
class _Collected:
    written: list[str]
    wildcard: bool = False

    def __post_init__(self) -> None:
        self.accounts: set[str] = set()
        self.roles: set[tuple[str, str]] = set()
        self.users: set[tuple[str, str]] = set()
        self.exact_arns: set[str] = set()
        self.unique_ids: set[str] = set()
        self.services: set[str] = set()


def parse_principal_element(value: object, location: str) -> PrincipalSet:
    """Compile a Principal/NotPrincipal value: `"*"` or a map of type to string(s)."""
    collected = _Collected(written=[])
    if isinstance(value, str):
        if value != "*":
            raise InvalidPolicy(
                location, f'a principal must be "*" or a map such as {{"AWS": ...}}, not {value!r}'
            )
        collected.wildcard = True
        collected.written.append("*")
    elif isinstance(value, Mapping):
        if not value:
            raise InvalidPolicy(location, "the principal map is empty")
        for raw_type, raw_values in value.items():
            principal_type = _PRINCIPAL_TYPES.get(str(raw_type).lower())
            if principal_type is None:
                raise InvalidPolicy(
                    location,
                    f"unknown principal type {raw_type!r} (expected AWS, Service, Federated "
                    "or CanonicalUser)",
                )
            entry_location = f"{location}.{principal_type}"
            for text in _string_list(raw_values, entry_location):
                _add_entry(collected, principal_type, text, entry_location)
    else:
        raise InvalidPolicy(location, f"expected a string or an object, got {_type_name(value)}")
    return PrincipalSet(
        written=tuple(collected.written),
        wildcard=collected.wildcard,
        accounts=frozenset(collected.accounts),
        roles=frozenset(collected.roles),
        users=frozenset(collected.users),
        exact_arns=frozenset(collected.exact_arns),
        unique_ids=frozenset(collected.unique_ids),
        services=frozenset(collected.services),
    )


def _string_list(value: object, location: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if not value:
            raise InvalidPolicy(location, "the list is empty")
        strings: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidPolicy(
                    f"{location}[{index}]", f"expected a string, got {_type_name(item)}"
                )
            strings.append(item)
        return strings
    raise InvalidPolicy(
        location, f"expected a string or a list of strings, got {_type_name(value)}"
    )


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _add_entry(collected: _Collected, principal_type: str, text: str, location: str) -> None:
    collected.written.append(f"{principal_type}:{text}")
    if not text:
        raise InvalidPolicy(location, "empty principal")
    if principal_type == "AWS":
        _add_aws_entry(collected, text, location)
    elif principal_type == "Service":
        if "*" in text or "?" in text:
            raise InvalidPolicy(
                location, f"wildcards are not allowed in a service principal: {text}"
            )
        collected.services.add(text.lower())
    # Federated principals take part only in role trust policies (AssumeRoleWithSAML /
    # WithWebIdentity): the requests this engine sees are made by the resulting role session,
    # which such an entry never names. CanonicalUser entries (S3 only) name CloudFront origin
    # access identities or accounts by canonical id, which an IAM caller never presents.
    # Both are accepted and never match.


def _add_aws_entry(collected: _Collected, text: str, location: str) -> None:
    if text == "*":
        collected.wildcard = True
        return
    if "*" in text or "?" in text:
        raise InvalidPolicy(
            location,
            f"a wildcard cannot stand for part of a principal ({text}); AWS allows only a lone "
            '"*" — use the aws:PrincipalArn condition key with ArnLike instead',
        )
    if _ACCOUNT_ID.match(text):
        collected.accounts.add(text)
        return
    if _UNIQUE_ID.match(text):
        collected.unique_ids.add(text)
        return
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1]:
        raise InvalidPolicy(
            location, f"not an account id, ARN or unique id: {text!r} (is it a typo?)"
        )
    service, account, resource = parts[2], parts[4], parts[5]
    if not _ACCOUNT_ID.match(account):
        raise InvalidPolicy(location, f"the account part of {text} is not a 12-digit account id")
    if service == "iam" and resource == "root":
        collected.accounts.add(account)
    elif service == "iam" and resource.startswith("role/"):
        collected.roles.add((account, resource.rsplit("/", 1)[-1].lower()))
    elif service == "iam" and resource.startswith("user/"):
        collected.users.add((account, resource.rsplit("/", 1)[-1].lower()))
    elif service in ("iam", "sts"):
        # assumed-role sessions, federated users, and other principal ARNs: exact match only.
        collected.exact_arns.add(text)
    else:
        raise InvalidPolicy(location, f"{text} is not an IAM or STS principal ARN")
