"""The three locks and the failure traces of the references: identity (B), bucket policy (A),
key policy (A). One test per incident, named after it."""

from __future__ import annotations

from tests.analyze.factories import (
    ABSENT,
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    READ_LAKE_STATEMENT,
    ROLE_ARN,
    A,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    codes,
    decrypt_statement,
    diagnose,
    finding,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    only,
    statuses,
)


def test_healthy_cross_account_read_allows_with_every_lock_open():
    diagnosis = diagnose(make_snapshot())
    principal = only(diagnosis)
    locks = statuses(principal)
    assert diagnosis.verdict == "allow"
    assert diagnosis.exit_code == 0
    assert locks["identity"] == "allow"
    assert locks["bucket_policy"] == "allow"
    assert locks["key_policy"] == "allow"
    assert locks["key_state"] == "allow"
    assert locks["object"] == "allow"
    assert [f for f in principal.findings if f.severity == "error"] == []


def test_identity_missing_kms_decrypt_shuts_identity_lock_recorded_in_b():
    """Failure A: bucket and key policy allow; the role's own policy has no kms:Decrypt."""
    principal = make_principal(inline={"ReadCuratedLake": identity_policy(READ_LAKE_STATEMENT)})
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert result.verdict == "deny"
    assert statuses(result)["identity"] == "implicit_deny"
    assert statuses(result)["bucket_policy"] == "allow"
    assert statuses(result)["key_policy"] == "allow"
    kd101 = finding(result, "KD101")
    assert KEY_ARN in kd101.detail
    assert kd101.fix is not None
    assert kd101.fix.account == B
    assert kd101.fix.statement == {
        "Sid": "UseDatalakeCuratedAKey",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KEY_ARN,
    }
    assert any(
        "list-role-policies --role-name BIAnalyticsRole" in c for c in kd101.fix.show_current
    )
    hint = result.locks["identity"].evidence.cloudtrail
    assert f"B's trail ({B})" in hint
    assert "Decrypt" in hint


def test_bucket_policy_missing_bi_role_shuts_bucket_policy_lock_only_in_a_s3_data_events():
    """Failure B: the bucket policy names another role; S3 denies before KMS is called."""
    policy = bucket_policy(allow_role_read_statement(f"arn:aws:iam::{B}:role/ETLRole", "AllowETL"))
    result = only(diagnose(make_snapshot(bucket_policy_doc=policy)))
    assert result.verdict == "deny"
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert statuses(result)["identity"] == "allow"
    kd201 = finding(result, "KD201")
    assert "ETLRole (AllowETL)" in kd201.detail
    assert kd201.fix.account == A
    assert kd201.fix.statement == {
        "Sid": "AllowBIAnalyticsRoleRead",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE_ARN},
        "Action": "s3:GetObject",
        "Resource": OBJECT_ARN,
    }
    assert kd201.fix.show_current == [
        "aws s3api get-bucket-policy --bucket datalake-curated-a --profile a"
    ]
    hint = result.locks["bucket_policy"].evidence.cloudtrail
    assert "only in A's S3 data events" in hint
    assert "No KMS event" in hint


def test_no_bucket_policy_at_all_shuts_bucket_policy_lock_for_cross_account_caller():
    result = only(diagnose(make_snapshot(bucket_policy_doc=ABSENT)))
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert "KD201" in codes(result)
    assert "There is no bucket policy" in finding(result, "KD201").detail


def test_key_policy_missing_bi_role_shuts_key_policy_lock_recorded_in_a():
    """Failure C: the key policy has only the default root-of-A statement."""
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy()))))
    assert result.verdict == "deny"
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert statuses(result)["identity"] == "allow"
    kd301 = finding(result, "KD301")
    assert f"arn:aws:iam::{A}:root (EnableRootOfAccountA)" in kd301.detail
    assert "never delegates to IAM in another account" in kd301.detail
    assert kd301.fix.account == A
    assert kd301.fix.statement["Principal"] == {"AWS": ROLE_ARN}
    assert kd301.fix.statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    assert kd301.fix.show_current == [
        f"aws kms get-key-policy --key-id {KEY_ARN} --policy-name default --output text "
        "--profile a --region eu-west-1"
    ]
    hint = result.locks["key_policy"].evidence.cloudtrail
    assert f"A's trail ({A})" in hint


def test_key_policy_explicit_deny_wins_over_allow():
    deny = {
        "Sid": "DenyOutsideOrg",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
    }
    result = only(
        diagnose(
            make_snapshot(key=make_key(policy=key_policy(allow_role_decrypt_statement(), deny)))
        )
    )
    assert statuses(result)["key_policy"] == "explicit_deny"
    kd302 = finding(result, "KD302")
    assert '"DenyOutsideOrg"' in kd302.detail
    assert "aws:PrincipalOrgID" in kd302.detail


def test_identity_explicit_deny_on_kms_shuts_identity_lock():
    deny = {
        "Sid": "DenyUntaggedKeys",
        "Effect": "Deny",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:ResourceTag/team": "bi"}},
    }
    principal = make_principal(
        inline={"ReadCuratedLake": identity_policy(READ_LAKE_STATEMENT, decrypt_statement(), deny)}
    )
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert statuses(result)["identity"] == "explicit_deny"
    kd103 = finding(result, "KD103")
    assert '"DenyUntaggedKeys"' in kd103.detail
    assert kd103.fix.statement["Sid"] == "DenyUntaggedKeys"


def test_identity_missing_s3_get_object_shuts_identity_lock_at_s3():
    principal = make_principal(inline={"KmsOnly": identity_policy(decrypt_statement())})
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert statuses(result)["identity"] == "implicit_deny"
    assert "KD102" in codes(result)
    assert "KD101" not in codes(result)
    hint = result.locks["identity"].evidence.cloudtrail
    assert "the request stopped at S3" in hint


def test_bucket_policy_explicit_deny_outside_vpc_shuts_bucket_policy():
    """The Deny also covers A's own reads; here the object is known, so only the lock shuts."""
    deny = {
        "Sid": "DenyOutsideVpc",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}},
    }
    policy = bucket_policy(allow_role_read_statement(), deny)
    result = only(diagnose(make_snapshot(bucket_policy_doc=policy)))
    assert statuses(result)["bucket_policy"] == "explicit_deny"
    kd202 = finding(result, "KD202")
    assert '"DenyOutsideVpc"' in kd202.detail
    assert "aws:SourceVpce" in kd202.detail
    assert kd202.fix.statement["Sid"] == "DenyOutsideVpc"


def test_deny_in_a_managed_policy_is_named_not_the_allow_of_the_inline_policy():
    """The incident: the role's inline policy allows kms:Decrypt, and a managed policy attached
    to it by the platform team denies it outside the team's keys. The identity lock said
    "explicitly denied by DecryptWithPlatformKey in inline policy ReadCuratedLake" — the Allow —
    and on-call went looking in the wrong policy. The reason and the evidence name the Deny."""
    deny = {
        "Sid": "DenyKeysOfOtherTeams",
        "Effect": "Deny",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:ResourceTag/team": "bi"}},
    }
    principal = make_principal(
        inline={"ReadCuratedLake": identity_policy(READ_LAKE_STATEMENT, decrypt_statement())},
        attached={"PlatformGuardrails": identity_policy(deny)},
    )
    result = only(diagnose(make_snapshot(principals=[principal])))
    identity = result.locks["identity"]
    assert identity.status == "explicit_deny"
    assert "explicitly denied by DenyKeysOfOtherTeams in managed policy PlatformGuardrails" in (
        identity.reason
    )
    assert "DecryptWithPlatformKey" not in identity.reason
    kms = next(r for r in identity.evidence.requests if r.action == "kms:Decrypt")
    assert [(s.policy, s.statement, s.effect) for s in kms.statements] == [
        ("managed policy PlatformGuardrails", "DenyKeysOfOtherTeams", "Deny")
    ]
