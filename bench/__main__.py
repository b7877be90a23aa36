"""`make bench`: every benchmark of the project, one after another, each printing its numbers.

Benchmarks measure; they never fail a build. Speed is not asserted in the test suite.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

# Each module exposes main() and prints its own results.
BENCHMARKS = [
    "bench.policy_bench",
    "bench.startup_bench",
    "bench.diagnose_bench",
    "bench.many_objects_bench",
    "bench.check_bench",
    "bench.analysis_bench",
    "bench.whocan_bench",
    "bench.pipeline_bench",
]


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def main() -> int:
    started = time.monotonic()
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"{name}: not available ({exc})")
            continue
        print(f"== {name}", flush=True)
        print(f"[{name}: started; {_load()}]", file=sys.stderr, flush=True)
        began = time.monotonic()
        module.main()
        sys.stdout.flush()
        print(f"[{name}: {time.monotonic() - began:.0f} s; {_load()}]", file=sys.stderr, flush=True)
    print(f"== make bench: {time.monotonic() - started:.0f} s in all; {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
