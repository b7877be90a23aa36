"""Principals outside the listed accounts, found in A's bucket and key policies and grants:
what opens to them, what is still shut on A's side, and what could not be walked."""

from __future__ import annotations

from kmsdoctor.analyze.whocan import category_of, outside_principals
from kmsdoctor.snapshot import EntityInfo, Fetched
from tests.analyze.factories import (
    BUCKET_ARN,
    B,
    allow_role_decrypt_statement,
    bucket_policy,
    grant,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    unknown,
)

PARTNER = "333333333333"
PARTNER_ROLE = f"arn:aws:iam::{PARTNER}:role/PartnerReader"


def read_statement(principal, sid: str, **extra):
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET_ARN}/*",
        **extra,
    }


def outside_of(snapshot, readable=frozenset({"111111111111", B}), unreadable=None):
    outside, notes = outside_principals(snapshot, set(readable), dict(unreadable or {}))
    return {o.principal: o for o in outside}, notes


def test_a_partner_role_let_in_by_both_policies_is_open_on_a_side():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER_ROLE}, "PartnerRead")),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(PARTNER_ROLE, "Partner"))),
    )
    outside, _ = outside_of(snapshot)
    partner = outside[PARTNER_ROLE]
    assert (partner.kind, partner.account, partner.resource_side) == ("role", PARTNER, "open")
    assert [o.statement for o in partner.openings] == [
        "bucket policy PartnerRead",
        "key policy Partner",
    ]


def test_a_grant_opens_the_key_half_for_an_outside_role():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER_ROLE}, "PartnerRead")),
        key=make_key(grants=[grant(grantee=PARTNER_ROLE, operations=["Decrypt"])]),
    )
    outside, _ = outside_of(snapshot)
    assert outside[PARTNER_ROLE].resource_side == "open"
    assert {o.where for o in outside[PARTNER_ROLE].openings} == {"bucket_policy", "grant"}


def test_a_deny_for_everyone_outside_the_org_is_shown_with_its_condition():
    deny = {
        "Sid": "DenyOutsideOrg",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": f"{BUCKET_ARN}/*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
    }
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER}, "PartnerRead"), deny)
    )
    outside, _ = outside_of(snapshot)
    assert outside[f"arn:aws:iam::{PARTNER}:root"].denied_by == [
        "bucket policy DenyOutsideOrg when StringNotEquals aws:PrincipalOrgID o-exampleorg"
    ]


def test_statements_for_other_objects_or_actions_open_nothing():
    other_prefix = read_statement({"AWS": PARTNER}, "OtherPrefix")
    other_prefix["Resource"] = f"{BUCKET_ARN}/finance/*"
    put_only = read_statement({"AWS": PARTNER_ROLE}, "PutOnly", Action="s3:PutObject")
    put_only["Action"] = "s3:PutObject"
    snapshot = make_snapshot(bucket_policy_doc=bucket_policy(other_prefix, put_only))
    outside, _ = outside_of(snapshot)
    assert outside == {}


def test_a_deleted_principal_and_a_service_are_told_apart():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(
            read_statement({"AWS": "AROAEXAMPLESTALE00001"}, "Stale"),
            read_statement({"Service": "logging.s3.amazonaws.com"}, "Logs"),
        )
    )
    outside, _ = outside_of(snapshot)
    assert outside["AROAEXAMPLESTALE00001"].kind == "unique_id"
    assert outside["logging.s3.amazonaws.com"].kind == "service"


def test_an_unreadable_bucket_policy_is_a_note_not_a_guess():
    snapshot = make_snapshot(bucket_policy_doc=unknown("s3:GetBucketPolicy"))
    outside, notes = outside_of(snapshot)
    assert outside == {}
    assert notes == [
        "the bucket policy could not be read (s3:GetBucketPolicy failed with "
        "AccessDeniedException): who else it opens to is unknown"
    ]


def test_a_principal_of_an_account_that_could_not_be_listed_is_outside():
    snapshot = make_snapshot()  # the healthy policies name BIAnalyticsRole in B
    outside, _ = outside_of(
        snapshot, readable={"111111111111"}, unreadable={B: "iam:... failed with AccessDenied"}
    )
    role = outside[f"arn:aws:iam::{B}:role/BIAnalyticsRole"]
    assert role.why_outside.startswith(f"account {B} could not be listed")
    assert role.resource_side == "open"


def test_a_role_both_a_service_and_an_account_may_assume_is_not_set_apart():
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com", "AWS": f"arn:aws:iam::{B}:root"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    entity = EntityInfo(name="Mixed", arn=f"arn:aws:iam::{B}:role/Mixed", unique_id="AROAX")
    entity.trust_policy = trust
    mixed = make_principal(entity.arn, entity=Fetched.ok(entity))
    assert category_of(mixed) == "principal"
    entity.trust_policy = {"Statement": [{**trust["Statement"][0], "Principal": {"Service": "x"}}]}
    assert category_of(mixed) == "aws_service"


def test_a_principal_whose_policies_cannot_be_read_is_undecided_not_denied():
    from kmsdoctor.analyze.whocan import who_can
    from kmsdoctor.snapshot import Snapshot
    from tests.analyze.factories import BUCKET, OBJECT_KEY, ROLE_ARN

    hidden = make_principal(
        f"arn:aws:iam::{B}:role/HiddenRole",
        attached=unknown("iam:GetPolicy"),
        session_arn=None,
        source="role_arn",
    )
    reader = make_principal(ROLE_ARN, session_arn=None, source="role_arn")
    b_root = f"arn:aws:iam::{B}:root"  # A lets B's account in: B's IAM decides
    view = make_snapshot(
        principals=[reader],
        bucket_policy_doc=bucket_policy(read_statement({"AWS": b_root}, "AccountB")),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(b_root, "AccountB"))),
    )
    snapshot = Snapshot.from_view(view)
    result = who_can(snapshot, BUCKET, OBJECT_KEY, "read", {B: Fetched.ok([reader, hidden])})
    answers = {p.principal: p for p in result.principals}
    assert answers[ROLE_ARN].verdict == "allow"
    assert answers[hidden.arn].verdict == "unknown"
    assert answers[hidden.arn].locks_unknown == ["identity"]
    assert "iam:GetPolicy failed with AccessDeniedException" in answers[hidden.arn].reason
    assert result.undecided() == [hidden.arn]
    assert not result.complete


def test_a_partner_role_in_the_bucket_policy_is_open_when_the_key_policy_names_its_account():
    # The common cross-account set-up: the role by name on one side, its account's root on the
    # other. The root delegates to the partner's IAM, so the role is let in on both halves.
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER_ROLE}, "PartnerRead")),
        key=make_key(
            policy=key_policy(
                allow_role_decrypt_statement(f"arn:aws:iam::{PARTNER}:root", "PartnerAccount")
            )
        ),
    )
    outside, _ = outside_of(snapshot)
    assert outside[PARTNER_ROLE].resource_side == "open"
    assert outside[f"arn:aws:iam::{PARTNER}:root"].resource_side == "partly"


def test_anyone_kept_to_the_listed_accounts_by_its_condition_is_not_outside():
    # The AWS-managed-key pattern: "*" with kms:CallerAccount; and a bucket policy for any
    # principal ARN of B.
    key_statement = allow_role_decrypt_statement("*", "AnyoneOfB")
    key_statement["Condition"] = {"StringEquals": {"kms:CallerAccount": B}}
    bucket_statement = read_statement(
        "*", "AnyRoleOfB", Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{B}:role/*"}}
    )
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(bucket_statement),
        key=make_key(policy=key_policy(key_statement)),
    )
    outside, _ = outside_of(snapshot)
    assert outside == {}
    # Not listed, B is outside again, and so is anyone the conditions let in from it.
    outside, _ = outside_of(snapshot, readable={"111111111111"})
    assert outside["*"].resource_side == "open"


def test_a_key_policy_that_cannot_be_read_leaves_the_resource_side_unknown_not_partly():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER_ROLE}, "PartnerRead")),
        key=make_key(policy=unknown("kms:GetKeyPolicy")),
    )
    outside, notes = outside_of(snapshot)
    assert outside[PARTNER_ROLE].resource_side == "unknown"
    assert outside[PARTNER_ROLE].missing.startswith("the key policy could not be read")
    assert notes[0].endswith("who else it opens to is unknown")


def test_a_deny_naming_the_partner_account_applies_to_its_roles():
    deny = {
        "Sid": "DenyPartner",
        "Effect": "Deny",
        "Principal": {"AWS": PARTNER},
        "Action": "s3:*",
        "Resource": f"{BUCKET_ARN}/*",
    }
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(read_statement({"AWS": PARTNER_ROLE}, "PartnerRead"), deny)
    )
    outside, _ = outside_of(snapshot)
    assert outside[PARTNER_ROLE].denied_by == ["bucket policy DenyPartner"]
    assert outside[PARTNER_ROLE].denied_always
