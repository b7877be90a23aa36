"""What `kmsdoctor explain` answers: the `Explanation` and the names it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kmsdoctor.lock_catalogue import CATALOGUE, LockName

# A lock of the catalogue, or `unknown` for "the message does not say".
Lock = Literal[LockName, "unknown"]
DenyType = Literal["explicit", "implicit"]

# The locks an error message can name (the catalogue's, less the object), then `unknown`.
LOCKS: tuple[str, ...] = (
    *(spec.name for spec in CATALOGUE if spec.named_by_messages),
    "unknown",
)


@dataclass(frozen=True)
class Explanation:
    """One pasted error message, read.

    `deny_type` is None when the message does not say (a bare "Access Denied", a KMS key-state
    error, a credentials error); `recognised` is False only when no known message form matched,
    and then `emit_explanation` exits 3.
    """

    principal: str | None
    action: str | None
    resource: str | None
    lock: Lock
    deny_type: DenyType | None
    next_steps: list[str] = field(default_factory=list)
    command: str | None = None
    recognised: bool = True
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The `--format json` document: the seven contract keys first, then the two extras."""
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "lock": self.lock,
            "deny_type": self.deny_type,
            "next_steps": list(self.next_steps),
            "command": self.command,
            "summary": self.summary,
            "recognised": self.recognised,
        }
