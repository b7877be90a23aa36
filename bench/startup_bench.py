"""Start-up cost: `kmsdoctor --help` and `kmsdoctor explain` next to `import boto3`.

Neither command may import boto3; this shows what that buys in wall time.
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
    python = sys.executable
    help_time = _wall_time([python, "-m", "kmsdoctor", "--help"])
    explain_time = _wall_time(
        [python, "-m", "kmsdoctor", "explain", "-"],
        stdin="An error occurred (AccessDenied) when calling the GetObject operation: "
        "Access Denied",
    )
    boto3_time = _wall_time([python, "-c", "import boto3"])
    bare_time = _wall_time([python, "-c", "pass"])
    print(f"python -c pass            {bare_time * 1000:7.0f} ms (median of {RUNS})")
    print(f"python -c 'import boto3'  {boto3_time * 1000:7.0f} ms")
    print(f"kmsdoctor --help          {help_time * 1000:7.0f} ms")
    print(f"kmsdoctor explain         {explain_time * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
