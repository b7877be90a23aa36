"""A question kmsdoctor answers: may this principal do this operation on this object (or on
every object under this prefix)? Every command turns what the user asked into questions; the
collection planner reads each fact they need once, and the analysis answers them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operation = Literal["read", "write"]


@dataclass(frozen=True)
class Question:
    principal: str  # IAM role or user ARN; "" = the identity behind the caller's profile
    bucket: str
    key: str | None = None  # one object
    prefix: str | None = None  # every object under it (mutually exclusive with key)
    operation: Operation = "read"

    def __post_init__(self) -> None:
        if self.key is not None and self.prefix is not None:
            raise ValueError("a question names a key or a prefix, not both")
