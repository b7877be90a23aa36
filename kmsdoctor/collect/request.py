"""What the user asked `collect` (and `diagnose`) to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kmsdoctor.errors import UsageError


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


def role_name_of(role_arn: str) -> str:
    """The role name in an IAM role ARN; anything else is a UsageError naming --role-arn."""
    parts = role_arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or parts[2] != "iam"
        or not parts[5].startswith("role/")
    ):
        raise UsageError(
            f"--role-arn {role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )
    return parts[5].rsplit("/", 1)[-1]
