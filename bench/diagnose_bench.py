"""A diagnosis against slow AWS: does it cost its longest chain of dependent calls, or their sum?

Setup, all on 127.0.0.1 (bench/sandbox.py): a moto server in a process of its own holds the demo
scenario, and a `DelayProxy` in front of it adds DELAY_S to every request, standing in for the
round trip to the AWS API. The real CLI runs as a subprocess, `kmsdoctor diagnose --no-probe`
(and with the probe when the build has one), with `AWS_ENDPOINT_URL` pointing at the proxy, as a
user would run it.

Reported, per mode (median of RUNS):
- calls: requests the proxy forwarded;
- wall: the whole process, start to exit (Python start-up, imports and client set-up included);
- AWS phase: first request in to last response out, as the proxy saw it;
- depth: the longest chain of dependent calls, counted by instrumenting one extra run (below);
- ratio = AWS phase / (DELAY_S x depth): 1.0 is a perfectly concurrent collection, the target
  is <= 1.5; the process-wall ratio is printed too (start-up is fixed cost, not concurrency).

How depth is counted (bench/measure.py, bench/depth.py). A sitecustomize in the instrumented run
gives every thread a "depth":
each AWS API call (each page and retry included, as botocore sends them) gets the calling
thread's depth + 1 and raises the thread to it; a task submitted to a thread pool starts at its
submitter's depth, and `Future.result()` raises the waiting thread to the depth the task ended
at. So a call's depth is 1 + the longest chain of calls whose answers the code had in hand when
it made it — the collector's real dependency structure, including any accidental serialisation
(two independent calls made one after the other by one thread count as a chain of two). The
instrumented run's wall time is not used.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.measure import Measurement, load_line, measure
from bench.sandbox import DELAY_S, ROOT, BenchSandbox

SCENARIO = "key-policy-missing-principal"  # the demo: the BI role missing from the key policy
RUNS = 5


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
    print(f"  wall (process)       {m.wall_s * 1000:7.0f} ms   median of {m.runs}")
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
    from moto_fixtures.builder import load_scenario

    with BenchSandbox(scenario=load_scenario(SCENARIO)) as sandbox:
        args = sandbox.built["cli_args"]  # diagnose with the scenario's bucket, key, profiles
        sandbox.warm([*args, "--no-probe"])
        print(f"scenario {SCENARIO}; {DELAY_S * 1000:.0f} ms added to every AWS request")
        print(f"  {load_line()}")
        modes = [("diagnose --no-probe", [*args, "--no-probe"])]
        if _probe_available():
            modes.append(("diagnose (with probe)", args))
        boto3_s = import_boto3_s()
        for mode, mode_args in modes:
            measurement = measure(sandbox, mode, mode_args, RUNS)
            _report(measurement)
            _report_startup_and_exit(measurement, boto3_s)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
