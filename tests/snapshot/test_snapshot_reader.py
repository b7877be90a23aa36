"""A snapshot passed around during an incident may be truncated, hand-edited or from another
version. Reading it must give a Snapshot or one SnapshotError naming the place — never a crash.

`minimal_snapshot()` is a single-question (schema v1) document: what kmsdoctor wrote before
schema v2, and what a question's view still serialises to. Reading one converts it."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.snapshot import (
    SCHEMA_VERSION,
    V1_SCHEMA_VERSION,
    BucketInfo,
    CallError,
    Fetched,
    RequestSpec,
    Snapshot,
    SnapshotError,
    SnapshotView,
    SourceSide,
    TargetSide,
)


def minimal_snapshot() -> SnapshotView:
    unknown = Fetched.unknown(CallError("s3:GetBucketPolicy", "AccessDenied", "denied"))
    bucket = BucketInfo(
        name="datalake-curated-a",
        arn="arn:aws:s3:::datalake-curated-a",
        region=Fetched.ok("eu-west-1"),
        policy=unknown,
        encryption=Fetched.absent(),
        ownership_controls=Fetched.absent(),
        public_access_block=Fetched.absent(),
        acl_owner_id=Fetched.absent(),
    )
    source = SourceSide(
        profile="a",
        account_id=Fetched.ok("111111111111"),
        organization=Fetched.absent(),
        rcps=Fetched.absent(),
        bucket=bucket,
        object=None,
        key=None,
    )
    target = TargetSide(
        profile="b",
        account_id=Fetched.ok("222222222222"),
        caller=Fetched.absent(),
        organization=Fetched.absent(),
        scps=Fetched.absent(),
        vpc_endpoints=Fetched.absent(),
        principals=[],
    )
    request = RequestSpec(
        bucket="datalake-curated-a", key=None, operation="read", region="eu-west-1"
    )
    return SnapshotView(
        request=request, source=source, target=target, tool_version="0.1.0", created_at="now"
    )


def test_v1_snapshot_converted_on_read_gives_back_the_same_view():
    old = minimal_snapshot()
    assert old.schema_version == V1_SCHEMA_VERSION
    snapshot = Snapshot.from_json(old.to_json())
    assert snapshot.schema_version == SCHEMA_VERSION
    (question,) = snapshot.questions
    assert snapshot.view(question, question.key) == old


def test_v2_snapshot_survives_a_round_trip_through_json():
    snapshot = Snapshot.from_view(minimal_snapshot())
    assert Snapshot.from_json(snapshot.to_json()) == snapshot


def test_v2_snapshot_whose_question_names_a_bucket_it_holds_nothing_about_is_refused():
    data = Snapshot.from_view(minimal_snapshot()).to_dict()
    data["questions"][0]["bucket"] = "another-bucket"
    with pytest.raises(SnapshotError, match="another-bucket"):
        Snapshot.from_dict(data)


def test_snapshot_from_a_newer_kmsdoctor_is_refused_with_its_version():
    data = minimal_snapshot().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SnapshotError, match="schema_version"):
        Snapshot.from_dict(data)


def test_truncated_snapshot_file_is_one_clear_error():
    text = minimal_snapshot().to_json()
    with pytest.raises(SnapshotError, match="not valid JSON"):
        Snapshot.from_json(text[: len(text) // 2])


def test_hand_edited_status_names_the_field():
    data = minimal_snapshot().to_dict()
    data["source"]["bucket"]["policy"]["status"] = "maybe"
    with pytest.raises(SnapshotError, match=r"snapshot\.source\.bucket\.policy\.status"):
        Snapshot.from_dict(data)


def test_missing_section_names_the_field():
    data = minimal_snapshot().to_dict()
    del data["target"]
    with pytest.raises(SnapshotError, match="missing field 'target'"):
        Snapshot.from_dict(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_document_reads_or_fails_cleanly(value):
    with contextlib.suppress(SnapshotError):
        Snapshot.from_json(json.dumps(value))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


_ALL_PATHS = [p for p in _paths(minimal_snapshot().to_dict()) if p]
_ALL_V2_PATHS = [p for p in _paths(Snapshot.from_view(minimal_snapshot()).to_dict()) if p]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_ALL_PATHS), json_values)
def test_any_single_field_corrupted_reads_or_fails_cleanly(path, replacement):
    data = minimal_snapshot().to_dict()
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = replacement
    with contextlib.suppress(SnapshotError):
        Snapshot.from_dict(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_ALL_V2_PATHS), json_values)
def test_any_single_field_of_a_v2_snapshot_corrupted_reads_or_fails_cleanly(path, replacement):
    data = Snapshot.from_view(minimal_snapshot()).to_dict()
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = replacement
    with contextlib.suppress(SnapshotError):
        snapshot = Snapshot.from_dict(data)
        for _ in snapshot.views():  # what `analyze` reads next
            pass
