"""Ceilings (SCP, RCP, boundary, session policy, VPC endpoint) and what happens when a fact
could not be read."""

from __future__ import annotations

from kmsdoctor.snapshot import CallError, Fetched, Organization
from tests.analyze.factories import (
    ABSENT,
    FULL_ACCESS_SCP,
    KEY_ARN,
    READ_LAKE_STATEMENT,
    A,
    B,
    codes,
    decrypt_statement,
    diagnose,
    endpoint,
    finding,
    identity_policy,
    key_policy,
    level,
    make_key,
    make_principal,
    make_snapshot,
    only,
    statuses,
    unknown,
)

DENY_KMS_OUTSIDE_ORG = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyKeysOutsideOrg",
            "Effect": "Deny",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceOrgID": "o-exampleorg"}},
        }
    ],
}


def test_scp_denying_keys_outside_the_org_shuts_scp():
    scps = [level("ROOT", "Root", FULL_ACCESS_SCP, DENY_KMS_OUTSIDE_ORG)]
    result = only(
        diagnose(make_snapshot(scps=scps, target_org=Organization("o-exampleorg", "999999999999")))
    )
    assert statuses(result)["scp"] == "explicit_deny"
    kd401 = finding(result, "KD401")
    assert '"DenyKeysOutsideOrg"' in kd401.detail
    assert "SERVICE_CONTROL_POLICY" in kd401.fix.show_current[0]
    assert "service control policy" in result.locks["scp"].evidence.cloudtrail


def test_scp_allow_list_without_kms_shuts_scp_implicitly():
    only_s3 = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    scps = [
        level("ROOT", "Root", FULL_ACCESS_SCP),
        level("ORGANIZATIONAL_UNIT", "Analytics", only_s3),
    ]
    result = only(
        diagnose(make_snapshot(scps=scps, target_org=Organization("o-exampleorg", "999999999999")))
    )
    assert statuses(result)["scp"] == "implicit_deny"
    assert "KD401" in codes(result)


def test_scps_unreadable_from_a_member_account_do_not_make_the_verdict_unknown():
    scps = unknown("organizations:ListPoliciesForTarget")
    diagnosis = diagnose(
        make_snapshot(scps=scps, target_org=Organization("o-exampleorg", "999999999999"))
    )
    result = only(diagnosis)
    assert statuses(result)["scp"] == "unknown"
    assert diagnosis.verdict == "allow"
    assert diagnosis.exit_code == 0
    reason = result.locks["scp"].reason
    assert "ListPoliciesForTarget failed with AccessDeniedException" in reason
    assert "does not let this alone make the verdict unknown" in reason


def test_scps_do_not_apply_to_the_management_account():
    scps = [level("ROOT", "Root", DENY_KMS_OUTSIDE_ORG)]
    result = only(diagnose(make_snapshot(scps=scps, target_org=Organization("o-exampleorg", B))))
    assert statuses(result)["scp"] == "not_applicable"


def test_rcp_denying_principals_outside_the_org_shuts_rcp():
    rcp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnforceOrgIdentities",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*", "kms:*"],
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-exampleorg"}},
            }
        ],
    }
    full = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    }
    rcps = [level("ROOT", "Root", full, rcp)]
    snapshot = make_snapshot(rcps=rcps, source_org=Organization("o-exampleorg", "999999999999"))
    result = only(diagnose(snapshot))
    assert statuses(result)["rcp"] == "explicit_deny"
    assert "KD402" in codes(result)
    actions = {r.action for r in result.locks["rcp"].evidence.requests}
    assert actions == {"s3:GetObject", "kms:Decrypt"}


def test_permissions_boundary_without_kms_decrypt_shuts_the_boundary():
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    principal = make_principal(boundary=boundary)
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert result.verdict == "deny"
    assert statuses(result)["permissions_boundary"] == "implicit_deny"
    assert statuses(result)["identity"] == "allow"
    kd403 = finding(result, "KD403")
    assert kd403.fix.statement == {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN}


def test_session_policy_without_kms_decrypt_shuts_the_session():
    session = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    result = only(diagnose(make_snapshot(principals=[make_principal(session_policy=session)])))
    assert statuses(result)["session_policy"] == "implicit_deny"
    assert "KD404" in codes(result)


def test_session_made_elsewhere_is_unknown_but_not_deciding():
    principal = make_principal(session_policy=unknown("sts:AssumeRole", "SessionPolicyNotVisible"))
    diagnosis = diagnose(make_snapshot(principals=[principal]))
    assert statuses(only(diagnosis))["session_policy"] == "unknown"
    assert diagnosis.verdict == "allow"


def test_vpc_endpoint_policy_limited_to_other_buckets_shuts_the_endpoint():
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b-team-*",
            }
        ],
    }
    result = only(diagnose(make_snapshot(vpc_endpoints=[endpoint(policy)])))
    assert statuses(result)["vpc_endpoint"] == "implicit_deny"
    kd405 = finding(result, "KD405")
    assert "describe-vpc-endpoints" in kd405.fix.show_current[0]
    # Only the S3 request passes the caller's endpoint; S3 calls KMS itself.
    actions = [r.action for r in result.locks["vpc_endpoint"].evidence.requests]
    assert actions == ["s3:GetObject"]


def test_vpc_endpoint_with_the_default_policy_allows():
    result = only(diagnose(make_snapshot(vpc_endpoints=[endpoint(None)])))
    assert statuses(result)["vpc_endpoint"] == "allow"
    assert result.verdict == "allow"


# --- unknowns ------------------------------------------------------------------------------------


def test_unreadable_identity_policies_make_the_verdict_unknown_exit_3():
    principal = make_principal(inline=unknown("iam:ListRolePolicies"))
    diagnosis = diagnose(make_snapshot(principals=[principal]))
    result = only(diagnosis)
    assert statuses(result)["identity"] == "unknown"
    assert (
        "iam:ListRolePolicies failed with AccessDeniedException" in result.locks["identity"].reason
    )
    assert diagnosis.verdict == "unknown"
    assert diagnosis.exit_code == 3


def test_known_explicit_deny_decides_even_when_other_identity_policies_are_unreadable():
    deny = {"Sid": "NoKms", "Effect": "Deny", "Action": "kms:*", "Resource": "*"}
    principal = make_principal(
        inline={"P": identity_policy(READ_LAKE_STATEMENT, decrypt_statement(), deny)},
        attached=unknown("iam:ListAttachedRolePolicies"),
    )
    diagnosis = diagnose(make_snapshot(principals=[principal]))
    assert statuses(only(diagnosis))["identity"] == "explicit_deny"
    assert diagnosis.verdict == "deny"


def test_unreadable_key_policy_makes_the_key_policy_lock_unknown():
    key = make_key(policy=unknown("kms:GetKeyPolicy"))
    diagnosis = diagnose(make_snapshot(key=key))
    assert statuses(only(diagnosis))["key_policy"] == "unknown"
    assert diagnosis.exit_code == 3


def test_unreadable_grants_leave_a_silent_key_policy_unknown():
    key = make_key(policy=key_policy(), grants=unknown("kms:ListGrants"))
    diagnosis = diagnose(make_snapshot(key=key))
    result = only(diagnosis)
    assert statuses(result)["key_policy"] == "unknown"
    assert "a grant could still allow it" in result.locks["key_policy"].reason


def test_malformed_bucket_policy_is_unknown_with_the_place():
    broken = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*", "Principal": "*"}],
    }
    diagnosis = diagnose(make_snapshot(bucket_policy_doc=broken))
    result = only(diagnosis)
    assert statuses(result)["bucket_policy"] == "unknown"
    assert "Statement[0]" in result.locks["bucket_policy"].reason


def test_deny_anywhere_beats_an_unknown_elsewhere():
    key = make_key(state="Disabled", policy=unknown("kms:GetKeyPolicy"))
    diagnosis = diagnose(make_snapshot(key=key))
    assert diagnosis.verdict == "deny"
    assert diagnosis.exit_code == 1


def test_role_that_does_not_exist_shuts_identity():
    entity = Fetched.absent(CallError("iam:GetRole", "NoSuchEntity"))
    principal = make_principal(entity=entity, inline={}, attached={})
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert statuses(result)["identity"] == "implicit_deny"
    assert "KD107" in codes(result)


def test_source_account_id_comes_from_the_key_when_a_cannot_say_who_it_is():
    snapshot = make_snapshot(bucket_policy_doc=ABSENT)
    snapshot.source.account_id = unknown("sts:GetCallerIdentity")
    result = only(diagnose(snapshot))
    # Still understood as cross-account: no bucket policy shuts the lock, fixed in A.
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert finding(result, "KD201").fix.account == A
