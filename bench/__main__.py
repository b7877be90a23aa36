"""`make bench`: every benchmark of the project, one after another, each printing its numbers.

Benchmarks measure; they never fail a build. Speed is not asserted in the test suite.
"""

from __future__ import annotations

import importlib
import sys

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


def main() -> int:
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"{name}: not available ({exc})")
            continue
        print(f"== {name}")
        module.main()
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
