"""Start-up cost: `kmsdoctor --version`, `--help` and `explain` next to `import boto3`.

None of them may import boto3 (nor pydantic, see kmsdoctor/plain_options.py); this shows what
that buys in wall time, as a ratio to `import boto3` measured in the same run. The start-up of
`diagnose` to its first AWS request is in diagnose_bench.py.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7
BARE_S3_DENIAL = (
    "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied"
)


def _wall_time(argv: list[str], stdin: str | None = None) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    from bench.sandbox import compile_kmsdoctor

    compile_kmsdoctor()  # as installed: bytecode, not source compiled on every start
    python = sys.executable
    help_time = _wall_time([python, "-m", "kmsdoctor", "--help"])
    explain_time = _wall_time(
        [python, "-m", "kmsdoctor", "explain", "-"],
        stdin="An error occurred (AccessDenied) when calling the GetObject operation: "
        "Access Denied",
    )
    version_time = _wall_time([python, "-m", "kmsdoctor", "--version"])
    boto3_time = _wall_time([python, "-c", "import boto3"])
    bare_time = _wall_time([python, "-c", "pass"])
    print(f"python -c pass            {bare_time * 1000:7.0f} ms (median of {RUNS})")
    print(f"python -c 'import boto3'  {boto3_time * 1000:7.0f} ms")
    for name, seconds in (
        ("kmsdoctor --version", version_time),
        ("kmsdoctor --help", help_time),
        ("kmsdoctor explain", explain_time),
    ):
        print(f"{name:<25} {seconds * 1000:7.0f} ms   {seconds / boto3_time:4.2f}x import boto3")


if __name__ == "__main__":
    main()
