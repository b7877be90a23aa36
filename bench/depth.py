"""Dependency depth of AWS calls: the longest chain of calls whose answers the code had in hand
when it made the next one.

Each thread carries a depth. An AWS API call (each page and retry, as botocore sends them) gets
the calling thread's depth + 1 and raises the thread to it; a task submitted to a thread pool
starts at its submitter's depth, and `Future.result()` raises the waiting thread to the depth the
task ended at — or, for a future set by hand (`kmsdoctor.concurrency.Once`: a fact read by the
first thread that asks while the others wait for it), the depth of the thread that set it. So
two independent calls made one after the other by one thread count as a chain of two:
accidental serialisation shows. The count does not depend on timing, so tests may assert
it on a busy machine; `make bench` uses it to turn wall time into a ratio.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

_depth = threading.local()  # per thread: (depth, the chain of calls that led to it)


def _current() -> tuple[int, tuple[str, ...]]:
    return getattr(_depth, "value", (0, ()))


def _raise_to(value: tuple[int, tuple[str, ...]]) -> None:
    if value[0] > _current()[0]:
        _depth.value = value


@dataclass
class DepthTracer:
    """Patches thread pools and botocore while installed; `records` holds
    (operation, depth, chain) for every AWS call made meanwhile."""

    records: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _originals: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        with self._lock:
            return max((record[1] for record in self.records), default=0)

    @property
    def longest_chain(self) -> tuple[str, ...]:
        with self._lock:
            deepest = max(self.records, key=lambda record: record[1], default=("", 0, ()))
        return deepest[2]

    def install(self) -> DepthTracer:
        import concurrent.futures
        import concurrent.futures.thread

        import botocore.client

        pool = concurrent.futures.thread.ThreadPoolExecutor
        future_class = concurrent.futures.Future
        client_class = botocore.client.BaseClient
        submit, result = pool.submit, future_class.result
        set_result, set_exception = future_class.set_result, future_class.set_exception
        make_api_call = client_class._make_api_call
        self._originals = {
            "submit": (pool, submit),
            "result": (future_class, result),
            "set_result": (future_class, set_result),
            "set_exception": (future_class, set_exception),
            "_make_api_call": (client_class, make_api_call),
        }
        records, lock = self.records, self._lock

        def traced_submit(pool_self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            start, ended = _current(), {"depth": (0, ())}

            def task() -> Any:
                _depth.value = start
                try:
                    return fn(*args, **kwargs)
                finally:
                    ended["depth"] = _current()

            future = submit(pool_self, task)
            future._bench_depth = ended
            return future

        def traced_result(future_self: Any, timeout: float | None = None) -> Any:
            try:
                return result(future_self, timeout)
            finally:
                if hasattr(future_self, "_bench_depth"):
                    _raise_to(future_self._bench_depth["depth"])

        def mark_setter(future_self: Any) -> None:
            # A pool task's future carries its own end depth (traced_submit); any other future
            # carries the depth of the thread that set it.
            if not hasattr(future_self, "_bench_depth"):
                future_self._bench_depth = {"depth": _current()}

        def traced_set_result(future_self: Any, value: Any) -> None:
            mark_setter(future_self)
            set_result(future_self, value)

        def traced_set_exception(future_self: Any, exception: Any) -> None:
            mark_setter(future_self)
            set_exception(future_self, exception)

        def traced_call(client_self: Any, operation_name: str, api_params: Any) -> Any:
            operation = f"{client_self.meta.service_model.service_name}:{operation_name}"
            depth, chain = _current()
            reached = (depth + 1, (*chain, operation))
            try:
                return make_api_call(client_self, operation_name, api_params)
            finally:
                _raise_to(reached)
                with lock:
                    records.append((operation, *reached))

        pool.submit = traced_submit
        future_class.result = traced_result
        future_class.set_result = traced_set_result
        future_class.set_exception = traced_set_exception
        client_class._make_api_call = traced_call
        return self

    def uninstall(self) -> None:
        for name, (owner, original) in self._originals.items():
            setattr(owner, name, original)
        self._originals = {}
        _depth.value = (0, ())

    def __enter__(self) -> DepthTracer:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
