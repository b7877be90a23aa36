"""Debug logging for `--debug`: one line per AWS call on stderr.

Only `kmsdoctor.aws.call()` writes to the `kmsdoctor.aws` logger, and it logs the service, the
operation, the outcome (ok or the error code) and the duration. Never request parameters (a
`kms:Decrypt` ciphertext, a policy), never response bodies, never credentials. botocore's own
loggers stay quiet: at DEBUG they print request headers and bodies, which is exactly what must
not leak.
"""

from __future__ import annotations

import logging
import sys

AWS_LOGGER = "kmsdoctor.aws"


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a line is logged, not as it was when the handler
    was made: a caller that swaps stderr (a test, an embedding program) never gets a logging
    traceback from a closed stream."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def enable_debug_logging() -> None:
    """Send kmsdoctor's per-call lines to stderr. Idempotent."""
    logger = logging.getLogger("kmsdoctor")
    logger.setLevel(logging.DEBUG)
    if not any(getattr(h, "_kmsdoctor", False) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("kmsdoctor: %(message)s"))
        handler._kmsdoctor = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    # The root logger may have been set to DEBUG by someone else; botocore at DEBUG logs full
    # requests. Pin the AWS libraries to WARNING whatever the root level is.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def disable_debug_logging() -> None:
    """Remove what `enable_debug_logging` added: a run without --debug in the same process (a
    test, an embedding program) prints no per-call lines left from an earlier run."""
    logger = logging.getLogger("kmsdoctor")
    for handler in list(logger.handlers):
        if getattr(handler, "_kmsdoctor", False):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
