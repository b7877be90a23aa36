"""Output to a reader that may leave early (`kmsdoctor … | head`): the output ends quietly and
the exit code stays the command's (rich's own handling would exit 1)."""

from __future__ import annotations

import os
import sys

from rich.console import Console


class QuietPipeConsole(Console):
    """A rich Console that hands a closed pipe back to its caller as BrokenPipeError (rich
    itself exits 1, which would hide the verdict's exit code)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def silence_stdout() -> None:
    """After the reader closed the pipe: point stdout at /dev/null, so the interpreter's final
    flush does not print "Exception ignored … BrokenPipeError" (the Python docs' recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's buffer)
        pass
