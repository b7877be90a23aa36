"""`kmsdoctor pipeline` against slow AWS: a pipeline of 5 stages and 4 accounts (issue 12).

The reference-000 pipeline (moto_fixtures/pipeline.py: tooling owns the pipeline, build project,
bucket and key; dev, staging and prod each hold a deploy role and a CloudFormation execution
role) is built in a moto server process of its own (bench/sandbox.py: the builder's in-process
tweaks of moto's backends apply there); a `DelayProxy` adds DELAY_S to every request. The real
CLI runs as a subprocess, `kmsdoctor pipeline --no-probe`, reading all four accounts.

Reported beside issue 12's targets (median of RUNS, as bench/diagnose_bench.py measures them):
the AWS calls, the AWS phase against 1.5 x dependency depth x DELAY_S, and every fact read once
(the same operation with the same parameters, as the same identity, counted by the instrumented
run, bench/measure.py).
"""

from __future__ import annotations

import sys

from bench.diagnose_bench import _report
from bench.measure import cpu_lines, load_line, measure
from bench.sandbox import DELAY_S, ROOT, BenchSandbox

RUNS = 5


def main() -> None:
    from moto_fixtures.pipeline import PIPELINE

    with BenchSandbox(pipeline="healthy-cross-account-pipeline") as sandbox:
        args = [
            "pipeline", "--source-profile", "tooling", "--name", PIPELINE,
            *sandbox.built["profiles"], "--no-probe", "--format", "json",
        ]  # fmt: skip
        sandbox.warm(args)
        print(
            f"pipeline {PIPELINE}: 5 stages, 4 accounts; "
            f"{DELAY_S * 1000:.0f} ms added to every AWS request"
        )
        print(f"  {load_line()}")
        measured = measure(sandbox, "pipeline --no-probe", args, RUNS)
        _report(measured)
        bound = 1.5 * measured.depth * DELAY_S
        verdict = "within" if measured.aws_phase_s <= bound else "above"
        print(
            f"  target               {bound * 1000:7.0f} ms   1.5 x depth x "
            f"{DELAY_S * 1000:.0f} ms: the AWS phase is {verdict} it"
        )
        repeated = measured.trace.repeated
        print(
            f"  facts read twice     {len(repeated)}   ({measured.trace.repeated_calls} calls "
            f"beyond the first; target 0) {', '.join(repeated)}".rstrip()
        )
        for line in cpu_lines(measured):
            print(line)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
