"""Reading a policy document's raw statements (as written, not evaluated).

Some traps are visible only in the text: an `AROA…` unique id in a Principal, an alias ARN in a
Resource, `Resource: "*"`. The engine's traces say *whether* a statement applied; these helpers
read *what it says*, by the same statement index the traces carry.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

# Unique ids AWS shows in place of a principal that was deleted: AROA (role), AIDA (user).
UNIQUE_ID_PATTERN = re.compile(r"^A(RO|ID)A[A-Z0-9]{12,}$")


def statements(document: Any) -> list[dict[str, Any]]:
    """The Statement list of a parsed document ([] for anything that is not one)."""
    if not isinstance(document, dict):
        return []
    raw = document.get("Statement")
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, dict)]
    return []


def statement_at(document: Any, index: int) -> dict[str, Any] | None:
    found = statements(document)
    if 0 <= index < len(found):
        return found[index]
    return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def aws_principals(statement: dict[str, Any]) -> list[str]:
    """The AWS principals of a statement; `"*"` for `Principal: "*"`."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [str(p) for p in as_list(principal.get("AWS"))]
    return []


def resources(statement: dict[str, Any]) -> list[str]:
    return [str(r) for r in as_list(statement.get("Resource"))]


def has_conditions(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition")
    return isinstance(condition, dict) and bool(condition)


_ACCOUNT_ID = re.compile(r"\d{12}")
_ACCOUNT_ROOT = re.compile(r"arn:aws[\w-]*:iam::(\d{12}):root")


# Cached: the rules ask about the same few principals of a policy for every object.
@functools.lru_cache(maxsize=4096)
def is_account_root(principal: str) -> str | None:
    """The account id when the principal is an account (`123…` or `arn:aws:iam::123…:root`)."""
    if _ACCOUNT_ID.fullmatch(principal):
        return principal
    match = _ACCOUNT_ROOT.fullmatch(principal)
    return match.group(1) if match else None


def is_unique_id(principal: str) -> bool:
    return bool(UNIQUE_ID_PATTERN.match(principal))


def label(statement: dict[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return str(sid) if sid else f"Statement[{index}]"


def copy_statement(statement: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(statement)


def condition_values(statement: dict[str, Any], key: str) -> list[tuple[str, list[str]]]:
    """(operator, values) for every condition on `key` (key names compare case-insensitively)."""
    found: list[tuple[str, list[str]]] = []
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return found
    for operator, block in condition.items():
        if not isinstance(block, dict):
            continue
        for condition_key, values in block.items():
            if str(condition_key).lower() == key.lower():
                found.append((str(operator), [str(v) for v in as_list(values)]))
    return found


def replace_condition_values(
    statement: dict[str, Any], key: str, new_values: list[str]
) -> dict[str, Any]:
    """A copy of the statement with every condition on `key` set to `new_values`."""
    changed = copy_statement(statement)
    condition = changed.get("Condition")
    if not isinstance(condition, dict):
        return changed
    for block in condition.values():
        if not isinstance(block, dict):
            continue
        for condition_key in list(block):
            if str(condition_key).lower() == key.lower():
                block[condition_key] = new_values[0] if len(new_values) == 1 else list(new_values)
    return changed


def remove_condition_keys(statement: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """A copy of the statement without conditions on any of `keys` (empty operators dropped)."""
    wanted = {k.lower() for k in keys}
    changed = copy_statement(statement)
    condition = changed.get("Condition")
    if not isinstance(condition, dict):
        return changed
    for operator in list(condition):
        block = condition[operator]
        if not isinstance(block, dict):
            continue
        for condition_key in list(block):
            if str(condition_key).lower() in wanted:
                del block[condition_key]
        if not block:
            del condition[operator]
    if not condition:
        del changed["Condition"]
    return changed
