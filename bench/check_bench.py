"""`kmsdoctor check` at the size of a real smoke test: 50 expectations over 10 principals and
three prefixes of 1,000 objects (issue 11).

Setup, all on 127.0.0.1 (bench/sandbox.py): a moto server in a process of its own holds a data
lake (account A: one bucket, two keys; prefixes `p0/` under the curated key, `p1/` under the
finance key, `p2/` half and half, the 3,000 objects written straight into moto's backend;
account B: ten roles), and a `DelayProxy` adds DELAY_S to every request. The real CLI runs as
a subprocess, `kmsdoctor check bench.toml --no-probe` (and with the probe), with
`AWS_ENDPOINT_URL` at the proxy.

Reported (issue 11's targets beside each):
- calls: requests the proxy forwarded, against objects + distinct keys + principals (each fact
  read once: a head per object, a key's policy once for its 1,000+ objects, a role once for all
  its expectations), and what the rest are;
- facts read more than once: the same call, same parameters, same identity (bench/measure.py);
- AWS phase (first request to last response) against 1.5 x its critical path at the chosen
  concurrency, (calls / the planner's S3 limit + dependency depth) x DELAY_S, as for many objects
  (issue 10); the CPU each request cost kmsdoctor and moto, and the floor that sets on this
  machine;
- analysis CPU per (principal, object) pair: the answers of every expectation, timed inside the
  --no-probe run (a fresh process: first sight, nothing memoised yet), divided by the pairs
  answered; target <= 0.2 ms.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import Measurement, cpu_lines, load_line, measure
from bench.sandbox import DELAY_S, ROOT, BenchSandbox

A = "111111111111"
B = "222222222222"
BUCKET = "datalake-bench-a"
ROLES = [f"LakeRole{n:02}" for n in range(10)]
PREFIXES = ["p0/", "p1/", "p2/"]
OBJECTS_PER_PREFIX = 1000
EXPECTATIONS = 50
# Each run makes 3,000+ requests and answers 50,000 (principal, object) pairs: once per mode, the
# instrumented run's own timings are the figures.
RUNS = 0


def scenario() -> dict[str, Any]:
    """The lake: every role may read p0/ (curated key); only half of them p1/ (finance key)."""
    readers = [f"arn:aws:iam::{B}:role/{name}" for name in ROLES]
    finance_readers = readers[::2]

    def key_policy(principals: list[str]) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EnableRootOfAccountA",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "LakeRoles",
                    "Effect": "Allow",
                    "Principal": {"AWS": principals},
                    "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                    "Resource": "*",
                },
            ],
        }

    role_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Lake",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            },
            {
                "Sid": "LakeKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": ["{{key_arn:curated}}", "{{key_arn:finance}}"],
            },
        ],
    }
    return {
        "description": "bench: a lake of 3,000 objects, two keys, ten roles",
        "region": "eu-west-1",
        "accounts": {"source": A, "target": B},
        "source": {
            "bucket": {
                "name": BUCKET,
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "LakeRoles",
                            "Effect": "Allow",
                            "Principal": {"AWS": readers},
                            "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                        }
                    ],
                },
                "encryption": {
                    "sse_algorithm": "aws:kms",
                    "kms_key": "{{key_arn:curated}}",
                    "bucket_key_enabled": False,
                },
                "ownership": "BucketOwnerEnforced",
            },
            "keys": {
                "curated": {"description": "curated", "policy": key_policy(readers)},
                "finance": {"description": "finance", "policy": key_policy(finance_readers)},
            },
            "objects": [],  # bulk_objects(): written straight into moto
        },
        "target": {
            "roles": {name: {"inline": {"Lake": role_policy}} for name in ROLES},
            "caller": ROLES[0],
        },
        "command": {"key": "p0/part-00000.parquet", "role_arns": [], "operation": "read"},
    }


def bulk_objects() -> list[tuple[str, str]]:
    """(object key, key name): p0/ curated, p1/ finance, p2/ alternating."""
    objects = []
    for prefix in PREFIXES:
        for n in range(OBJECTS_PER_PREFIX):
            key = "curated" if prefix == "p0/" or (prefix == "p2/" and n % 2) else "finance"
            objects.append((f"{prefix}part-{n:05}.parquet", key))
    return objects


def check_file() -> str:
    """50 expectations: each role reads each prefix (30), and writes p0/ and p2/ (20)."""
    lines = [
        'region = "eu-west-1"',
        "",
        "[accounts]",
        f'"{A}" = "a"',
        f'"{B}" = "b"',
    ]
    expectations: list[tuple[str, str, str, str]] = []
    for index, role in enumerate(ROLES):
        for prefix in PREFIXES:
            allowed = prefix == "p0/" or index % 2 == 0
            expectations.append((role, prefix, "read", "allow" if allowed else "deny"))
        for prefix in ("p0/", "p2/"):
            expectations.append((role, prefix, "write", "allow"))
    assert len(expectations) == EXPECTATIONS
    for role, prefix, operation, access in expectations:
        lines += [
            "",
            "[[expect]]",
            f'principal = "arn:aws:iam::{B}:role/{role}"',
            f'bucket = "{BUCKET}"',
            f'prefix = "{prefix}"',
            f'operation = "{operation}"',
            f'access = "{access}"',
        ]
    return "\n".join(lines) + "\n"


def _report(m: Measurement, floor: int) -> None:
    from kmsdoctor.collect.plan import SERVICE_LIMITS

    concurrency = SERVICE_LIMITS["s3"]
    critical = (m.calls / concurrency + m.depth) * DELAY_S
    print(f"{m.mode}:")
    print(
        f"  AWS calls            {m.calls}   target close to objects + keys + principals "
        f"= {floor}  ({m.calls / floor:.3f}x)"
    )
    common = ", ".join(f"{op} {n}" for op, n in m.by_operation.most_common(8))
    print(f"    by operation       {common}")
    repeated = m.trace.repeated
    print(
        f"  facts read twice     {len(repeated)}   ({m.trace.repeated_calls} calls beyond the "
        f"first; target 0) {', '.join(repeated[:6])}".rstrip()
    )
    print(f"  requests in flight   at most {m.most_in_flight}   (planner's S3 limit {concurrency})")
    print(f"  dependency depth     {m.depth}   ({' -> '.join(m.longest_chain)})")
    print(f"  wall (process)       {m.wall_s * 1000:7.0f} ms   median of {m.runs} run(s)")
    print(f"  AWS phase            {m.aws_phase_s * 1000:7.0f} ms")
    print(f"    of which idle      {m.idle_s * 1000:7.0f} ms   no request in flight")
    print(
        f"  critical path        {critical * 1000:7.0f} ms   (calls / {concurrency} + depth) x "
        f"{DELAY_S * 1000:.0f} ms"
    )
    print(
        f"  ratio                {m.aws_phase_s / critical:7.2f}     AWS phase / critical path, "
        "target <= 1.5"
    )
    # With the probe, its calls come after the analysis: the gap counts in the AWS phase.
    busy = m.aws_phase_s - m.idle_s
    print(
        f"  ratio (busy)         {busy / critical:7.2f}     (AWS phase - idle) / critical path: "
        "the collection and probe calls alone"
    )
    for line in cpu_lines(m):
        print(line)


def main() -> None:
    with (
        BenchSandbox(scenario=scenario(), bulk_objects=bulk_objects()) as sandbox,
        tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir,
    ):
        checks = Path(workdir, "bench.toml")
        checks.write_text(check_file(), encoding="utf-8")
        args = ["check", str(checks), "--format", "json", "--no-probe"]
        # moto's per-account defaults, made by one cheap diagnosis rather than a whole check.
        sandbox.warm([*sandbox.built["cli_args"], "--no-probe"])
        objects = len(PREFIXES) * OBJECTS_PER_PREFIX
        floor = objects + 2 + len(ROLES)
        print(
            f"{EXPECTATIONS} expectations, {len(ROLES)} principals, {len(PREFIXES)} "
            f"prefixes x {OBJECTS_PER_PREFIX} objects; {DELAY_S * 1000:.0f} ms added "
            "to every AWS request"
        )
        print(f"  {load_line()}")
        measured = measure(sandbox, "check --no-probe", args, RUNS, check_timings=True)
        _report(measured, floor)
        _report(measure(sandbox, "check (with probe)", args[:-1], RUNS), floor)
        timed = measured.trace.check_timings
        print("analysis (the --no-probe run: a fresh process, first sight):")
        print(f"  (principal, object) pairs answered  {timed['pairs']:.0f}")
        print(f"  answer CPU                          {timed['cpu_s'] * 1000:7.0f} ms")
        per_pair_ms = timed["cpu_s"] / timed["pairs"] * 1000
        print(f"  per pair                            {per_pair_ms:7.3f} ms   target <= 0.2 ms")
        print(f"  {load_line()}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
