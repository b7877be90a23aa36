"""Object ABAC built in moto: a bucket policy that lets account B read only objects tagged
classification=public. Through the real CLI when the tags cannot be read (`unknown`), and
through the collection planner for what it costs: object tags are read only when a policy in
play tests s3:ExistingObjectTag, and only for objects HeadObject says are tagged (plus one per
bucket to learn that the reader may read tags). The tagged and secret configurations
themselves are scenario files run by test_scenarios.py."""

from __future__ import annotations

import json

import boto3
from typer.testing import CliRunner

from kmsdoctor.analyze import answer
from kmsdoctor.cli import app
from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import Snapshot

PUBLIC_ONLY = "bucket-policy-object-tag-public"
READER_IN_A = "arn:aws:sts::111111111111:assumed-role/x/y"


def _diagnose(box, *extra: str) -> dict:
    run = CliRunner().invoke(
        app, box.cli_args("diagnose", "--no-probe", "--format", "json", *extra)
    )
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    return json.loads(run.stdout)


def test_object_tagged_public_but_its_tags_unreadable_leaves_the_bucket_policy_unknown(
    sandbox, aws_faults
):
    box = sandbox(PUBLIC_ONLY)
    aws_faults.deny("s3", "GetObjectTagging", READER_IN_A, "*")
    report = _diagnose(box)
    assert report["verdict"] == "unknown"
    lock = report["locks"]["bucket_policy"]
    assert lock["status"] == "unknown"
    assert "s3:ExistingObjectTag/classification" in lock["reason"]
    assert "s3:GetObjectTagging failed with AccessDenied" in lock["reason"]
    assert report["locks"]["key_policy"]["status"] == "allow"


def test_a_bucket_policy_without_tag_conditions_costs_no_tag_reads(sandbox, aws_faults):
    box = sandbox("healthy-cross-account-read")
    assert _diagnose(box)["verdict"] == "allow"
    assert aws_faults.calls.count("s3:GetObjectTagging") == 0


def _put_objects(box, prefix: str, count: int, tagged: set[int]) -> None:
    s3 = boto3.Session(profile_name="a").client("s3")
    for index in range(count):
        extra = {"Tagging": "classification=public"} if index in tagged else {}
        s3.put_object(
            Bucket=box.bucket,
            Key=f"{prefix}{index:04d}.parquet",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=box.key_arns["data"],
            **extra,
        )


def _collect_prefix(box, prefix: str, operation: str = "read") -> tuple[Snapshot, Question]:
    question = Question("", box.bucket, prefix=prefix, operation=operation)
    plan = CollectionPlan([question], region=box.region, pair=ProfilePair("a", "b"))
    return Snapshot.from_json(collect_facts(plan).to_json()), question


def test_a_prefix_of_twenty_objects_three_tagged_costs_four_tag_reads_not_twenty(
    sandbox, aws_faults
):
    box = sandbox(PUBLIC_ONLY)
    _put_objects(box, "many/", 20, tagged={3, 9, 15})
    aws_faults.calls.clear()

    snapshot, question = _collect_prefix(box, "many/")

    assert aws_faults.calls.count("s3:HeadObject") == 20
    assert aws_faults.calls.count("s3:GetObjectTagging") == 4  # 3 tagged + 1 to learn access
    verdicts = {a.object_key: a.diagnosis.verdict for a in answer(snapshot, question)}
    assert {key for key, verdict in verdicts.items() if verdict == "allow"} == {
        "many/0003.parquet",
        "many/0009.parquet",
        "many/0015.parquet",
    }
    assert set(verdicts.values()) == {"allow", "deny"}


def test_tags_refused_for_the_prefix_leave_every_object_unknown_not_untagged(sandbox, aws_faults):
    box = sandbox(PUBLIC_ONLY)
    _put_objects(box, "many/", 6, tagged={2})
    aws_faults.deny("s3", "GetObjectTagging", READER_IN_A, "*")

    snapshot, question = _collect_prefix(box, "many/")

    verdicts = {a.object_key: a.diagnosis.verdict for a in answer(snapshot, question)}
    assert set(verdicts.values()) == {"unknown"}, verdicts


def test_a_write_question_reads_no_object_tags(sandbox, aws_faults):
    # S3 does not evaluate s3:ExistingObjectTag for PutObject.
    box = sandbox(PUBLIC_ONLY)
    _put_objects(box, "out/", 3, tagged={0, 1, 2})
    aws_faults.calls.clear()
    _collect_prefix(box, "out/", operation="write")
    assert aws_faults.calls.count("s3:GetObjectTagging") == 0


def test_a_v2_snapshot_written_before_object_tags_were_read_still_loads(sandbox, tmp_path):
    box = sandbox(PUBLIC_ONLY)
    snapshot, question = _collect_prefix(box, "sales/")
    data = json.loads(snapshot.to_json())
    for facts in data["objects"].values():
        facts["head"]["value"].pop("tags")
        facts["head"]["value"].pop("tag_count")
    older = Snapshot.from_dict(data)
    (result,) = answer(older, question)
    # Never read, so never guessed: the condition on them is undecided.
    assert result.diagnosis.verdict == "unknown"
    assert "tags were not read" in result.diagnosis.locks["bucket_policy"].reason


def _depth_of_a_diagnosis(box) -> tuple[int, tuple[str, ...]]:
    from bench.depth import DepthTracer

    tracer = DepthTracer().install()
    try:
        _diagnose(box)
    finally:
        tracer.uninstall()
    return tracer.depth, tracer.longest_chain


def test_without_tag_conditions_the_chain_of_dependent_calls_is_as_before(sandbox, aws_faults):
    depth, chain = _depth_of_a_diagnosis(sandbox("healthy-cross-account-read"))
    assert depth <= 4, " -> ".join(chain)


def test_object_tags_add_one_link_to_the_chain_of_dependent_calls(sandbox, aws_faults):
    """Counted, not timed: the object-tag read waits for the policies (it must know whether one
    tests s3:ExistingObjectTag), so it adds one dependent call to the longest chain; the
    bucket's ABAC read runs beside it, not after it."""
    depth, chain = _depth_of_a_diagnosis(sandbox(PUBLIC_ONLY))
    assert aws_faults.calls.count("s3:GetObjectTagging") == 1
    assert depth <= 5, " -> ".join(chain)
