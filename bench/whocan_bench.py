"""who-can over an account of 1,000 roles: the analysis alone (no AWS, no collection).

The records are generated `PrincipalInfo`s, as the account listing makes them: account B with
ROLES roles and USERS users, A's bucket policy letting B's account in and A's key policy
delegating kms:Decrypt to B's account through S3 (a common lake set-up, where B's identity
policies decide). The roles vary the way a real account does: a quarter read the lake through
an inline policy, a quarter through a shared managed policy (one document, many roles), a
quarter have only unrelated policies, and a quarter read it but sit under a boundary that
allows only S3. Users read through a shared group policy. Timed: `who_can()` for the whole
account, every principal answered by the analysis `diagnose` uses (locks, rules, findings).
The target in issue 11 is <= 2 s of analysis for 1,000 roles.
"""

from __future__ import annotations

import time
from statistics import median

from kmsdoctor.analyze.whocan import WhoCanResult, who_can
from kmsdoctor.snapshot import (
    BucketEncryption,
    BucketInfo,
    CallError,
    EntityInfo,
    Fetched,
    KeyInfo,
    KeyMetadata,
    NamedPolicy,
    ObjectInfo,
    PrincipalInfo,
    RequestSpec,
    Snapshot,
    SnapshotView,
    SourceSide,
    TargetSide,
)

A = "111111111111"
B = "222222222222"
REGION = "eu-west-1"
BUCKET = "datalake-curated-a"
OBJECT_KEY = "sales/2026/q1/regions.parquet"
KEY_ARN = f"arn:aws:kms:{REGION}:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLES = 1000
USERS = 50
RUNS = 3

READ_LAKE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadCuratedLake",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        },
        {"Sid": "Decrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
    ],
}
UNRELATED = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "logs:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other-bucket/*"},
    ],
}
S3_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AccountBReads",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    ],
}
KEY_POLICY = {
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
            "Sid": "AccountBDecryptsThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
        },
    ],
}


def _principal(kind: str, index: int, **policies: Fetched) -> PrincipalInfo:
    name = f"{'Role' if kind == 'role' else 'user'}{index:04d}"
    arn = f"arn:aws:iam::{B}:{kind}/{name}"
    unique = f"{'AROA' if kind == 'role' else 'AIDA'}{index:017d}"
    none: Fetched = Fetched.ok([])
    return PrincipalInfo(
        arn=arn,
        kind=kind,  # type: ignore[arg-type]
        source="role_arn",
        session_arn=None,
        entity=Fetched.ok(EntityInfo(name=name, arn=arn, unique_id=unique)),
        inline_policies=policies.get("inline", none),
        attached_policies=policies.get("attached", none),
        group_policies=policies.get("groups", Fetched.absent()),
        permissions_boundary=policies.get("boundary", Fetched.absent()),
        session_policy=Fetched.absent(),
    )


def principals(roles: int = ROLES, users: int = USERS) -> list[PrincipalInfo]:
    shared = NamedPolicy("ReadCuratedLakeManaged", READ_LAKE, f"arn:aws:iam::{B}:policy/R", "v1")
    boundary = NamedPolicy("S3Only", S3_ONLY, f"arn:aws:iam::{B}:policy/S3Only", "v1")
    records: list[PrincipalInfo] = []
    for index in range(roles):
        variant = index % 4
        if variant == 0:
            records.append(
                _principal("role", index, inline=Fetched.ok([NamedPolicy("Read", READ_LAKE)]))
            )
        elif variant == 1:
            records.append(_principal("role", index, attached=Fetched.ok([shared])))
        elif variant == 2:
            records.append(
                _principal("role", index, inline=Fetched.ok([NamedPolicy("Ops", UNRELATED)]))
            )
        else:
            records.append(
                _principal(
                    "role",
                    index,
                    attached=Fetched.ok([shared]),
                    boundary=Fetched.ok(boundary),
                )
            )
    group = NamedPolicy("analysts/ReadCuratedLakeManaged", READ_LAKE, shared.arn, "v1")
    for index in range(users):
        records.append(_principal("user", index, groups=Fetched.ok([group])))
    return records


def snapshot() -> Snapshot:
    return Snapshot.from_view(_view())


def _view() -> SnapshotView:
    not_in_org = Fetched.absent(
        CallError("organizations:DescribeOrganization", "AWSOrganizationsNotInUseException")
    )
    return SnapshotView(
        request=RequestSpec(bucket=BUCKET, key=OBJECT_KEY, operation="read", region=REGION),
        source=SourceSide(
            profile="a",
            account_id=Fetched.ok(A),
            organization=not_in_org,
            rcps=Fetched.absent(),
            bucket=BucketInfo(
                name=BUCKET,
                arn=f"arn:aws:s3:::{BUCKET}",
                region=Fetched.ok(REGION),
                policy=Fetched.ok(NamedPolicy("bucket-policy", BUCKET_POLICY)),
                encryption=Fetched.ok(BucketEncryption("aws:kms", KEY_ARN, False)),
                ownership_controls=Fetched.ok("BucketOwnerEnforced"),
                public_access_block=Fetched.absent(),
                acl_owner_id=Fetched.ok("a" * 64),
            ),
            object=Fetched.ok(
                ObjectInfo(
                    key=OBJECT_KEY,
                    arn=f"arn:aws:s3:::{BUCKET}/{OBJECT_KEY}",
                    sse_algorithm="aws:kms",
                    kms_key_id=KEY_ARN,
                )
            ),
            key=KeyInfo(
                reference=KEY_ARN,
                found_on="object",
                arn=KEY_ARN,
                metadata=Fetched.ok(
                    KeyMetadata(
                        key_id=KEY_ARN.rsplit("/", 1)[-1],
                        arn=KEY_ARN,
                        account_id=A,
                        region=REGION,
                        key_state="Enabled",
                        enabled=True,
                        key_manager="CUSTOMER",
                    )
                ),
                policy=Fetched.ok(NamedPolicy("default", KEY_POLICY)),
                grants=Fetched.ok([]),
                aliases=Fetched.ok([]),
            ),
        ),
        target=TargetSide(
            profile="b",
            account_id=Fetched.ok(B),
            caller=Fetched.absent(),
            organization=not_in_org,
            scps=Fetched.absent(),
            vpc_endpoints=Fetched.ok([]),
            principals=[],
        ),
        tool_version="bench",
        created_at="2026-12-01T00:00:00Z",
    )


def run(roles: int = ROLES, users: int = USERS) -> tuple[WhoCanResult, float]:
    """One who-can analysis over freshly generated records (nothing memoised from a previous
    run is shared: new principal objects); returns the result and its CPU seconds."""
    records = principals(roles, users)
    view = snapshot()
    started = time.process_time()
    result = who_can(view, BUCKET, OBJECT_KEY, "read", {B: Fetched.ok(records)})
    return result, time.process_time() - started


def main(runs: int = RUNS) -> None:
    samples = []
    result = None
    for _ in range(runs):
        result, seconds = run()
        samples.append(seconds)
    assert result is not None
    summary = result.summary()
    taken = median(samples)
    print(f"who-can analysis, {ROLES} roles + {USERS} users (median of {runs} runs, CPU time):")
    print(
        f"  {taken:.2f} s for {summary['principals']} principals "
        f"({taken / summary['principals'] * 1000:.2f} ms each; range "
        f"{min(samples):.2f}-{max(samples):.2f} s; target <= 2 s for 1,000 roles)"
    )
    print(
        f"  verdicts: {summary['allow']} allow, {summary['deny']} deny, "
        f"{summary['unknown']} unknown; first shut locks: "
        + ", ".join(
            f"{lock} {v['principals']}" for lock, v in summary["by_first_shut_lock"].items()
        )
    )


if __name__ == "__main__":
    main()
