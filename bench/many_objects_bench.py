"""Many objects: one prefix of OBJECTS objects under one KMS key, asked for PRINCIPALS principals.

The collection planner reads each fact once: the key policy once for every object, each object's
head once for every principal. Setup (bench/sandbox.py): the demo scenario in a moto server
process of its own, OBJECTS objects under `many/` encrypted with its key (written straight into
moto's backend), PRINCIPALS roles in B sharing one managed policy, and a `DelayProxy` adding
DELAY_S to every request. `collect_facts` runs in a child process of its own (no command asks
prefix questions yet), with the dependency depth traced (bench/depth.py).

Reported: calls (target: at most OBJECTS heads plus a constant, not x PRINCIPALS), heads, the
dependency depth, and the AWS phase against 1.5 x (calls / concurrency + depth) x DELAY_S, where
concurrency is the planner's S3 limit (the heads dominate). That bound assumes the service answers
requests in parallel, as AWS does; the local moto server is one Python process (one GIL), so the
bench also prints moto's own time per HeadObject, asked straight from it one at a time and
CONCURRENCY at a time, and the time per request the run was actually served (AWS phase / calls):
when the latter is close to moto's concurrent figure, moto, not kmsdoctor, sets the pace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

from bench.depth import DepthTracer
from bench.measure import load_line
from bench.sandbox import DELAY_S, ROOT, BenchSandbox, most_in_flight, progress

SCENARIO = "key-policy-missing-principal"
OBJECTS = 1000
PRINCIPALS = 4
PREFIX = "many/"
B = "222222222222"


def populate(box) -> list[str]:
    """In the moto server process (bench/sandbox.py): PRINCIPALS roles in B sharing one managed
    policy. Returns their ARNs."""
    import boto3

    iam = boto3.Session(profile_name="b", region_name=box.region).client("iam")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}
        ],
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    policy = iam.create_policy(PolicyName="PipelineArtifacts", PolicyDocument=json.dumps(document))
    arns = []
    for index in range(PRINCIPALS):
        name = f"PipelineStage{index}"
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
        arns.append(role["Role"]["Arn"])
    return arns


def _moto_head_ms(sandbox: BenchSandbox, bucket: str, threads: int, requests: int) -> float:
    """Moto's time per HeadObject asked straight from it (no proxy, no delay), `threads` at a
    time: wall time / requests. One at a time it is moto's (and boto3's) serial cost; at the
    planner's concurrency, the best any client can be served by this one moto process."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import botocore.session

    env = sandbox.direct_env
    core = botocore.session.Session()
    core.set_config_variable("config_file", env["AWS_CONFIG_FILE"])
    core.set_config_variable("credentials_file", env["AWS_SHARED_CREDENTIALS_FILE"])
    session = boto3.Session(
        botocore_session=core, profile_name="a", region_name=sandbox.built["region"]
    )
    clients = [session.client("s3", endpoint_url=sandbox.moto_url) for _ in range(max(1, threads))]
    for client in clients:  # connections and caches warm
        client.head_object(Bucket=bucket, Key=f"{PREFIX}00000.parquet")

    def head(index: int) -> None:
        clients[index % len(clients)].head_object(
            Bucket=bucket, Key=f"{PREFIX}{index % OBJECTS:05d}.parquet"
        )

    started = time.monotonic()
    if threads <= 1:
        for index in range(requests):
            head(index)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(head, range(requests)))
    return (time.monotonic() - started) / requests * 1000


def collect_in_child(plan_json: str) -> None:
    """The child: collect_facts for the plan, traced; prints {depth, chain, seconds}."""
    import gc

    from kmsdoctor.cli import _GC_THRESHOLDS
    from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
    from kmsdoctor.questions import Question

    gc.set_threshold(*_GC_THRESHOLDS)  # as the CLI runs (kmsdoctor/cli.py main)
    raw = json.loads(plan_json)
    plan = CollectionPlan(
        [Question(**q) for q in raw["questions"]],
        region=raw["region"],
        pair=ProfilePair("a", "b"),
    )
    tracer = DepthTracer().install()
    started, cpu_started = time.monotonic(), time.process_time()
    collect_facts(plan)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    tracer.uninstall()
    print(
        json.dumps(
            {"depth": tracer.depth, "chain": tracer.longest_chain, "seconds": elapsed, "cpu": cpu}
        )
    )


def _run_child(questions: list[dict[str, str]], region: str, env: dict[str, str]) -> dict:
    plan = json.dumps({"questions": questions, "region": region})
    process = subprocess.run(
        [sys.executable, "-m", "bench.many_objects_bench", "--collect", plan],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    from kmsdoctor.collect.plan import SERVICE_LIMITS
    from moto_fixtures.builder import load_scenario

    concurrency = SERVICE_LIMITS["s3"]
    objects = [(f"{PREFIX}{index:05d}.parquet", "data") for index in range(OBJECTS)]
    with BenchSandbox(
        scenario=load_scenario(SCENARIO),
        bulk_objects=objects,
        populate="bench.many_objects_bench:populate",
    ) as sandbox:
        assert sandbox.proxy is not None
        bucket, region = sandbox.built["bucket"], sandbox.built["region"]
        questions = [
            {"principal": arn, "bucket": bucket, "prefix": PREFIX} for arn in sandbox.populated
        ]
        _run_child(questions, region, sandbox.direct_env)  # moto's per-account defaults
        progress("collect_facts through the proxy")
        sandbox.proxy.clear()
        load_during = os.getloadavg()[0]
        moto_cpu, proxy_cpu = sandbox.moto_cpu_s(), time.process_time()
        traced = _run_child(questions, region, sandbox.env)
        # This process only ran the proxy meanwhile; the collector ran in its child.
        moto_cpu, proxy_cpu = sandbox.moto_cpu_s() - moto_cpu, time.process_time() - proxy_cpu
        requests = list(sandbox.proxy.requests)
        progress("moto alone, one at a time and concurrently")
        moto_serial_ms = _moto_head_ms(sandbox, bucket, 1, 100)
        moto_concurrent_ms = _moto_head_ms(sandbox, bucket, concurrency, OBJECTS)

    by_operation = Counter(r.operation for r in requests)
    calls = len(requests)
    phase = max(r.ended for r in requests) - min(r.started for r in requests)
    depth = traced["depth"]
    bound = 1.5 * (calls / concurrency + depth) * DELAY_S
    print(
        f"{OBJECTS} objects under one key x {PRINCIPALS} principals; "
        f"{DELAY_S * 1000:.0f} ms added to every AWS request"
    )
    print(f"  {load_line()} (1 min: {load_during:.1f} when the run started)")
    print(f"  AWS calls            {calls}   ({calls - OBJECTS} besides the heads)")
    print(f"  s3:HeadObject        {by_operation['s3:HeadObject']}   target <= {OBJECTS}")
    print(
        f"  kms:GetKeyPolicy     {by_operation['kms:GetKeyPolicy']}   "
        f"iam:GetRole {by_operation['iam:GetRole']}   "
        f"iam:GetPolicyVersion {by_operation['iam:GetPolicyVersion']}"
    )
    most = most_in_flight(requests)
    mean_ms = sum(r.ended - r.started for r in requests) / calls * 1000
    print(
        f"  requests in flight   at most {most}; each took {mean_ms:.0f} ms on average "
        f"({DELAY_S * 1000:.0f} ms of it the added delay, the rest moto and the proxy)"
    )
    print(f"  dependency depth     {depth}   ({' -> '.join(traced['chain'])})")
    print(
        f"  AWS phase            {phase * 1000:7.0f} ms   "
        f"(collect_facts: {traced['seconds'] * 1000:.0f} ms)"
    )
    print(
        f"  bound                {bound * 1000:7.0f} ms   1.5 x (calls / {concurrency} + depth) "
        f"x {DELAY_S * 1000:.0f} ms; ratio {phase / bound * 1.5:.2f} (target <= 1.5)"
    )
    # The bound assumes AWS serves requests in parallel; the local moto server is one Python
    # process (one GIL): its service rate, not kmsdoctor, can set the pace.
    served_ms = phase / calls * 1000
    print(
        f"  moto alone           {moto_serial_ms:5.1f} ms per HeadObject one at a time, "
        f"{moto_concurrent_ms:5.1f} ms at {concurrency} at a time (straight from moto, no proxy; "
        "boto3's time included)"
    )
    print(
        f"  served               {served_ms:5.1f} ms per request through proxy and moto "
        f"(AWS phase / calls); the delay alone at {concurrency} in flight allows "
        f"{DELAY_S * 1000 / concurrency:.1f} ms"
    )
    cores = os.cpu_count() or 1
    per_request = {
        "moto": moto_cpu / calls * 1000,
        "collector": traced["cpu"] / calls * 1000,
        "proxy": proxy_cpu / calls * 1000,
    }
    print(
        "  CPU per request      "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in per_request.items())
        + " (CPU time of each process during the run / calls)"
    )
    moto_floor = calls * per_request["moto"] / 1000 + depth * DELAY_S
    machine_floor = calls * sum(per_request.values()) / 1000 / cores + depth * DELAY_S
    print(
        f"  moto's floor         {moto_floor * 1000:7.0f} ms   calls x moto's CPU per request + "
        "depth x delay: one moto process serves one request at a time (one GIL)"
    )
    print(
        f"  machine's floor      {machine_floor * 1000:7.0f} ms   calls x all three's CPU per "
        f"request / {cores} cores + depth x delay"
    )
    if max(moto_floor, machine_floor) > bound:
        print(
            "  => the bound is below what this machine can serve: moto and the client's own CPU, "
            "not the collection's concurrency, set the pace"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--collect"]:
        collect_in_child(sys.argv[2])
    else:
        main()
