"""Child processes that a Ctrl-C test interrupts.

A shell starts a background job with SIGINT ignored, and children inherit that: a suite run as
`make test &` (or under some CI runners) would send its SIGINT into the void and see the command
run on. The child gets the default handler back, as a process started from a terminal has.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """preexec_fn for subprocess.Popen: SIGINT as a terminal would deliver it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
