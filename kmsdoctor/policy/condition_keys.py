"""Which condition keys policy documents test, without evaluating them.

Used to decide what is worth reading or saying before any request is evaluated: object tags
are read only when a policy tests `s3:ExistingObjectTag/…`, and the session-tag note names the
`aws:PrincipalTag/…` keys a policy tests. Pure; works on the documents as collected (parsed
JSON, or the raw text of a policy that did not parse).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def tested_condition_keys(documents: Iterable[Any], prefix: str) -> list[str]:
    """The condition keys starting with `prefix` (compared in lower case, as IAM does) that the
    documents test, as written, each once, in the order met. A document that did not parse is
    searched as text: a key found there may not be tested, but one tested is never missed."""
    found: dict[str, str] = {}
    lowered = prefix.lower()
    for document in documents:
        for key in _keys_of(document, lowered):
            found.setdefault(key.lower(), key)
    return list(found.values())


def _keys_of(document: Any, prefix: str) -> list[str]:
    if isinstance(document, str):
        pattern = re.compile(r'"(' + re.escape(prefix) + r'[^"]*)"', re.IGNORECASE)
        return pattern.findall(document)
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    keys: list[str] = []
    for statement in statements if isinstance(statements, list) else []:
        condition = statement.get("Condition") if isinstance(statement, dict) else None
        if not isinstance(condition, dict):
            continue
        for block in condition.values():
            if isinstance(block, dict):
                keys += [str(key) for key in block if str(key).lower().startswith(prefix)]
    return keys
