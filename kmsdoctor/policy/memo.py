"""Small bounded memos for the evaluation hot path.

A compiled statement meets the same few actions, resource ARNs and condition values over and
over (every authorization of a diagnosis asks about the same key and object). Matching one of
them again costs a regex or a condition operator; looking the answer up costs a dict probe. The
memos hold pure results only — a wildcard match, a condition's trace for given request values —
so a hit returns exactly what computing it again would.

Each memo is a plain dict read with `memo.get(key)` on the hot path; only a miss calls
`remember`, which empties the dict when it is full instead of tracking recency: simple, cheap,
and bounded, which is all that is needed when the working set is small.
"""

from __future__ import annotations

from typing import TypeVar

# Entries per memo. Each statement and condition has its own, so a batch of diagnoses with
# many distinct values costs at most this many entries per compiled element.
MEMO_LIMIT = 256

_K = TypeVar("_K")
_V = TypeVar("_V")


def remember(memo: dict[_K, _V], key: _K, value: _V) -> _V:
    """Store `value` under `key` (emptying a full memo first) and return it."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value
