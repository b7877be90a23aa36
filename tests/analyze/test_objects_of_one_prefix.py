"""A prefix of many objects is answered object by object, but objects that no policy can tell
apart share the proof's re-analyses (analyze/object_class.py). These tests hold the sharing to
being exact: every answer is the one the object gets when analysed alone, and the work is shared
only where no Resource pattern, encryption-context condition or grant tells the objects apart."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from kmsdoctor.analyze import answer, answer_by_class
from kmsdoctor.analyze.api import analyze_principal
from kmsdoctor.analyze.object_class import _pattern_treats_objects_alike
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import Fetched, ObjectFacts, PrefixListing, Snapshot, listing_id
from tests.analyze.factories import (
    BUCKET,
    BUCKET_ARN,
    KEY_ARN,
    ROLE_ARN,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    grant,
    key_policy,
    make_key,
    make_object,
    make_principal,
    make_snapshot,
)
from tests.helpers.proofs import count_re_analyses

PREFIX = "sales/2026/"
KEYS = [f"{PREFIX}part-{n:03}.parquet" for n in range(12)]


def prefix_snapshot(**changes: Any) -> tuple[Snapshot, Question]:
    """The BI role reading every object under sales/2026/ (one key, one owner), with the
    snapshot changed as the incident says."""
    principal = make_principal(ROLE_ARN, session_arn=None, source="role_arn")
    view = make_snapshot(principals=[principal], **changes)
    snapshot = Snapshot.from_json(Snapshot.from_view(view).to_json())
    head = Fetched.ok(make_object())
    for object_key in KEYS:
        info = dataclasses.replace(head.value, key=object_key, arn=f"{BUCKET_ARN}/{object_key}")
        snapshot.objects[info.arn] = ObjectFacts(
            BUCKET, object_key, Fetched.ok(info), kms_key=KEY_ARN
        )
    snapshot.listings[listing_id(BUCKET, PREFIX)] = PrefixListing(
        BUCKET, PREFIX, Fetched.ok(list(KEYS))
    )
    question = Question(ROLE_ARN, BUCKET, prefix=PREFIX)
    snapshot.questions = [question]
    return snapshot, question


def alone(snapshot: Snapshot, question: Question, object_key: str) -> dict[str, Any]:
    """The object analysed by itself: nothing shared with any other object."""
    view = snapshot.view(question, object_key)
    diagnosis, _ = analyze_principal(view, view.target.principals[0])
    return diagnosis.to_dict()


def evaluations_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every re-analysis the proofs make, by the principal analysed."""
    return count_re_analyses(monkeypatch)


def answers_equal_alone(snapshot: Snapshot, question: Question) -> list[dict[str, Any]]:
    shared = answer(snapshot, question)
    assert [found.object_key for found in shared] == KEYS
    for found in shared:
        assert found.diagnosis.to_dict() == alone(snapshot, question, found.object_key or "")
    return [found.diagnosis.to_dict() for found in shared]


KEY_POLICY_WITHOUT_THE_ROLE = key_policy()
# A Deny on the last two objects of the prefix (part-010, part-011).
DENY_LATE_PARTS = {
    "Sid": "DenyLateParts",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{BUCKET_ARN}/{PREFIX}part-01*",
}


def test_key_policy_missing_the_role_proves_the_fix_once_for_a_prefix(monkeypatch):
    """The BI incident over a prefix of 12 objects: every object fails at the key policy, and
    the fix (the role added to the key policy) is proven for each — with the re-analyses of the
    stand-ins and the patched key done once, as no policy tells the objects apart."""
    snapshot, question = prefix_snapshot(key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE))
    seen = evaluations_counted(monkeypatch)
    answers = answers_equal_alone(snapshot, question)
    assert {a["verdict"] for a in answers} == {"deny"}
    fixes = [f["fix"] for a in answers for f in a["findings"] if f["code"] == "KD301"]
    assert len(fixes) == len(KEYS)
    assert all(fix["verified"] for fix in fixes)
    # Shared: three stand-ins before and after, and the role after the patch, once (each
    # object analysed alone makes these seven itself).
    seen.clear()
    answer(snapshot, question)
    assert len(seen) == 7


def test_a_key_policy_condition_on_part_of_the_prefix_is_proven_object_by_object(monkeypatch):
    """The key policy lets the role decrypt only objects under sales/2026/part-00* (an
    encryption-context condition): objects on either side of it differ, so nothing is shared
    and each object's answer is its own."""
    condition = {
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": f"{BUCKET_ARN}/{PREFIX}part-00*"}
    }
    policy = key_policy(allow_role_decrypt_statement(condition=condition))
    snapshot, question = prefix_snapshot(key=make_key(policy=policy))
    seen = evaluations_counted(monkeypatch)
    answers = answers_equal_alone(snapshot, question)
    verdicts = [a["verdict"] for a in answers]
    assert verdicts == ["allow"] * 10 + ["deny"] * 2  # part-000..009 allowed, part-010/011 not
    seen.clear()
    answer(snapshot, question)
    assert len(seen) == 2 * 7  # each failing object proven alone


def test_a_bucket_policy_deny_on_some_objects_is_not_shared_with_the_others():
    """A Deny on sales/2026/part-01* in the bucket policy: two objects are refused at the bucket
    policy and the rest fail at the key policy; each gets its own lock and proof."""
    snapshot, question = prefix_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), DENY_LATE_PARTS),
        key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE),
    )
    answers = answers_equal_alone(snapshot, question)
    bucket = [a["locks"]["bucket_policy"]["status"] for a in answers]
    assert bucket == ["allow"] * 10 + ["explicit_deny"] * 2


def test_a_grant_constrained_to_one_object_is_not_shared():
    """A grant for the role constrained to one object's encryption context opens the key for
    that object only."""
    only_first = grant(
        constraints={"EncryptionContextEquals": {"aws:s3:arn": f"{BUCKET_ARN}/{KEYS[0]}"}}
    )
    snapshot, question = prefix_snapshot(
        key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE, grants=[only_first])
    )
    answers = answers_equal_alone(snapshot, question)
    assert [a["verdict"] for a in answers] == ["allow"] + ["deny"] * (len(KEYS) - 1)


@pytest.mark.parametrize(
    ("pattern", "alike"),
    [
        ("*", True),
        (f"{BUCKET_ARN}/*", True),
        ("arn:aws:s3:::*", True),
        (BUCKET_ARN, True),  # the bucket itself: no object
        ("arn:aws:s3:::other-bucket/*", True),  # another bucket: no object of this one
        (KEY_ARN, True),
        (f"{BUCKET_ARN}/{PREFIX}*", False),  # part of the bucket
        (f"{BUCKET_ARN}/{KEYS[0]}", False),  # one object
        (f"{BUCKET_ARN}*", False),  # provable, but not proven here: treated as telling apart
        (f"{BUCKET_ARN}/${{aws:username}}/*", False),  # a policy variable
        ("arn:aws:s3:::datalake-*/*", False),
    ],
)
def test_which_resource_patterns_treat_every_object_alike(pattern, alike):
    assert _pattern_treats_objects_alike(pattern, BUCKET_ARN) is alike


def test_the_answers_are_json_identical_whatever_is_shared():
    """The same prefix answered twice, and object by object, gives the same documents."""
    snapshot, question = prefix_snapshot(key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE))
    first = [json.dumps(a.diagnosis.to_dict(), sort_keys=True) for a in answer(snapshot, question)]
    again = [json.dumps(a.diagnosis.to_dict(), sort_keys=True) for a in answer(snapshot, question)]
    assert first == again


# -- answer_by_class: what `check` calls for a prefix ------------------------------------------


def outcome(diagnosis: dict[str, Any]) -> tuple[Any, ...]:
    """What a check groups objects by: verdict, each lock's status, the finding codes."""
    statuses = tuple(sorted((name, lock["status"]) for name, lock in diagnosis["locks"].items()))
    codes = tuple(sorted(finding["code"] for finding in diagnosis["findings"]))
    return diagnosis["verdict"], statuses, codes


def classes_agree_with_alone(snapshot: Snapshot, question: Question) -> list[list[str | None]]:
    """Every object of every class gets, analysed alone, its class's outcome; the class's
    diagnosis is its first object's, word for word. Returns the classes' object keys."""
    classes = answer_by_class(snapshot, question)
    assert sorted(k for c in classes for k in c.object_keys) == sorted(KEYS)
    for found in classes:
        first = found.object_keys[0]
        assert found.diagnosis.to_dict() == alone(snapshot, question, first or "")
        for object_key in found.object_keys:
            assert outcome(alone(snapshot, question, object_key or "")) == outcome(
                found.diagnosis.to_dict()
            )
    return [found.object_keys for found in classes]


def test_a_prefix_no_policy_tells_apart_is_analysed_once():
    """The BI incident over 12 objects under one key: one class, one analysis."""
    snapshot, question = prefix_snapshot(key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE))
    assert classes_agree_with_alone(snapshot, question) == [KEYS]


def test_a_bucket_policy_deny_on_some_objects_splits_the_prefix_in_two_classes():
    """A Deny on part-01* in the bucket policy: the ten objects it misses are one class, the two
    it matches another, each answered as when analysed alone."""
    snapshot, question = prefix_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), DENY_LATE_PARTS),
        key=make_key(policy=KEY_POLICY_WITHOUT_THE_ROLE),
    )
    assert classes_agree_with_alone(snapshot, question) == [KEYS[:10], KEYS[10:]]


def test_an_identity_policy_naming_part_of_the_prefix_splits_it_where_it_matches():
    """The role may read part-00? objects only (a Resource naming part of the prefix): allowed
    and refused objects fall in two classes, whatever their order in the listing."""
    scoped = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{BUCKET_ARN}/{PREFIX}part-00?.parquet",
            },
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
        ],
    }
    principal = make_principal(
        ROLE_ARN, session_arn=None, source="role_arn", inline={"Scoped": scoped}
    )
    snapshot, question = prefix_snapshot()
    snapshot.principals[ROLE_ARN] = principal
    classes = classes_agree_with_alone(snapshot, question)
    assert classes == [KEYS[:10], KEYS[10:]]
    verdicts = [found.diagnosis.verdict for found in answer_by_class(snapshot, question)]
    assert verdicts == ["allow", "deny"]


def test_an_encryption_context_condition_makes_each_object_its_own_class():
    condition = {
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": f"{BUCKET_ARN}/{PREFIX}part-00*"}
    }
    policy = key_policy(allow_role_decrypt_statement(condition=condition))
    snapshot, question = prefix_snapshot(key=make_key(policy=policy))
    assert classes_agree_with_alone(snapshot, question) == [[key] for key in KEYS]
