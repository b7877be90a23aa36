"""The configuration traps of docs/findings.md and the least-privilege problems of the references,
built as snapshots. One test per incident."""

from __future__ import annotations

from kmsdoctor.snapshot import BucketEncryption, Organization, VpcEndpoint
from tests.analyze.factories import (
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    ORG_ID,
    OTHER_ORG_ID,
    READ_LAKE_STATEMENT,
    REGION,
    ROLE_ARN,
    ROLE_ID,
    STALE_ROLE_ID,
    A,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    codes,
    decrypt_statement,
    diagnose,
    endpoint,
    finding,
    grant,
    identity_policy,
    key_policy,
    make_key,
    make_object,
    make_principal,
    make_snapshot,
    only,
    statuses,
)


def _with_key_policy(*statements, **snapshot_kwargs):
    return only(
        diagnose(make_snapshot(key=make_key(policy=key_policy(*statements)), **snapshot_kwargs))
    )


# --- role deleted and re-created ---------------------------------------------------------------


def test_role_recreated_key_policy_shows_unique_id_and_shuts_key_policy():
    result = _with_key_policy(allow_role_decrypt_statement(principal=STALE_ROLE_ID))
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert "KD303" in codes(result)
    assert "KD301" not in codes(result)  # the specific finding explains it
    kd303 = finding(result, "KD303")
    assert STALE_ROLE_ID in kd303.detail
    assert ROLE_ID in kd303.detail
    assert kd303.fix.statement["Principal"] == {"AWS": ROLE_ARN}
    assert kd303.fix.statement["Sid"] == "AllowBIRoleDecrypt"


def test_role_recreated_bucket_policy_shows_unique_id_and_shuts_bucket_policy():
    policy = bucket_policy(allow_role_read_statement(principal=STALE_ROLE_ID))
    result = only(diagnose(make_snapshot(bucket_policy_doc=policy)))
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert codes(result).count("KD206") == 1
    assert "KD201" not in codes(result)
    assert finding(result, "KD206").fix.statement["Principal"] == {"AWS": ROLE_ARN}


# --- kms:ViaService ----------------------------------------------------------------------------


def test_key_policy_via_service_in_wrong_region_shuts_key_policy():
    condition = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    result = _with_key_policy(allow_role_decrypt_statement(condition=condition))
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert "KD304" in codes(result)
    assert "KD311" not in codes(result)
    kd304 = finding(result, "KD304")
    assert '"s3.us-east-1.amazonaws.com"' in kd304.detail
    assert '"s3.eu-west-1.amazonaws.com"' in kd304.detail
    assert kd304.fix.statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }


def test_key_policy_via_service_without_region_never_matches():
    condition = {"StringEquals": {"kms:ViaService": "s3.amazonaws.com"}}
    result = _with_key_policy(allow_role_decrypt_statement(condition=condition))
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert "KD304" in codes(result)


def test_key_policy_via_service_with_the_right_region_allows():
    condition = {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    result = _with_key_policy(allow_role_decrypt_statement(condition=condition))
    assert result.verdict == "allow"
    assert "KD304" not in codes(result)


def test_identity_policy_via_service_in_wrong_region_shuts_identity():
    statement = decrypt_statement()
    statement["Condition"] = {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}
    principal = make_principal(inline={"P": identity_policy(READ_LAKE_STATEMENT, statement)})
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert statuses(result)["identity"] == "implicit_deny"
    assert "KD108" in codes(result)
    assert finding(result, "KD108").fix.account == B


# --- aws:SourceVpce on a key policy ------------------------------------------------------------


def test_key_policy_source_vpce_allow_never_matches_the_s3_to_kms_call():
    condition = {"StringEquals": {"aws:SourceVpce": "vpce-0b1a2c3d"}}
    # Even with the caller behind that very endpoint, S3 makes the KMS call.
    result = _with_key_policy(
        allow_role_decrypt_statement(condition=condition), vpc_endpoints=[endpoint(None)]
    )
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert statuses(result)["bucket_policy"] == "allow"
    assert "KD305" in codes(result)
    assert "KD311" not in codes(result)
    fixed = finding(result, "KD305").fix.statement
    assert fixed["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


def test_key_policy_source_vpce_deny_always_applies_to_s3_calls():
    deny = {
        "Sid": "DenyOutsideVpce",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0b1a2c3d"}},
    }
    result = _with_key_policy(allow_role_decrypt_statement(), deny)
    assert statuses(result)["key_policy"] == "explicit_deny"
    assert {"KD302", "KD305"} <= set(codes(result))
    fixed = finding(result, "KD305").fix.statement
    assert fixed["Condition"]["Bool"] == {"aws:ViaAWSService": "false"}
    assert fixed["Condition"]["StringNotEquals"] == {"aws:SourceVpce": "vpce-0b1a2c3d"}


# --- aws:PrincipalOrgID ------------------------------------------------------------------------

ORG_STATEMENT = {
    "Sid": "AllowOrgMembersToDecrypt",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:DescribeKey"],
    "Resource": "*",
    "Condition": {
        "StringEquals": {
            "aws:PrincipalOrgID": ORG_ID,
            "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        }
    },
}


def test_key_policy_org_condition_fails_when_b_is_in_another_org():
    result = _with_key_policy(ORG_STATEMENT, target_org=Organization(OTHER_ORG_ID))
    assert statuses(result)["key_policy"] == "implicit_deny"
    kd306 = finding(result, "KD306")
    assert OTHER_ORG_ID in kd306.detail
    assert ORG_ID in kd306.detail
    assert kd306.fix.statement["Principal"] == {"AWS": ROLE_ARN}
    assert "KD311" not in codes(result)


def test_key_policy_org_condition_fails_when_b_is_in_no_org():
    result = _with_key_policy(ORG_STATEMENT)
    assert "KD306" in codes(result)
    assert "is not in any organization" in finding(result, "KD306").detail


def test_key_policy_org_condition_allows_a_member_of_the_org():
    result = _with_key_policy(ORG_STATEMENT, target_org=Organization(ORG_ID))
    assert result.verdict == "allow"
    assert "KD306" not in codes(result)
    assert "KD310" not in codes(result)  # "*" with conditions is not flagged


def test_bucket_policy_org_condition_fails_when_b_is_in_another_org():
    statement = allow_role_read_statement(principal="*", sid="AllowOrgRead")
    statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}
    result = only(
        diagnose(
            make_snapshot(
                bucket_policy_doc=bucket_policy(statement), target_org=Organization(OTHER_ORG_ID)
            )
        )
    )
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert "KD205" in codes(result)
    assert "KD207" not in codes(result)


# --- S3 Bucket Key and the encryption context -----------------------------------------------------


def _bucket_key_snapshot(condition_values, grants=(), with_statement=True):
    condition = {"StringLike": {"kms:EncryptionContext:aws:s3:arn": condition_values}}
    statements = [allow_role_decrypt_statement(condition=condition)] if with_statement else []
    return make_snapshot(
        key=make_key(policy=key_policy(*statements), grants=grants),
        obj=make_object(bucket_key_enabled=True),
        encryption=BucketEncryption("aws:kms", KEY_ARN, True),
    )


def test_bucket_key_makes_object_arn_condition_fail():
    result = only(diagnose(_bucket_key_snapshot(f"{BUCKET_ARN}/sales/*")))
    assert statuses(result)["key_policy"] == "implicit_deny"
    kd307 = finding(result, "KD307")
    assert BUCKET_ARN in kd307.detail
    assert kd307.fix.statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        f"{BUCKET_ARN}/sales/*",
        BUCKET_ARN,
    ]
    assert "KD311" not in codes(result)


def test_bucket_key_with_bucket_arn_condition_allows():
    result = only(diagnose(_bucket_key_snapshot(BUCKET_ARN)))
    assert result.verdict == "allow"


def test_object_arn_condition_matches_without_bucket_key():
    condition = {"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"{BUCKET_ARN}/sales/*"}}
    result = _with_key_policy(allow_role_decrypt_statement(condition=condition))
    assert result.verdict == "allow"


def test_bucket_key_makes_grant_context_constraint_fail():
    constraint = {"EncryptionContextEquals": {"aws:s3:arn": OBJECT_ARN}}
    snapshot = _bucket_key_snapshot(
        "unused", grants=[grant(constraints=constraint)], with_statement=False
    )
    result = only(diagnose(snapshot))
    assert statuses(result)["key_policy"] == "implicit_deny"
    kd307 = finding(result, "KD307")
    assert "g-0001" in kd307.detail
    assert kd307.fix.statement is None
    assert "list-grants" in kd307.fix.show_current[0]


# --- grants --------------------------------------------------------------------------------------


def test_grant_opens_the_key_when_the_key_policy_does_not_name_the_caller():
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy(), grants=[grant()]))))
    assert result.verdict == "allow"
    assert statuses(result)["key_policy"] == "allow"
    assert "grant g-0001" in result.locks["key_policy"].reason
    assert "KD312" in codes(result)


def test_grant_without_decrypt_does_not_open_the_key():
    snapshot = make_snapshot(
        key=make_key(policy=key_policy(), grants=[grant(operations=("Encrypt", "GenerateDataKey"))])
    )
    result = only(diagnose(snapshot))
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert "Decrypt is not among them" in finding(result, "KD301").detail


def test_grant_never_lifts_a_key_policy_deny():
    deny = {
        "Sid": "DenyAll",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    result = only(diagnose(make_snapshot(key=make_key(policy=key_policy(deny), grants=[grant()]))))
    assert statuses(result)["key_policy"] == "explicit_deny"


# --- alias ARNs --------------------------------------------------------------------------------


def test_identity_policy_names_alias_arn_for_decrypt_never_matches():
    alias_arn = f"arn:aws:kms:{REGION}:{A}:alias/datalake"
    principal = make_principal(
        inline={"P": identity_policy(READ_LAKE_STATEMENT, decrypt_statement(resource=alias_arn))}
    )
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert statuses(result)["identity"] == "implicit_deny"
    assert {"KD101", "KD104"} <= set(codes(result))
    kd104 = finding(result, "KD104")
    assert alias_arn in kd104.detail
    assert kd104.fix.statement["Resource"] == KEY_ARN


def test_bucket_default_encryption_given_as_alias_warns():
    snapshot = make_snapshot(encryption=BucketEncryption("aws:kms", "alias/datalake", False))
    result = only(diagnose(snapshot))
    assert result.verdict == "allow"  # the object records the key ARN: reads still work
    kd506 = finding(result, "KD506")
    assert "requester's account" in kd506.detail
    rule = kd506.fix.statement["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["KMSMasterKeyID"] == "KEY_ARN" or rule["KMSMasterKeyID"] == KEY_ARN


def test_bucket_default_alias_on_no_object_analysis_points_at_the_key_arn():
    key = make_key(found_on="bucket_default", reference="alias/datalake")
    snapshot = make_snapshot(
        key=key, object_key=None, encryption=BucketEncryption("aws:kms", "alias/datalake", False)
    )
    result = only(diagnose(snapshot))
    rule = finding(result, "KD506").fix.statement["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY_ARN


# --- broad principals and resources --------------------------------------------------------------


def test_key_policy_account_root_principal_works_but_warns():
    result = _with_key_policy(allow_role_decrypt_statement(principal=f"arn:aws:iam::{B}:root"))
    assert result.verdict == "allow"
    kd309 = finding(result, "KD309")
    assert kd309.severity == "warning"
    assert kd309.fix.statement["Principal"] == {"AWS": ROLE_ARN}


def test_account_root_of_a_in_key_policy_is_not_flagged():
    result = _with_key_policy(allow_role_decrypt_statement())
    assert "KD309" not in codes(result)


def test_key_policy_star_principal_without_condition_warns():
    result = _with_key_policy(allow_role_decrypt_statement(principal="*"))
    assert result.verdict == "allow"
    assert "KD310" in codes(result)


def test_bucket_policy_account_root_and_star_without_condition_warn():
    policy = bucket_policy(
        allow_role_read_statement(principal=B, sid="AllowAccountB"),
        allow_role_read_statement(principal="*", sid="AllowEveryone"),
    )
    result = only(diagnose(make_snapshot(bucket_policy_doc=policy)))
    assert result.verdict == "allow"
    assert {"KD203", "KD204"} <= set(codes(result))
    assert '"AllowAccountB"' in finding(result, "KD203").detail


def test_identity_kms_statement_with_resource_star_warns():
    principal = make_principal(
        inline={"P": identity_policy(READ_LAKE_STATEMENT, decrypt_statement(resource="*"))}
    )
    result = only(diagnose(make_snapshot(principals=[principal])))
    assert result.verdict == "allow"
    kd105 = finding(result, "KD105")
    assert kd105.fix.statement["Resource"] == KEY_ARN


# --- conditions that do not match, in general ----------------------------------------------------


def test_key_policy_statement_with_wrong_caller_account_condition():
    condition = {"StringEquals": {"kms:CallerAccount": "333333333333"}}
    result = _with_key_policy(allow_role_decrypt_statement(condition=condition))
    assert statuses(result)["key_policy"] == "implicit_deny"
    kd311 = finding(result, "KD311")
    assert '"333333333333"' in kd311.detail
    assert f'"{B}"' in kd311.detail


def test_bucket_policy_requires_source_vpce_the_caller_does_not_use():
    statement = allow_role_read_statement()
    statement["Condition"] = {"StringEquals": {"aws:SourceVpce": "vpce-0other"}}
    result = only(diagnose(make_snapshot(bucket_policy_doc=bucket_policy(statement))))
    assert statuses(result)["bucket_policy"] == "implicit_deny"
    assert "KD207" in codes(result)


def test_bucket_policy_source_vpce_matches_when_the_caller_uses_that_endpoint():
    statement = allow_role_read_statement()
    statement["Condition"] = {"StringEquals": {"aws:SourceVpce": "vpce-0b1a2c3d"}}
    endpoints: list[VpcEndpoint] = [endpoint(None)]
    snapshot = make_snapshot(bucket_policy_doc=bucket_policy(statement), vpc_endpoints=endpoints)
    result = only(diagnose(snapshot))
    assert result.verdict == "allow"
