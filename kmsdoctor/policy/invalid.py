"""The error the compiler raises internally; `parse_policy` turns it into a `PolicyError`.

Compiling helpers do not know the policy's name, only where they are inside it.
"""

from __future__ import annotations


class InvalidPolicy(Exception):
    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
