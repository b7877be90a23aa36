"""Analysis CPU per (principal, object) pair, on first sight (issue 11: <= 0.2 ms).

No AWS and no moto: the snapshot of check_bench's data lake is built in memory (account A: one
bucket, two keys, three prefixes of 1,000 objects — `p0/` under the curated key, `p1/` under the
finance key, `p2/` half and half; account B: ten roles; only the even roles are in the finance
key's policy) and `kmsdoctor.analyze.answer_by_class` (what `check` calls: objects no policy
tells apart analysed once) is timed with `time.process_time` over the same 50 questions as
check_bench (each role reads each prefix, writes p0/ and p2/): 50,000 pairs, of which the odd
roles' finance reads fail (findings, fixes and their proofs).

Each measurement runs in a fresh process, so nothing is memoised from an earlier run: the
engine's compiled policies and every cache start empty ("first sight").

    python -m bench.analysis_bench            # the figures
    python -m bench.analysis_bench --profile  # and the 25 costliest functions (cProfile)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
A = "111111111111"
B = "222222222222"
REGION = "eu-west-1"
BUCKET = "datalake-bench-a"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
ROLES = [f"LakeRole{n:02}" for n in range(10)]
PREFIXES = ["p0/", "p1/", "p2/"]
OBJECTS_PER_PREFIX = 1000
KEY_IDS = {
    "curated": "11111111-1111-4111-8111-111111111111",
    "finance": "22222222-2222-4222-8222-222222222222",
}
TARGET_MS = 0.2
RUNS = int(os.environ.get("KMSDOCTOR_BENCH_RUNS", "3"))  # fresh processes; the best is shown


def key_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{A}:key/{KEY_IDS[name]}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{B}:role/{name}"


def _key_policy(principals: list[str]) -> dict[str, Any]:
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


def _bucket_policy(readers: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LakeRoles",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _role_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Lake",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
            },
            {
                "Sid": "LakeKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": [key_arn("curated"), key_arn("finance")],
            },
        ],
    }


def lake_snapshot() -> Any:
    """check_bench's lake as a v2 Snapshot, as collect_facts would hold it."""
    from kmsdoctor.snapshot import (
        AccountFacts,
        BucketEncryption,
        BucketFacts,
        BucketInfo,
        CallerIdentity,
        CallError,
        EntityInfo,
        Fetched,
        KeyInfo,
        KeyMetadata,
        NamedPolicy,
        ObjectFacts,
        ObjectInfo,
        PrefixListing,
        PrincipalInfo,
        PublicAccessBlock,
        Snapshot,
        listing_id,
    )

    readers = [role_arn(name) for name in ROLES]
    finance_readers = readers[::2]
    no_org = Fetched.absent(
        CallError("organizations:DescribeOrganization", "AWSOrganizationsNotInUseException")
    )
    accounts = {
        A: AccountFacts(
            account_id=Fetched.ok(A),
            profile="a",
            organization=no_org,
            rcps=Fetched.absent(),
        ),
        B: AccountFacts(
            account_id=Fetched.ok(B),
            profile="b",
            caller=Fetched.ok(CallerIdentity(f"arn:aws:iam::{B}:user/ci", B, "AIDACI")),
            organization=no_org,
            scps=Fetched.absent(),
            vpc_endpoints=Fetched.ok([]),
        ),
    }
    bucket = BucketInfo(
        name=BUCKET,
        arn=BUCKET_ARN,
        region=Fetched.ok(REGION),
        policy=Fetched.ok(NamedPolicy(name="bucket policy", document=_bucket_policy(readers))),
        encryption=Fetched.ok(BucketEncryption("aws:kms", key_arn("curated"), False)),
        ownership_controls=Fetched.ok("BucketOwnerEnforced"),
        public_access_block=Fetched.ok(PublicAccessBlock(True, True, True, True)),
        acl_owner_id=Fetched.ok("a" * 64),
    )
    keys = {}
    for name, principals in (("curated", readers), ("finance", finance_readers)):
        arn = key_arn(name)
        keys[arn] = KeyInfo(
            reference=arn,
            found_on="object",
            arn=arn,
            metadata=Fetched.ok(
                KeyMetadata(
                    key_id=KEY_IDS[name],
                    arn=arn,
                    account_id=A,
                    region=REGION,
                    key_state="Enabled",
                    enabled=True,
                    key_manager="CUSTOMER",
                    description=name,
                )
            ),
            policy=Fetched.ok(NamedPolicy(name="default", document=_key_policy(principals))),
            grants=Fetched.ok([]),
            aliases=Fetched.ok([]),
            tags=Fetched.ok({}),
        )
    objects: dict[str, ObjectFacts] = {}
    listings: dict[str, PrefixListing] = {}
    for prefix in PREFIXES:
        listed = []
        for n in range(OBJECTS_PER_PREFIX):
            name = "curated" if prefix == "p0/" or (prefix == "p2/" and n % 2) else "finance"
            object_key = f"{prefix}part-{n:05}.parquet"
            listed.append(object_key)
            arn = f"{BUCKET_ARN}/{object_key}"
            objects[arn] = ObjectFacts(
                bucket=BUCKET,
                key=object_key,
                head=Fetched.ok(
                    ObjectInfo(
                        key=object_key,
                        arn=arn,
                        sse_algorithm="aws:kms",
                        kms_key_id=key_arn(name),
                        bucket_key_enabled=False,
                        content_length=1,
                        acl_owner_id=Fetched.ok("a" * 64),
                    )
                ),
                kms_key=key_arn(name),
            )
        listings[listing_id(BUCKET, prefix)] = PrefixListing(BUCKET, prefix, Fetched.ok(listed))
    principals = {}
    for name in ROLES:
        arn = role_arn(name)
        principals[arn] = PrincipalInfo(
            arn=arn,
            kind="role",
            source="role_arn",
            session_arn=None,
            entity=Fetched.ok(
                EntityInfo(name=name, arn=arn, unique_id=f"AROA{name.upper()}", tags={})
            ),
            inline_policies=Fetched.ok([NamedPolicy(name="Lake", document=_role_policy())]),
            attached_policies=Fetched.ok([]),
            group_policies=Fetched.absent(),
            permissions_boundary=Fetched.absent(),
            session_policy=Fetched.absent(),
        )
    return Snapshot(
        region=REGION,
        questions=questions(),
        accounts=accounts,
        buckets={BUCKET: BucketFacts(account_id=A, info=bucket, fallback_key=key_arn("curated"))},
        objects=objects,
        keys=keys,
        principals=principals,
        listings=listings,
        tool_version="bench",
        created_at="2026-01-01T00:00:00Z",
        caller_account=B,
    )


def questions() -> list[Any]:
    """check_bench's 50 expectations: each role reads each prefix, writes p0/ and p2/."""
    from kmsdoctor.questions import Question

    asked = []
    for name in ROLES:
        for prefix in PREFIXES:
            asked.append(Question(role_arn(name), BUCKET, prefix=prefix, operation="read"))
        for prefix in ("p0/", "p2/"):
            asked.append(Question(role_arn(name), BUCKET, prefix=prefix, operation="write"))
    return asked


def measure(profile: bool = False) -> dict[str, Any]:
    """Every question answered once, in this process (call it in a fresh one)."""
    from kmsdoctor.analyze import answer_by_class

    snapshot = lake_snapshot()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    pairs = 0
    denied = 0
    classes = 0
    started = time.process_time()
    for question in snapshot.questions:
        for found in answer_by_class(snapshot, question):
            classes += 1
            pairs += len(found.object_keys)
            if found.diagnosis.verdict != "allow":
                denied += len(found.object_keys)
    cpu_s = time.process_time() - started
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue(), file=sys.stderr)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    return {"pairs": pairs, "denied": denied, "classes": classes, "cpu_s": cpu_s}


def _fresh(profile: bool = False) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.analysis_bench", "--one"]
    if profile:
        args.append("--profile")
    process = subprocess.run(
        args,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=None if profile else subprocess.PIPE,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if process.returncode != 0:
        raise RuntimeError((process.stderr or "").strip()[-2000:])
    return json.loads(process.stdout.strip().splitlines()[-1])


def main(profile: bool = False) -> None:
    runs = [_fresh() for _ in range(RUNS)]
    best = min(runs, key=lambda r: r["cpu_s"])
    per_pair_ms = best["cpu_s"] / best["pairs"] * 1000
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{len(questions())} questions, {len(ROLES)} principals, {len(PREFIXES)} prefixes x "
        f"{OBJECTS_PER_PREFIX} objects; built in memory (no AWS); load average {load}"
    )
    print(f"  (principal, object) pairs answered  {best['pairs']}  ({best['denied']} not allowed)")
    print(f"  object classes analysed             {best['classes']}  (answer_by_class, as check)")
    print(f"  answer CPU (best of {len(runs)} fresh runs) {best['cpu_s'] * 1000:7.0f} ms")
    print(f"  per pair                            {per_pair_ms:7.3f} ms   target <= {TARGET_MS} ms")
    if profile:
        _fresh(profile=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if "--one" in sys.argv:
        print(json.dumps(measure(profile="--profile" in sys.argv)))
    else:
        main(profile="--profile" in sys.argv)
