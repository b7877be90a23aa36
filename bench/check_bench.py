"""`kmsdoctor check` at the size of a real smoke test: 50 expectations over 10 principals and
three prefixes of 1,000 objects (issue 11).

Setup, all on 127.0.0.1: a moto server holds a data lake (account A: one bucket, two keys;
prefixes `p0/` under the curated key, `p1/` under the finance key, `p2/` half and half;
account B: ten roles), and a `DelayProxy` adds DELAY_S to every request. The real CLI runs as
a subprocess, `kmsdoctor check bench.toml --no-probe` (and with the probe), with
`AWS_ENDPOINT_URL` at the proxy.

Reported:
- calls: requests the proxy forwarded, against objects + distinct keys + principals (each fact
  read once: a head per object, a key's policy once for its 1,000+ objects, a role once for all
  its expectations), and what the rest are;
- analysis CPU per (principal, object) pair: the answers of every expectation, timed in a fresh
  process (first sight: nothing memoised yet), divided by the pairs answered;
- AWS phase (first request to last response) against DELAY_S x dependency depth (the longest
  chain of dependent calls, counted as in diagnose_bench): the target is <= 1.5.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.delay_proxy import DelayProxy
from bench.diagnose_bench import (
    DELAY_S,
    ROOT,
    Measurement,
    _depth_records,
    _longest_chain,
    _run_cli,
)

A = "111111111111"
B = "222222222222"
BUCKET = "datalake-bench-a"
ROLES = [f"LakeRole{n:02}" for n in range(10)]
PREFIXES = ["p0/", "p1/", "p2/"]
OBJECTS_PER_PREFIX = 1000
EXPECTATIONS = 50
RUNS = 3  # each run answers 50,000 (principal, object) pairs: fewer runs than diagnose_bench

_CPU_SCRIPT = """
import json, sys
from kmsdoctor.check import load_check_file
from kmsdoctor.check.run import run_check_timed
checks = load_check_file(sys.argv[1])
print(json.dumps(run_check_timed(checks)))
"""


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

    objects = []
    for prefix in PREFIXES:
        for n in range(OBJECTS_PER_PREFIX):
            key = "curated" if prefix == "p0/" or (prefix == "p2/" and n % 2) else "finance"
            objects.append(
                {
                    "key": f"{prefix}part-{n:05}.parquet",
                    "body": "x",
                    "sse_algorithm": "aws:kms",
                    "kms_key": f"{{{{key_arn:{key}}}}}",
                    "bucket_key_enabled": False,
                }
            )
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
            "objects": objects,
        },
        "target": {
            "roles": {name: {"inline": {"Lake": role_policy}} for name in ROLES},
            "caller": ROLES[0],
        },
        "command": {"key": "p0/part-00000.parquet", "role_arns": [], "operation": "read"},
    }


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


def measure(mode: str, args: list[str], env: dict[str, str], proxy: DelayProxy) -> Measurement:
    """As diagnose_bench.measure, with RUNS runs (median) and one instrumented run for depth."""
    import statistics

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


def _cpu_per_pair(env: dict[str, str], path: Path) -> dict[str, Any]:
    """The answer stage timed inside one fresh kmsdoctor process."""
    process = subprocess.run(
        [sys.executable, "-c", _CPU_SCRIPT, str(path)],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if process.returncode != 0:
        raise RuntimeError(process.stderr.strip()[-2000:])
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    from moto.server import ThreadedMotoServer

    from moto_fixtures.builder import LEAKY_ENV, build_scenario
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
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
            box = build_scenario(scenario(), Path(workdir))
            checks = Path(workdir, "bench.toml")
            checks.write_text(check_file(), encoding="utf-8")
            args = ["check", str(checks), "--format", "json", "--no-probe"]
            with DelayProxy(moto_url, DELAY_S) as proxy:
                env = {**box.env, "AWS_ENDPOINT_URL": proxy.url}
                # moto builds each account's defaults on first use: not AWS latency.
                _run_cli(args, {**env, "AWS_ENDPOINT_URL": moto_url}, proxy)
                objects = len(PREFIXES) * OBJECTS_PER_PREFIX
                floor = objects + 2 + len(ROLES)
                print(
                    f"{EXPECTATIONS} expectations, {len(ROLES)} principals, {len(PREFIXES)} "
                    f"prefixes x {OBJECTS_PER_PREFIX} objects; {DELAY_S * 1000:.0f} ms added "
                    "to every AWS request"
                )
                for mode, mode_args in (
                    ("check --no-probe", args),
                    ("check (with probe)", args[:-1]),
                ):
                    measured = measure(mode, mode_args, env, proxy)
                    run = _run_cli(mode_args, env, proxy)
                    by_operation = Counter(request.operation for request in run.requests)
                    idle = run.idle_s
                    print(f"{mode}:")
                    print(
                        f"  AWS calls            {measured.calls}   objects + keys + principals "
                        f"= {floor}  ({measured.calls / floor:.2f}x)"
                    )
                    common = ", ".join(f"{op} {n}" for op, n in by_operation.most_common(8))
                    print(f"    by operation       {common}")
                    print(f"  wall (process)       {measured.wall_s * 1000:7.0f} ms")
                    print(f"  AWS phase            {measured.aws_phase_s * 1000:7.0f} ms")
                    print(f"    of which idle      {idle * 1000:7.0f} ms   no request in flight")
                    print(
                        f"  dependency depth     {measured.depth}   "
                        f"({' -> '.join(measured.longest_chain)})"
                    )
                    print(
                        f"  ratio                {measured.ratio(measured.aws_phase_s):7.2f}     "
                        "AWS phase / (delay x depth), target <= 1.5"
                    )
            timed = _cpu_per_pair({**box.env, "AWS_ENDPOINT_URL": moto_url}, checks)
            print("analysis (fresh process, first sight):")
            print(f"  (principal, object) pairs answered  {timed['pairs']}")
            print(f"  answer CPU                          {timed['cpu_s'] * 1000:7.0f} ms")
            per_pair_ms = timed["cpu_s"] / timed["pairs"] * 1000
            print(f"  per pair                            {per_pair_ms:7.3f} ms   target <= 0.2 ms")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
