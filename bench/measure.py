"""Measuring a CLI run against a `BenchSandbox`: the dependency depth and the repeated reads from
one instrumented run, and the timings as the median of plain runs.

The instrumented run gets a generated sitecustomize that installs, inside the kmsdoctor process:
- bench/depth.py's `DepthTracer` (the longest chain of dependent AWS calls);
- a recorder of every AWS call's (operation, parameters, access key): a fact read twice is the
  same operation with the same parameters as the same identity; and, for `check`,
- the answer stage's CPU time and (principal, object) pairs (`run_check`'s `timings`), so the
  analysis CPU is measured in the same fresh process, without a run of its own.
Both are written as JSON at exit. The instrumented run's wall time is not used.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sandbox import DELAY_S, ROOT, BenchSandbox, Run, progress

TRACE_FILE_ENV = "KMSDOCTOR_BENCH_TRACE_FILE"
CHECK_TIMINGS_ENV = "KMSDOCTOR_BENCH_CHECK_TIMINGS"  # set: also time a check's answer stage

_SITECUSTOMIZE = """
import os
from bench.measure import install_tracing
install_tracing(os.environ["{env}"])
"""


def install_tracing(output: str) -> None:
    """Inside the instrumented kmsdoctor process: trace depth and record every call; write
    {"depth": [[operation, depth, chain], ...], "calls": [entry, ...]} to `output` at exit."""
    import atexit
    import threading

    import botocore.client

    from bench.depth import DepthTracer

    calls: list[str] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def recorded(client_self: Any, operation_name: str, api_params: Any) -> Any:
        service = client_self.meta.service_model.service_name
        credentials = client_self._request_signer._credentials
        access_key = credentials.access_key if credentials is not None else ""
        entry = json.dumps(
            [f"{service}:{operation_name}", api_params, access_key], sort_keys=True, default=str
        )
        with lock:
            calls.append(entry)
        return original(client_self, operation_name, api_params)

    # The recorder first, the tracer around it: the tracer sees each call as botocore's.
    botocore.client.BaseClient._make_api_call = recorded
    tracer = DepthTracer().install()

    check_timings: dict[str, float] = {}
    if os.environ.get(CHECK_TIMINGS_ENV):
        import kmsdoctor.check.run as check_run

        run_check = check_run.run_check

        def timed_run_check(checks: Any, options: Any, timings: Any = None) -> Any:
            return run_check(checks, options, check_timings if timings is None else timings)

        check_run.run_check = timed_run_check  # the CLI imports it when the command runs

    def write() -> None:
        Path(output).write_text(
            json.dumps({"depth": tracer.records, "calls": calls, "check": check_timings}),
            encoding="utf-8",
        )

    atexit.register(write)


@dataclass(frozen=True)
class Trace:
    depth: int
    longest_chain: list[str]
    repeated: list[str]  # "kms:GetKeyPolicy x2": calls made more than once, same params, same id
    check_timings: dict[str, float]  # {"cpu_s", "pairs"} of a check's answer stage, if asked

    @property
    def repeated_calls(self) -> int:
        """Calls beyond the first of each fact read more than once."""
        return sum(int(entry.rsplit(" x", 1)[1]) - 1 for entry in self.repeated)


def traced_run(
    sandbox: BenchSandbox,
    args: list[str],
    env: dict[str, str] | None = None,
    check_timings: bool = False,
) -> tuple[Trace, Run]:
    """One instrumented run (through the proxy unless `env` says otherwise). Tracing costs
    microseconds a call, against milliseconds of botocore's own: its timings are usable."""
    with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
        site = Path(workdir, "site")
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            _SITECUSTOMIZE.format(env=TRACE_FILE_ENV), encoding="utf-8"
        )
        output = Path(workdir, "trace.json")
        base = sandbox.env if env is None else env
        traced_env = {
            **base,
            TRACE_FILE_ENV: str(output),
            **({CHECK_TIMINGS_ENV: "1"} if check_timings else {}),
            "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), base.get("PYTHONPATH", "")]),
        }
        run = sandbox.run_cli(args, traced_env)
        recorded = json.loads(output.read_text(encoding="utf-8"))
    records = recorded["depth"]
    deepest = max(records, key=lambda record: record[1])
    counts = Counter(recorded["calls"])
    repeated = [f"{json.loads(entry)[0]} x{n}" for entry, n in counts.items() if n > 1]
    trace = Trace(
        depth=deepest[1],
        longest_chain=list(deepest[2]),
        repeated=repeated,
        check_timings=recorded["check"],
    )
    return trace, run


@dataclass(frozen=True)
class Measurement:
    mode: str
    runs: int
    calls: int
    wall_s: float
    aws_phase_s: float
    first_request_s: float
    after_last_response_s: float
    idle_s: float
    most_in_flight: int
    by_operation: Counter[str]
    trace: Trace
    cli_cpu_s: float  # the CLI process's CPU time (median)
    moto_cpu_s: float  # the moto server's CPU time during a run (median)
    aws_phase_cpu_s: float = 0.0  # the CLI's CPU time within its AWS phase (median)

    @property
    def depth(self) -> int:
        return self.trace.depth

    @property
    def longest_chain(self) -> list[str]:
        return self.trace.longest_chain

    def ratio(self, seconds: float) -> float:
        """Seconds against the dependency depth's worth of delay."""
        return seconds / (DELAY_S * self.depth)


def measure(
    sandbox: BenchSandbox, mode: str, args: list[str], runs: int, check_timings: bool = False
) -> Measurement:
    """One instrumented run (depth, repeats), then `runs` plain runs through the proxy; with
    `runs` 0 the instrumented run's timings are the figures (a long run, made once)."""
    progress(f"{mode}: instrumented run")
    trace, traced = traced_run(sandbox, args, check_timings=check_timings)
    measured: list[Run] = [] if runs else [traced]
    for index in range(runs):
        progress(f"{mode}: run {index + 1} of {runs}")
        measured.append(sandbox.run_cli(args))
    calls = Counter(len(run.requests) for run in measured).most_common(1)[0][0]
    typical = next(run for run in measured if len(run.requests) == calls)
    return Measurement(
        mode=mode,
        runs=len(measured),
        calls=calls,
        wall_s=statistics.median(run.wall_s for run in measured),
        aws_phase_s=statistics.median(run.aws_phase_s for run in measured),
        first_request_s=statistics.median(run.first_request_s for run in measured),
        after_last_response_s=statistics.median(run.after_last_response_s for run in measured),
        idle_s=statistics.median(run.idle_s for run in measured),
        most_in_flight=max(run.most_in_flight for run in measured),
        by_operation=Counter(request.operation for request in typical.requests),
        trace=trace,
        cli_cpu_s=statistics.median(run.cpu_s for run in measured),
        moto_cpu_s=statistics.median(run.moto_cpu_s for run in measured),
        aws_phase_cpu_s=statistics.median(run.aws_phase_cpu_s for run in measured),
    )


def cpu_lines(m: Measurement) -> list[str]:
    """Where the CPU went. One moto process serves one request at a time (one GIL), so calls x
    its CPU per request is a floor on the AWS phase that no client concurrency lowers."""
    moto_ms = m.moto_cpu_s / m.calls * 1000
    floor = m.calls * moto_ms / 1000 + m.depth * DELAY_S
    return [
        f"  CPU                  kmsdoctor {m.cli_cpu_s * 1000:.0f} ms (whole process: start-up, "
        f"collection, analysis), moto {moto_ms:.1f} ms per request (median of {m.runs})",
        f"  moto's floor         {floor * 1000:7.0f} ms   calls x moto's CPU per request + depth "
        "x delay",
        f"  kmsdoctor CPU in the AWS phase {m.aws_phase_cpu_s * 1000:5.0f} ms   "
        f"({m.aws_phase_cpu_s / m.aws_phase_s:.0%} of it; its Python threads run one at a time, "
        "so the phase lasts at least this long)",
    ]


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min); {os.cpu_count()} cores"
