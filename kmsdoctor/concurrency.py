"""`worker_pool`: the thread pool every stage that calls AWS concurrently uses (the collectors,
the probe, the CloudTrail lookup); `Once`: a value per key computed by the first thread that
asks (a fact read once, a probe call made once per identity). No AWS library is imported here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


class Once(Generic[K, V]):
    """A value per key, computed once by the first thread that asks; the others wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[K, Future[V]] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            future = self._futures.get(key)
            mine = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
        if mine:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
                raise
        return future.result()

    def items(self) -> Iterator[tuple[K, V]]:
        with self._lock:
            futures = list(self._futures.items())
        for key, future in futures:
            yield key, future.result()
