"""Many objects: one prefix of OBJECTS objects under one KMS key, asked for PRINCIPALS principals.

The collection planner reads each fact once: the key policy once for every object, each object's
head once for every principal. Setup as in diagnose_bench: the demo scenario built into a moto
server, OBJECTS objects under `many/` encrypted with its key, PRINCIPALS roles in B sharing one
managed policy, and a `DelayProxy` adding DELAY_S to every request. `collect_facts` runs in a
child process of its own (no command asks prefix questions yet; moto and the proxy keep this
one busy), with the dependency depth traced (bench/depth.py).

Reported: calls (target: at most OBJECTS heads plus a constant, not x PRINCIPALS), heads, the
dependency depth, and the AWS phase against 1.5 x (calls / concurrency + depth) x DELAY_S, where
concurrency is the planner's S3 limit (the heads dominate). That bound assumes the service answers
requests in parallel, as AWS does; the local moto server is one Python process sharing its GIL
with the proxy, so it also prints moto's own per-request time (measured serially, straight from
moto) and the time per request it actually served (AWS phase / calls).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.delay_proxy import DelayProxy
from bench.depth import DepthTracer

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "key-policy-missing-principal"
OBJECTS = 1000
PRINCIPALS = 4
DELAY_S = 0.1
PREFIX = "many/"
B = "222222222222"


def _populate(box) -> list[str]:
    """OBJECTS objects under PREFIX with the scenario's key; PRINCIPALS roles in B sharing a
    managed policy. Written straight into moto (no delay)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    a = boto3.Session(profile_name="a", region_name=box.region)
    s3 = a.client("s3")

    def put(index: int) -> None:
        s3.put_object(
            Bucket=box.bucket,
            Key=f"{PREFIX}{index:05d}.parquet",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=box.key_arns["data"],
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(OBJECTS)))
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


def _moto_request_ms(box, moto_url: str, samples: int = 100) -> float:
    """Moto's own time for one HeadObject, asked one at a time straight from it (no proxy, no
    delay). The moto server is one Python process: under load it serves roughly one request at a
    time, so calls x this is a floor on the AWS phase that no client concurrency can lower."""
    import boto3

    session = boto3.Session(profile_name="a", region_name=box.region)
    s3 = session.client("s3", endpoint_url=moto_url)
    s3.head_object(Bucket=box.bucket, Key=f"{PREFIX}00000.parquet")  # connection, warm caches
    started = time.monotonic()
    for index in range(samples):
        s3.head_object(Bucket=box.bucket, Key=f"{PREFIX}{index % OBJECTS:05d}.parquet")
    return (time.monotonic() - started) / samples * 1000


def collect_in_child(plan_json: str) -> None:
    """The child: collect_facts for the plan, traced; prints {depth, chain, seconds}."""
    from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
    from kmsdoctor.questions import Question

    raw = json.loads(plan_json)
    plan = CollectionPlan(
        [Question(**q) for q in raw["questions"]],
        region=raw["region"],
        pair=ProfilePair("a", "b"),
    )
    tracer = DepthTracer().install()
    started = time.monotonic()
    collect_facts(plan)
    elapsed = time.monotonic() - started
    tracer.uninstall()
    print(json.dumps({"depth": tracer.depth, "chain": tracer.longest_chain, "seconds": elapsed}))


def _run_child(questions: list[dict[str, str]], region: str) -> dict:
    plan = json.dumps({"questions": questions, "region": region})
    process = subprocess.run(
        [sys.executable, "-m", "bench.many_objects_bench", "--collect", plan],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    from moto.server import ThreadedMotoServer

    from kmsdoctor.collect.plan import SERVICE_LIMITS
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
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
            box = build_scenario(load_scenario(SCENARIO), Path(workdir))
            os.environ.update(box.env_overrides)
            os.environ["AWS_ENDPOINT_URL"] = moto_url
            principals = _populate(box)
            questions = [
                {"principal": arn, "bucket": box.bucket, "prefix": PREFIX} for arn in principals
            ]
            _run_child(questions, box.region)  # moto builds each account's defaults on first use
            with DelayProxy(moto_url, DELAY_S) as proxy:
                os.environ["AWS_ENDPOINT_URL"] = proxy.url
                proxy.clear()
                traced = _run_child(questions, box.region)
                requests = list(proxy.requests)
            moto_ms = _moto_request_ms(box, moto_url)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        server.stop()

    by_operation = Counter(r.operation for r in requests)
    calls = len(requests)
    phase = max(r.ended for r in requests) - min(r.started for r in requests)
    concurrency = SERVICE_LIMITS["s3"]
    depth = traced["depth"]
    bound = 1.5 * (calls / concurrency + depth) * DELAY_S
    print(
        f"{OBJECTS} objects under one key x {PRINCIPALS} principals; "
        f"{DELAY_S * 1000:.0f} ms added to every AWS request"
    )
    print(f"  AWS calls            {calls}   ({calls - OBJECTS} besides the heads)")
    print(f"  s3:HeadObject        {by_operation['s3:HeadObject']}   target <= {OBJECTS}")
    print(
        f"  kms:GetKeyPolicy     {by_operation['kms:GetKeyPolicy']}   "
        f"iam:GetRole {by_operation['iam:GetRole']}   "
        f"iam:GetPolicyVersion {by_operation['iam:GetPolicyVersion']}"
    )
    events = sorted([(r.started, 1) for r in requests] + [(r.ended, -1) for r in requests])
    in_flight = most = 0
    for _, step in events:
        in_flight += step
        most = max(most, in_flight)
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
    # The bound above assumes AWS serves requests in parallel; the local moto server is one Python
    # process (sharing its GIL with the proxy): its service rate, not kmsdoctor, can set the pace.
    served_ms = phase / calls * 1000
    print(
        f"  moto alone           {moto_ms:5.1f} ms per HeadObject asked one at a time (no proxy; "
        f"boto3's own time included; inflated on a loaded machine)"
    )
    print(
        f"  served               {served_ms:5.1f} ms per request through proxy and moto "
        f"(AWS phase / calls); the delay alone at {concurrency} in flight would allow "
        f"{DELAY_S * 1000 / concurrency:.1f} ms: when requests in flight stay at {concurrency} and "
        f"served >> that, the time is moto's and the proxy's, not kmsdoctor's"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--collect"]:
        collect_in_child(sys.argv[2])
    else:
        main()
