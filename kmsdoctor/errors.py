"""Errors that end a run with one clear line and a contract exit code."""

from __future__ import annotations

EXIT_ALLOW = 0
EXIT_DENY = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Something the user must fix: bad arguments, unknown profile, expired credentials,
    a missing bucket, a malformed snapshot. Printed as one line, exit code 2."""

    exit_code = EXIT_USAGE
