"""Attribute-based access control: the role's tags (aws:PrincipalTag/K) and the key's tags
(aws:ResourceTag/K on the KMS request). Tags that could not be read leave the conditions that
test them undecided (`unknown`), never evaluated as if the role or key were untagged."""

from __future__ import annotations

from kmsdoctor.snapshot import CallError, EntityInfo, Fetched
from tests.analyze.factories import (
    READ_LAKE_STATEMENT,
    ROLE_ARN,
    ROLE_ID,
    B,
    allow_role_decrypt_statement,
    diagnose,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    only,
    statuses,
    unknown,
)

TEAM_BI = {"StringEquals": {"aws:PrincipalTag/team": "bi"}}
KEY_POLICY_TEAM_BI = key_policy(
    allow_role_decrypt_statement(
        principal=f"arn:aws:iam::{B}:root", sid="AllowTeamBIDecrypt", condition=TEAM_BI
    )
)
DELEGATE_TO_B = key_policy(
    allow_role_decrypt_statement(principal=f"arn:aws:iam::{B}:root", sid="DelegateToAccountB")
)
DECRYPT_PROJECT_KEYS = identity_policy(
    READ_LAKE_STATEMENT,
    {
        "Sid": "DecryptProjectKeys",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/project": "datalake"}},
    },
)


def _team_bi_snapshot(principal):
    return make_snapshot(key=make_key(policy=KEY_POLICY_TEAM_BI), principals=[principal])


def test_key_policy_admitting_team_bi_opens_for_the_role_tagged_team_bi():
    result = only(diagnose(_team_bi_snapshot(make_principal(tags={"team": "bi"}))))
    assert result.verdict == "allow"
    assert statuses(result)["key_policy"] == "allow"


def test_key_policy_admitting_team_bi_shuts_for_the_untagged_role_naming_the_condition():
    result = only(diagnose(_team_bi_snapshot(make_principal())))
    assert result.verdict == "deny"
    lock = result.locks["key_policy"]
    assert lock.status == "implicit_deny"
    assert "aws:PrincipalTag/team" in lock.reason


def test_key_policy_admitting_team_bi_shuts_for_a_role_tagged_another_team():
    result = only(diagnose(_team_bi_snapshot(make_principal(tags={"team": "finance"}))))
    assert statuses(result)["key_policy"] == "implicit_deny"


def test_role_whose_tags_could_not_be_read_leaves_the_team_condition_unknown():
    entity = Fetched.unknown(CallError("iam:GetRole", "AccessDenied", "not authorized"))
    result = only(diagnose(_team_bi_snapshot(make_principal(entity=entity))))
    assert result.verdict == "unknown"
    lock = result.locks["key_policy"]
    assert lock.status == "unknown"
    assert "aws:PrincipalTag/team" in lock.reason and "iam:GetRole" in lock.reason


def test_snapshot_written_before_tags_were_read_leaves_the_team_condition_unknown():
    entity = Fetched.ok(EntityInfo(name="BIAnalyticsRole", arn=ROLE_ARN, unique_id=ROLE_ID))
    assert entity.value is not None and entity.value.tags is None
    result = only(diagnose(_team_bi_snapshot(make_principal(entity=entity))))
    assert result.locks["key_policy"].status == "unknown"
    assert "before tags were read" in result.locks["key_policy"].reason


def test_unreadable_role_tags_do_not_matter_to_a_policy_that_does_not_test_them():
    entity = Fetched.ok(EntityInfo(name="BIAnalyticsRole", arn=ROLE_ARN, unique_id=ROLE_ID))
    result = only(diagnose(make_snapshot(principals=[make_principal(entity=entity)])))
    assert result.verdict == "allow"


def test_a_deny_that_does_not_test_the_unknown_tag_still_decides():
    deny_all = {
        "Sid": "DenyEveryone",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    policy = key_policy(KEY_POLICY_TEAM_BI["Statement"][1], deny_all)
    entity = Fetched.ok(EntityInfo(name="BIAnalyticsRole", arn=ROLE_ARN, unique_id=ROLE_ID))
    snapshot = make_snapshot(
        key=make_key(policy=policy), principals=[make_principal(entity=entity)]
    )
    assert statuses(only(diagnose(snapshot)))["key_policy"] == "explicit_deny"


def test_session_made_elsewhere_says_a_session_tag_would_override_the_role_tag():
    diagnosis = diagnose(_team_bi_snapshot(make_principal(tags={"team": "bi"})))
    (note,) = [n for n in diagnosis.notes if "session tag" in n]
    # It names the key the key policy tests, not every tag of the role.
    assert note.startswith(f"aws:PrincipalTag/team is taken from the tags of {ROLE_ARN}")


def test_session_tag_note_also_for_an_untagged_role_a_session_tag_could_supply_the_value():
    diagnosis = diagnose(_team_bi_snapshot(make_principal()))
    assert any("aws:PrincipalTag/team" in n and "session tag" in n for n in diagnosis.notes)


def test_no_session_tag_note_for_a_tagged_role_when_no_policy_tests_principal_tags():
    principal = make_principal(tags={"team": "bi", "cost-centre": "42"})
    diagnosis = diagnose(make_snapshot(principals=[principal]))
    assert only(diagnosis).verdict == "allow"
    assert not any("session tag" in n for n in diagnosis.notes)


def _project_snapshot(key_tags):
    principal = make_principal(inline={"ReadCuratedLake": DECRYPT_PROJECT_KEYS})
    key = make_key(policy=DELEGATE_TO_B, tags=key_tags)
    return make_snapshot(key=key, principals=[principal])


def test_identity_policy_requiring_project_tag_opens_for_the_key_tagged_project():
    result = only(diagnose(_project_snapshot({"project": "datalake"})))
    assert result.verdict == "allow"
    assert statuses(result)["identity"] == "allow"


def test_identity_policy_requiring_project_tag_shuts_for_the_untagged_key():
    result = only(diagnose(_project_snapshot({})))
    assert result.verdict == "deny"
    assert statuses(result)["identity"] == "implicit_deny"
    assert "aws:ResourceTag/project" in result.locks["identity"].reason


def test_key_tags_unreadable_leave_the_project_condition_unknown():
    result = only(diagnose(_project_snapshot(unknown("kms:ListResourceTags"))))
    assert result.verdict == "unknown"
    lock = result.locks["identity"]
    assert lock.status == "unknown"
    assert "aws:ResourceTag/project" in lock.reason and "kms:ListResourceTags" in lock.reason
