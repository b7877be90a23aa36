"""`worker_pool`: the thread pool every stage that calls AWS concurrently uses (the collectors,
the probe, the CloudTrail lookup). No AWS library is imported here."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


@contextmanager
def worker_pool(max_workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool for one block that, when the block fails (Ctrl-C above all, or a one-line
    error), neither waits for the calls in flight nor starts the queued ones.

    `with ThreadPoolExecutor()` waits for every submitted task on the way out, even when an
    exception is leaving: Ctrl-C during a collection or a probe would then sit through every
    remaining AWS call, each up to its timeout and retries, before the user got the prompt back.
    """
    pool = ThreadPoolExecutor(max_workers=max_workers)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
