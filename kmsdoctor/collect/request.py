"""What the user asked `collect` (and `diagnose`) to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kmsdoctor.arn import role_name_of


@dataclass(frozen=True)
class CollectRequest:
    source_profile: str | None  # account A: owns the bucket and the key
    target_profile: str | None  # account B: the caller's account, or the caller itself
    bucket: str
    key: str | None = None  # the object key; None collects the bucket and its default key
    role_arns: list[str] = field(default_factory=list)  # principals to check instead of the caller
    region: str | None = None  # overrides both profiles' Region
    operation: Literal["read", "write"] = "read"
    # --kms-key: a key the user names (ARN, id, alias). Checked to exist up front; it is the key
    # that matters unless the object can be read, whose recorded key always wins.
    kms_key: str | None = None

    def __post_init__(self) -> None:
        # Checked before any AWS call: `diagnose` starts assuming the roles while it collects.
        for role_arn in self.role_arns:
            role_name_of(role_arn)
