"""The collection planner against moto: each fact read once however many questions need it,
prefixes listed (and cut at max_objects), any number of accounts each through its own profile,
and an account without a profile `unknown`, never guessed.

Each test is named after the incident it prevents.
"""

from __future__ import annotations

import configparser
import json
import threading
from pathlib import Path

import boto3
import pytest

from kmsdoctor.analyze import analyze_snapshot, answer
from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import Snapshot

DEMO = "key-policy-missing-principal"
OBJECT_KEY = "sales/2026/q1/regions.parquet"
A, B, C = "111111111111", "222222222222", "333333333333"
READ_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}
        ],
    }
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def put_objects(box, prefix: str, count: int) -> None:
    s3 = boto3.Session(profile_name="a").client("s3")
    for index in range(count):
        s3.put_object(
            Bucket=box.bucket,
            Key=f"{prefix}{index:04d}.parquet",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=box.key_arns["data"],
        )


def pipeline_roles(profile: str, count: int) -> list[str]:
    """`count` roles sharing one customer managed policy (a pipeline's four stages)."""
    iam = boto3.Session(profile_name=profile).client("iam")
    policy = iam.create_policy(PolicyName="PipelineArtifacts", PolicyDocument=READ_ALL)
    arns = []
    for index in range(count):
        role = iam.create_role(RoleName=f"Stage{index}", AssumeRolePolicyDocument=TRUST)
        iam.attach_role_policy(RoleName=f"Stage{index}", PolicyArn=policy["Policy"]["Arn"])
        arns.append(role["Role"]["Arn"])
    return arns


def test_four_principals_over_thirty_objects_read_the_key_once_and_head_each_object_once(
    sandbox, aws_faults
):
    box = sandbox(DEMO)
    put_objects(box, "many/", 30)
    principals = pipeline_roles("b", 4)
    aws_faults.calls.clear()

    questions = [Question(arn, box.bucket, prefix="many/") for arn in principals]
    snapshot = collect_facts(
        CollectionPlan(questions, region=box.region, pair=ProfilePair("a", "b"))
    )

    calls = aws_faults.calls
    assert calls.count("s3:ListObjectsV2") == 1
    assert calls.count("s3:HeadObject") == 30  # not 30 x 4
    assert calls.count("s3:GetObjectAcl") == 0  # the listing gave every owner
    assert calls.count("kms:DescribeKey") == 1
    assert calls.count("kms:GetKeyPolicy") == 1
    assert calls.count("iam:GetRole") == 4  # one per principal
    assert calls.count("iam:GetPolicy") == 1  # the shared managed policy, once
    assert calls.count("iam:GetPolicyVersion") == 1
    assert calls.count("s3:GetBucketPolicy") == 1
    # every principal gets an answer per object, all reading the same key facts
    answers = answer(snapshot, questions[0])
    assert [a.object_key for a in answers] == [f"many/{i:04d}.parquet" for i in range(30)]
    assert {a.diagnosis.verdict for a in answers} == {"deny"}  # the key policy names none
    assert all("key_policy" in a.diagnosis.shut_locks() for a in answers)
    keys = {id(snapshot.view(q, "many/0007.parquet").source.key.policy) for q in questions}
    assert len(keys) == 1


def test_a_prefix_with_more_objects_than_max_objects_says_it_was_cut(sandbox, aws_faults):
    box = sandbox(DEMO)
    put_objects(box, "big/", 12)
    aws_faults.calls.clear()

    question = Question("", box.bucket, prefix="big/")
    plan = CollectionPlan([question], region=box.region, max_objects=5, pair=ProfilePair("a", "b"))
    snapshot = Snapshot.from_json(collect_facts(plan).to_json())

    listing = snapshot.listings[f"s3://{box.bucket}/big/"]
    assert listing.truncated is True
    assert listing.keys.value == [f"big/{i:04d}.parquet" for i in range(5)]
    assert aws_faults.calls.count("s3:HeadObject") == 5
    assert len(answer(snapshot, question)) == 5


def test_a_prefix_the_profile_may_not_list_is_one_unknown_answer_not_an_empty_pass(
    sandbox, aws_faults
):
    box = sandbox(DEMO)
    aws_faults.add("s3", "ListObjectsV2", "AccessDenied", "Access Denied", 403)
    question = Question("", box.bucket, prefix="sales/")
    plan = CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
    snapshot = collect_facts(plan)

    (only,) = answer(snapshot, question)
    assert only.diagnosis.locks["object"].status == "unknown"
    assert "s3:ListObjectsV2 failed with AccessDenied" in only.diagnosis.locks["object"].reason


def add_profile(box, name: str, account: str) -> None:
    """A third account's profile in the sandbox's config (moto separates accounts by the
    credentials an AssumeRole into that account gives)."""
    sts = boto3.Session(profile_name="a").client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/Admin", RoleSessionName="fixture"
    )["Credentials"]
    config, credentials = configparser.ConfigParser(), configparser.ConfigParser()
    config.read(box.config_path)
    credentials.read(box.credentials_path)
    config[f"profile {name}"] = {"region": box.region, "output": "json"}
    credentials[name] = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    with open(box.config_path, "w", encoding="utf-8") as handle:
        config.write(handle)
    with open(box.credentials_path, "w", encoding="utf-8") as handle:
        credentials.write(handle)


def test_callers_in_two_accounts_are_each_read_through_their_own_profile(sandbox, aws_faults):
    box = sandbox(DEMO)
    add_profile(box, "c", C)
    (c_role,) = pipeline_roles("c", 1)
    b_role = box.role_arns["BIAnalyticsRole"]
    key = box.scenario["command"]["key"]
    aws_faults.calls.clear()

    questions = [Question(b_role, box.bucket, key), Question(c_role, box.bucket, key)]
    profiles = {A: "a", B: "b", C: "c"}
    snapshot = collect_facts(CollectionPlan(questions, profiles=profiles, region=box.region))

    assert snapshot.buckets[box.bucket].account_id == A  # learnt from profile a's ListBuckets
    assert set(snapshot.accounts) == {A, B, C}
    assert snapshot.principals[c_role].entity.value.arn == c_role  # read in C, as C
    assert [p.name for p in snapshot.principals[c_role].attached_policies.value] == [
        "PipelineArtifacts"
    ]
    view = snapshot.view(questions[1], key)
    assert view.target.account_id.value == C
    assert view.source.account_id.value == A
    assert aws_faults.calls.count("s3:HeadObject") == 1
    assert aws_faults.calls.count("kms:GetKeyPolicy") == 1
    assert aws_faults.calls.count("ec2:DescribeVpcEndpoints") == 2  # once per caller account


def test_a_principal_in_an_account_without_a_profile_is_unknown_naming_the_account(
    sandbox, aws_faults
):
    box = sandbox(DEMO)
    key = box.scenario["command"]["key"]
    stranger = f"arn:aws:iam::{C}:role/PartnerReader"
    question = Question(stranger, box.bucket, key)
    profiles = {A: "a", B: "b", C: None}
    snapshot = collect_facts(CollectionPlan([question], profiles=profiles, region=box.region))

    assert aws_faults.calls.count("iam:GetRole") == 0  # nothing guessed through another profile
    (only,) = answer(snapshot, question)
    locks = only.diagnosis.locks
    assert locks["identity"].status == "unknown"
    assert f"no profile reads account {C}" in locks["identity"].reason
    assert locks["scp"].status == "unknown"
    # A's side is read all the same: its key policy does not name the partner role.
    assert locks["key_policy"].status == "implicit_deny"


@pytest.mark.parametrize(
    "name",
    ["key-policy-missing-principal", "bucket-key-encryption-context", "object-missing"],
)
def test_a_v1_snapshot_written_before_schema_v2_analyses_as_it_did(name):
    # Written by `kmsdoctor collect` and `analyze --format json` of the v1 code (commit 50bb23c).
    fixtures = Path(__file__).resolve().parents[1] / "snapshot" / "fixtures"
    text = (fixtures / f"v1-{name}.json").read_text(encoding="utf-8")
    then = json.loads((fixtures / f"v1-{name}.analysis.json").read_text(encoding="utf-8"))
    snapshot = Snapshot.from_json(text)
    assert json.loads(text)["schema_version"] == 1
    # What scripts key on (docs/json-output.md): the verdict, each lock's status and the
    # findings' codes. Reasons and details are sentences for people and may be reworded.
    assert _contract(analyze_snapshot(snapshot).to_dict()) == _contract(then)


def _contract(report: dict) -> dict:
    return {
        "verdict": report["verdict"],
        "principal": report["principal"],
        "locks": {name: lock["status"] for name, lock in report["locks"].items()},
        "findings": [(f["code"], f["lock"], f["severity"]) for f in report["findings"]],
    }


# --- the longest chain: counted as dependency depth (bench/depth.py), never in seconds ----------

KEY_READS = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:ListGrants",
    "kms:ListAliases",
    "kms:ListResourceTags",
)


def depths_of(tracer, operation: str) -> set[int]:
    return {depth for made, depth, _ in tracer.records if made == operation}


def test_the_objects_key_costs_one_round_trip_after_its_head_not_two(sandbox, aws_faults):
    """HeadObject names the key by its ARN: DescribeKey, the key policy, grants, aliases and
    tags go out together, instead of the policy and tags waiting for DescribeKey."""
    from bench.depth import DepthTracer

    box = sandbox(DEMO)
    question = Question("", box.bucket, key=OBJECT_KEY)
    with DepthTracer() as tracer:
        snapshot = collect_facts(
            CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
        )
    assert depths_of(tracer, "s3:HeadObject") == {1}
    for operation in KEY_READS:
        assert depths_of(tracer, operation) == {2}, operation
        assert aws_faults.calls.count(operation) == 1, operation
    # the caller account's organization and VPC endpoints are read side by side
    assert depths_of(tracer, "ec2:DescribeVpcEndpoints") <= {1, 2}
    # The longest chain is the caller's own: its role is learnt from GetCallerIdentity, then
    # its inline policies are listed and read. The key adds nothing to it.
    assert tracer.depth == 3, " -> ".join(tracer.longest_chain)
    assert tracer.longest_chain[0] == "sts:GetCallerIdentity"
    key = snapshot.keys[box.key_arns["data"]]
    assert key.policy.is_ok and key.tags.is_ok and key.aliases.value == ["alias/datalake"]


def test_a_key_named_by_alias_is_resolved_by_describe_key_first(sandbox, aws_faults):
    """An alias does not name a key: the key's policy is read for the ARN DescribeKey gives."""
    from bench.depth import DepthTracer

    box = sandbox("bucket-default-encryption-alias")
    question = Question("", box.bucket)  # no object: the bucket default's key (an alias)
    with DepthTracer() as tracer:
        snapshot = collect_facts(
            CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
        )
    (key,) = snapshot.keys.values()
    assert key.reference.startswith("alias/") and key.arn == box.key_arns["data"]
    described = depths_of(tracer, "kms:DescribeKey")
    assert depths_of(tracer, "kms:GetKeyPolicy") == {max(described) + 1}
    assert key.policy.is_ok


def test_a_prefix_under_its_bucket_default_key_reads_the_key_beside_the_heads(sandbox, aws_faults):
    """Listed, then headed, then the key: the bucket default's key is read while the prefix is
    listed and headed, so the heads find it in hand (once, however many objects)."""
    from bench.depth import DepthTracer

    box = sandbox(DEMO)
    put_objects(box, "many/", 5)
    aws_faults.calls.clear()
    # moto answers at once: the heads are held until the key is asked about, as they would be
    # by the round trip the listing costs against AWS. A planner that reads the key only after
    # the heads never lets them through (until the bound), and counts a chain of three.
    key_asked = threading.Event()

    def heads_wait_for_the_key(operation: str) -> None:
        if operation == "kms:DescribeKey":
            key_asked.set()
        elif operation == "s3:HeadObject":
            key_asked.wait(timeout=10)

    aws_faults.observers.append(heads_wait_for_the_key)
    question = Question("", box.bucket, prefix="many/")
    with DepthTracer() as tracer:
        snapshot = collect_facts(
            CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
        )
    assert depths_of(tracer, "s3:HeadObject") == {2}  # after the listing
    for operation in KEY_READS:
        assert aws_faults.calls.count(operation) == 1, operation
        assert max(depths_of(tracer, operation)) <= 2, operation  # beside the heads, not after
    # Nothing waits on the heads; the longest chain is the caller's own identity -> policies.
    assert tracer.depth == 3, " -> ".join(tracer.longest_chain)
    assert tracer.longest_chain[0] == "sts:GetCallerIdentity"
    assert list(snapshot.keys) == [box.key_arns["data"]]


def test_a_bucket_default_key_read_ahead_stays_out_of_the_snapshot_when_no_object_uses_it(
    sandbox, aws_faults
):
    """The objects were written under the old key: the default's key read ahead is not a key
    of any answer, so the snapshot holds only the old key, found on the objects."""
    box = sandbox("object-under-old-key")
    aws_faults.calls.clear()
    question = Question("", box.bucket, prefix="sales/")
    snapshot = collect_facts(
        CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
    )
    assert list(snapshot.keys) == [box.key_arns["old"]]
    assert snapshot.keys[box.key_arns["old"]].found_on == "object"
    assert aws_faults.calls.count("kms:GetKeyPolicy") == 2  # the old key, and the default ahead
