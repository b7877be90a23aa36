"""A diagnosis against slow AWS: does it cost its longest chain of dependent calls, or their sum?

Setup, all on 127.0.0.1: a moto server holds the demo scenario (built straight into it), and a
`DelayProxy` in front of it adds DELAY_S to every request, standing in for the round trip to the
AWS API. The real CLI runs as a subprocess, `kmsdoctor diagnose --no-probe` (and with the probe
when the build has one), with `AWS_ENDPOINT_URL` pointing at the proxy, as a user would run it.

Reported, per mode (median of RUNS):
- calls: requests the proxy forwarded;
- wall: the whole process, start to exit (Python start-up, imports and client set-up included);
- AWS phase: first request in to last response out, as the proxy saw it;
- depth: the longest chain of dependent calls, counted by instrumenting one extra run (below);
- ratio = AWS phase / (DELAY_S x depth): 1.0 is a perfectly concurrent collection, the target
  is <= 1.5; the process-wall ratio is printed too (start-up is fixed cost, not concurrency).

How depth is counted. A sitecustomize in the instrumented run gives every thread a "depth":
each AWS API call (each page and retry included, as botocore sends them) gets the calling
thread's depth + 1 and raises the thread to it; a task submitted to a thread pool starts at its
submitter's depth, and `Future.result()` raises the waiting thread to the depth the task ended
at. So a call's depth is 1 + the longest chain of calls whose answers the code had in hand when
it made it — the collector's real dependency structure, including any accidental serialisation
(two independent calls made one after the other by one thread count as a chain of two). The
instrumented run's wall time is not used.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.delay_proxy import DelayProxy, ProxiedRequest
from bench.depth import DepthTracer

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "key-policy-missing-principal"  # the demo: the BI role missing from the key policy
DELAY_S = 0.1
RUNS = 5
DEPTH_FILE_ENV = "KMSDOCTOR_BENCH_DEPTH_FILE"


# --- depth instrumentation (runs inside the instrumented kmsdoctor process) -------------------


def install_depth_tracer(output: str) -> None:
    """Trace every AWS call's dependency depth (bench/depth.py) and write the records to
    `output` as JSON at exit. Called from a generated sitecustomize."""
    import atexit

    tracer = DepthTracer().install()

    def write() -> None:
        Path(output).write_text(json.dumps(tracer.records), encoding="utf-8")

    atexit.register(write)


_SITECUSTOMIZE = """
import os
from bench.diagnose_bench import install_depth_tracer
install_depth_tracer(os.environ["{env}"])
"""


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    exit_code: int
    started: float  # time.monotonic() when the process was started
    wall_s: float
    requests: list[ProxiedRequest]

    @property
    def first_request_s(self) -> float:
        """Process start to the first AWS request: start-up, imports, sessions, clients."""
        return min(r.started for r in self.requests) - self.started

    @property
    def after_last_response_s(self) -> float:
        """Last AWS response to process exit: analysis, report, interpreter teardown."""
        return self.started + self.wall_s - max(r.ended for r in self.requests)

    @property
    def idle_s(self) -> float:
        """Time inside the AWS phase with no request in flight: the tool computing or setting
        up (e.g. clients for a later stage) while nothing waits on AWS."""
        idle, busy_until = 0.0, None
        for request in sorted(self.requests, key=lambda r: r.started):
            if busy_until is not None and request.started > busy_until:
                idle += request.started - busy_until
            busy_until = request.ended if busy_until is None else max(busy_until, request.ended)
        return idle

    @property
    def aws_phase_s(self) -> float:
        return max(r.ended for r in self.requests) - min(r.started for r in self.requests)


@dataclass(frozen=True)
class Measurement:
    mode: str
    calls: int
    wall_s: float
    aws_phase_s: float
    depth: int
    first_request_s: float
    after_last_response_s: float
    idle_s: float
    longest_chain: list[str]

    def ratio(self, seconds: float) -> float:
        return seconds / (DELAY_S * self.depth)


def _run_cli(args: list[str], env: dict[str, str], proxy: DelayProxy) -> Run:
    proxy.clear()
    started = time.monotonic()  # the proxy's clock
    process = subprocess.run(
        [sys.executable, "-m", "kmsdoctor", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    wall = time.monotonic() - started
    if process.returncode not in (0, 1, 3):
        raise RuntimeError(f"kmsdoctor {' '.join(args)} failed: {process.stderr.strip()}")
    return Run(process.returncode, started, wall, list(proxy.requests))


def _depth_records(args: list[str], env: dict[str, str], proxy: DelayProxy) -> list[list[Any]]:
    """[operation, depth, chain] of every call of one instrumented run."""
    with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
        site = Path(workdir, "site")
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            _SITECUSTOMIZE.format(env=DEPTH_FILE_ENV), encoding="utf-8"
        )
        output = Path(workdir, "depth.json")
        traced_env = {
            **env,
            DEPTH_FILE_ENV: str(output),
            "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")]),
        }
        _run_cli(args, traced_env, proxy)
        return json.loads(output.read_text(encoding="utf-8"))


def _longest_chain(records: list[list[Any]]) -> list[str]:
    """The calls, in order, along one of the longest chains."""
    return list(max(records, key=lambda record: record[1])[2])


def measure(mode: str, args: list[str], env: dict[str, str], proxy: DelayProxy) -> Measurement:
    records = _depth_records(args, env, proxy)
    runs = [_run_cli(args, env, proxy) for _ in range(RUNS)]
    calls = Counter(len(run.requests) for run in runs).most_common(1)[0][0]
    return Measurement(
        mode=mode,
        calls=calls,
        wall_s=statistics.median(run.wall_s for run in runs),
        aws_phase_s=statistics.median(run.aws_phase_s for run in runs),
        depth=max(record[1] for record in records),
        first_request_s=statistics.median(run.first_request_s for run in runs),
        after_last_response_s=statistics.median(run.after_last_response_s for run in runs),
        idle_s=statistics.median(run.idle_s for run in runs),
        longest_chain=_longest_chain(records),
    )


# Issue #13's targets, against `import boto3` timed in the same run (the machine's speed cancels).
FIRST_REQUEST_TARGET = 2.0  # first AWS request at most 2x `python -c "import boto3"`
AFTER_LAST_RESPONSE_TARGET_S = 0.100  # last response to process exit


def import_boto3_s() -> float:
    """Median wall time of `python -c "import boto3"`: the floor of any boto3 tool's start-up."""
    samples = []
    for _ in range(RUNS):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import boto3"], check=True, cwd=ROOT)
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def _report_startup_and_exit(m: Measurement, boto3_s: float) -> None:
    ratio = m.first_request_s / boto3_s
    print(
        f"  start-up ratio       {ratio:7.2f}x    first AWS request / `import boto3` "
        f"({boto3_s * 1000:.0f} ms this run), target <= {FIRST_REQUEST_TARGET:.0f}x"
    )
    print(
        f"  last response->exit  {m.after_last_response_s * 1000:7.0f} ms   "
        f"target <= {AFTER_LAST_RESPONSE_TARGET_S * 1000:.0f} ms"
    )


def _report(m: Measurement) -> None:
    print(f"{m.mode}:")
    print(f"  AWS calls            {m.calls}")
    print(f"  wall (process)       {m.wall_s * 1000:7.0f} ms   median of {RUNS}")
    print(f"  first AWS request at {m.first_request_s * 1000:7.0f} ms   start-up, imports, clients")
    print(f"  AWS phase            {m.aws_phase_s * 1000:7.0f} ms   first request to last response")
    print(f"    of which idle      {m.idle_s * 1000:7.0f} ms   no request in flight")
    print(
        f"  then to exit         {m.after_last_response_s * 1000:7.0f} ms   analysis, report, exit"
    )
    print(f"  dependency depth     {m.depth}   ({' -> '.join(m.longest_chain)})")
    print(f"  sum of all calls     {m.calls * DELAY_S * 1000:7.0f} ms   if made one after another")
    print(
        f"  ratio                {m.ratio(m.aws_phase_s):7.2f}     AWS phase / (delay x depth), "
        "target <= 1.5"
    )
    print(f"  ratio (process wall) {m.ratio(m.wall_s):7.2f}     incl. start-up and client set-up")


def _probe_available() -> bool:
    probe = ROOT / "kmsdoctor" / "probe" / "__init__.py"
    return probe.exists()


def main() -> None:
    from moto.server import ThreadedMotoServer

    from moto_fixtures.builder import LEAKY_ENV, build_scenario, load_scenario
    from moto_fixtures.sandbox import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    saved_env = dict(os.environ)
    try:
        host, port = server.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        for variable in LEAKY_ENV:
            os.environ.pop(variable, None)
        os.environ["AWS_ENDPOINT_URL"] = moto_url  # the builder writes straight into moto
        with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
            box = build_scenario(load_scenario(SCENARIO), Path(workdir))
            with DelayProxy(moto_url, DELAY_S) as proxy:
                env = {**box.env, "AWS_ENDPOINT_URL": proxy.url}
                # moto builds each account's EC2 and IAM defaults on first use: not AWS latency.
                _run_cli(
                    box.cli_args("diagnose", "--no-probe"),
                    {**env, "AWS_ENDPOINT_URL": moto_url},
                    proxy,
                )
                print(f"scenario {SCENARIO}; {DELAY_S * 1000:.0f} ms added to every AWS request")
                modes = [("diagnose --no-probe", box.cli_args("diagnose", "--no-probe"))]
                if _probe_available():
                    modes.append(("diagnose (with probe)", box.cli_args("diagnose")))
                boto3_s = import_boto3_s()
                for mode, args in modes:
                    measurement = measure(mode, args, env, proxy)
                    _report(measurement)
                    _report_startup_and_exit(measurement, boto3_s)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
