"""Fixes that are proven before they are shown (DESIGN §4, issue 14): each policy fix carries the
whole patched document and the command that would apply it, and the analysis re-run with that
document opens the lock for this principal and for nobody else. The fixes that used to be wrong
(KD311, KD205 with KD202, KD103, KD403) are here by name."""

from __future__ import annotations

import copy

from kmsdoctor.analyze import analyze_snapshot
from kmsdoctor.analyze.whatif import with_policy
from kmsdoctor.snapshot import Fetched, NamedPolicy, Organization, PolicyLevel
from tests.analyze.factories import (
    BUCKET_ARN,
    FULL_ACCESS_SCP,
    KEY_ARN,
    OBJECT_ARN,
    ROLE_ARN,
    A,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    diagnose,
    endpoint,
    finding,
    healthy_identity_policy,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    only,
)
from tests.helpers.proofs import count_re_analyses

ORG_DENY = {
    "Sid": "DenyOutsideOrg",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{BUCKET_ARN}/*",
    "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
}
ORG_ALLOW = {
    "Sid": "AllowOrgRead",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": "s3:GetObject",
    "Resource": f"{BUCKET_ARN}/*",
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
}


def _after(snapshot, fix):
    """The diagnosis once the fix's patched document is in place: the proof, re-done here."""
    return only(analyze_snapshot(with_policy(snapshot, fix.target, fix.patched_policy)))


def test_kd301_adds_the_statement_to_the_whole_key_policy_and_proves_it():
    snapshot = make_snapshot(key=make_key(policy=key_policy()))
    fix = finding(only(diagnose(snapshot)), "KD301").fix
    assert fix.target.kind == "key_policy" and fix.target.arn == KEY_ARN
    assert fix.patched_policy["Statement"][0]["Sid"] == "EnableRootOfAccountA"  # kept
    assert fix.patched_policy["Statement"][-1] == fix.statement
    assert fix.apply_command.startswith(f"aws kms put-key-policy --key-id {KEY_ARN}")
    assert fix.verified
    assert "from another role in 222222222222, from another account and from *" in (
        fix.verification
    )
    assert _after(snapshot, fix).verdict == "allow"


def test_kd205_and_kd202_in_one_bucket_policy_are_fixed_together():
    """The Allow KD205 adds would still be overridden by the org Deny in the same policy."""
    snapshot = make_snapshot(bucket_policy_doc=bucket_policy(ORG_ALLOW, ORG_DENY))
    result = only(diagnose(snapshot))
    assert result.locks["bucket_policy"].status == "explicit_deny"
    fixes = [f.fix for f in result.findings if f.code in ("KD202", "KD205")]
    assert {f.code for f in result.findings} >= {"KD202", "KD205"}
    for fix in fixes:
        assert fix.verified, fix.verification
        statements = fix.patched_policy["Statement"]
        deny = next(s for s in statements if s.get("Sid") == "DenyOutsideOrg")
        assert deny["Condition"]["ArnNotEquals"] == {"aws:PrincipalArn": ROLE_ARN}
        assert any(s.get("Principal") == {"AWS": ROLE_ARN} for s in statements)  # the Allow
        assert _after(snapshot, fix).verdict == "allow"


def test_kd205_alone_also_narrows_a_deny_that_would_override_its_allow():
    allow_only_in_org = bucket_policy(ORG_ALLOW)
    snapshot = make_snapshot(bucket_policy_doc=allow_only_in_org)
    fix = finding(only(diagnose(snapshot)), "KD205").fix
    assert fix.verified and _after(snapshot, fix).verdict == "allow"
    # With the Deny beside it, KD205 does not fire (the lock is explicitly denied) and KD202's
    # fix carries both changes (above).


def test_kd103_narrows_a_deny_that_is_its_policys_only_statement():
    guard = identity_policy(
        {
            "Sid": "DenyKeysOutsideB",
            "Effect": "Deny",
            "Action": "kms:Decrypt",
            "NotResource": f"arn:aws:kms:*:{B}:key/*",
        }
    )
    principal = make_principal(
        inline={"ReadCuratedLake": healthy_identity_policy(), "GuardRails": guard}
    )
    snapshot = make_snapshot(principals=[principal])
    fix = finding(only(diagnose(snapshot)), "KD103").fix
    assert fix.target.kind == "role_inline_policy" and fix.target.policy_name == "GuardRails"
    (statement,) = fix.patched_policy["Statement"]  # still one statement, not an empty policy
    assert statement["Effect"] == "Deny"
    assert statement["NotResource"] == [f"arn:aws:kms:*:{B}:key/*", KEY_ARN]
    assert "put-role-policy --role-name BIAnalyticsRole --policy-name GuardRails" in (
        fix.apply_command
    )
    assert fix.verified and _after(snapshot, fix).verdict == "allow"


def test_kd311_corrects_the_condition_instead_of_showing_it_unchanged():
    statement = allow_role_decrypt_statement(
        condition={"StringEquals": {"kms:CallerAccount": "333333333333"}}
    )
    snapshot = make_snapshot(key=make_key(policy=key_policy(statement)))
    fix = finding(only(diagnose(snapshot)), "KD311").fix
    assert fix.statement != statement
    assert fix.statement["Condition"] == {"StringEquals": {"kms:CallerAccount": B}}
    assert fix.verified and _after(snapshot, fix).verdict == "allow"


def test_a_corrected_condition_that_would_open_the_bucket_to_everyone_is_not_verified():
    """Principal "*" with an aws:SourceVpce condition the caller does not meet: dropping the
    condition would let every account read. The proof notices and says so."""
    anyone_from_vpc = {
        "Sid": "ReadFromTeamVpc",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET_ARN}/*",
        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0teama"}},
    }
    snapshot = make_snapshot(bucket_policy_doc=bucket_policy(anyone_from_vpc))
    fix = finding(only(diagnose(snapshot)), "KD207").fix
    assert fix.patched_policy is not None
    assert not fix.verified
    assert "would also let" in fix.verification and "*" in fix.verification


def test_kd403_boundary_fix_is_a_whole_boundary_with_the_missing_action():
    boundary = NamedPolicy(
        name="BIAnalyticsRole-boundary",
        document={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        },
        arn=f"arn:aws:iam::{B}:policy/BIAnalyticsRole-boundary",
        version_id="v1",
    )
    snapshot = make_snapshot(principals=[make_principal(boundary=Fetched.ok(boundary))])
    fix = finding(only(diagnose(snapshot)), "KD403").fix
    assert fix.target.kind == "permissions_boundary"
    assert {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN} in (
        fix.patched_policy["Statement"]
    )
    assert "create-policy-version --policy-arn" in fix.apply_command
    assert fix.verified and _after(snapshot, fix).verdict == "allow"


def _scp_level(document) -> PolicyLevel:
    return PolicyLevel(
        target_id="r-root",
        target_type="ROOT",
        name="Root",
        policies=[
            NamedPolicy("FullAWSAccess", FULL_ACCESS_SCP, arn="arn:aws:organizations::p-full"),
            NamedPolicy("DenyKms", document, arn="arn:aws:organizations::policy/o-x/p-denykms"),
        ],
    )


def test_kd401_scp_deny_exempts_the_role_and_prints_update_policy():
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    snapshot = make_snapshot(
        scps=[_scp_level(deny)], target_org=Organization("o-exampleorg", "999999999999")
    )
    fix = finding(only(diagnose(snapshot)), "KD401").fix
    assert fix.target.kind == "scp"
    assert fix.patched_policy["Statement"][0]["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": ROLE_ARN}
    }
    assert "organizations update-policy --policy-id p-denykms" in fix.apply_command
    assert fix.verified and _after(snapshot, fix).verdict == "allow"


def test_kd402_rcp_deny_is_proven_too():
    rcp = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*", "kms:*"],
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-exampleorg"}},
            }
        ],
    }
    level = PolicyLevel(
        "r-root",
        "ROOT",
        "Root",
        [
            NamedPolicy(
                "RCPFullAWSAccess",
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
                    ],
                },
                arn="arn:aws:organizations::p-rfull",
            ),
            NamedPolicy("DenyOutside", rcp, arn="arn:aws:organizations::policy/o-x/p-rcp1"),
        ],
    )
    snapshot = make_snapshot(rcps=[level], source_org=Organization("o-exampleorg", "999999999999"))
    result = only(diagnose(snapshot))
    fixes = [f.fix for f in result.findings if f.code == "KD402"]
    assert fixes and all(f.verified for f in fixes), [f.verification for f in fixes]
    assert _after(snapshot, fixes[0]).verdict == "allow"


def test_kd405_endpoint_policy_gets_the_object_for_the_role():
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
    snapshot = make_snapshot(vpc_endpoints=[endpoint(policy)])
    fix = finding(only(diagnose(snapshot)), "KD405").fix
    assert fix.target.kind == "vpc_endpoint_policy" and fix.target.arn == "vpce-0b1a2c3d"
    assert "ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-0b1a2c3d" in fix.apply_command
    assert fix.verified and _after(snapshot, fix).verdict == "allow"


def test_kd404_session_policy_cannot_be_patched_and_says_why():
    session = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    snapshot = make_snapshot(principals=[make_principal(session_policy=session)])
    fix = finding(only(diagnose(snapshot)), "KD404").fix
    assert fix.patched_policy is None and not fix.verified
    assert fix.verification.startswith("not verified: a session policy is passed by")


def test_configuration_traps_get_steps_not_a_policy():
    snapshot = make_snapshot(key=make_key(state="Disabled"))
    fix = finding(only(diagnose(snapshot)), "KD502").fix
    assert fix.target is None and fix.patched_policy is None and fix.apply_command is None
    assert not fix.verified and "not a policy change" in fix.verification


def test_a_fix_whose_lock_opens_onto_the_next_shut_lock_names_it():
    """Key policy and bucket policy both shut: the key-policy fix opens its lock and the
    verification names the bucket policy (KD201) as the next one."""
    snapshot = make_snapshot(
        key=make_key(policy=key_policy()),
        bucket_policy_doc=bucket_policy(
            allow_role_read_statement("arn:aws:iam::222222222222:role/Other")
        ),
    )
    result = only(diagnose(snapshot))
    fix = finding(result, "KD301").fix
    assert fix.verified
    assert "the next shut lock is bucket_policy (KD201)" in fix.verification
    after = _after(snapshot, fix)
    assert after.shut_locks() == ["bucket_policy"]


def test_a_tightening_fix_keeps_the_caller_and_says_who_is_shut_out():
    """KD309: the key policy trusts all of B; naming the role keeps it working and shuts
    another role of B out at the key policy."""
    trusts_b = allow_role_decrypt_statement(principal=f"arn:aws:iam::{B}:root", sid="TrustB")
    snapshot = make_snapshot(
        key=make_key(policy=key_policy(trusts_b)),
        bucket_policy_doc=bucket_policy(allow_role_read_statement(f"arn:aws:iam::{B}:root")),
    )
    fix = finding(only(diagnose(snapshot)), "KD309").fix
    assert fix.verified, fix.verification
    assert "key_policy stays open for this role" in fix.verification
    assert f"from another role in {B} it is now denied at key_policy" in fix.verification
    assert _after(snapshot, fix).verdict == "allow"


def test_the_proof_never_changes_the_snapshot_it_was_given():
    snapshot = make_snapshot(key=make_key(policy=key_policy()))
    before = copy.deepcopy(snapshot.to_dict())
    analyze_snapshot(snapshot)
    assert snapshot.to_dict() == before


def test_with_policy_replaces_one_document_and_shares_the_rest():
    snapshot = make_snapshot()
    patched = with_policy(snapshot, finding_target("bucket_policy"), {"Statement": []})
    assert patched.source.bucket.policy.value.document == {"Statement": []}
    assert snapshot.source.bucket.policy.value.document != {"Statement": []}
    assert patched.source.key is snapshot.source.key
    assert patched.target is snapshot.target
    assert OBJECT_ARN.startswith(BUCKET_ARN) and A != B


def finding_target(kind: str):
    from kmsdoctor.analyze.model import FixTarget

    return FixTarget(kind, BUCKET_ARN)  # type: ignore[arg-type]


def test_an_identity_fix_is_proven_without_re_analysing_the_stand_ins_after_it(monkeypatch):
    """The role lacks kms:Decrypt in its own inline policy (KD1xx). The stand-ins hold none of
    the role's documents, so patching that policy cannot move them: the proof analyses them once
    (before), and the role once with the patch — four re-analyses, not seven — and its text
    still says where the stand-ins stand."""
    from kmsdoctor.analyze import proof

    seen = count_re_analyses(monkeypatch)
    without_decrypt = identity_policy(
        {
            "Sid": "ReadCuratedLake",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET_ARN}/*",
        }
    )
    snapshot = make_snapshot(principals=[make_principal(inline={"Lake": without_decrypt})])
    principal = only(diagnose(snapshot))
    fixes = [f.fix for f in principal.findings if f.lock == "identity" and f.fix is not None]
    assert len(fixes) == 1 and fixes[0].target.kind == "role_inline_policy"
    assert fixes[0].verified, fixes[0].verification
    assert "from another account" in fixes[0].verification
    assert _after(snapshot, fixes[0]).verdict == "allow"
    assert seen.count(ROLE_ARN) == 1 and len(seen) == 4
    # The stand-ins re-analysed after the patch, as before this shortcut: the same words.
    monkeypatch.setattr(proof, "PRINCIPAL_DOCUMENTS", ())
    seen.clear()
    again = only(diagnose(snapshot))
    assert len(seen) == 7
    assert [f.fix.verification for f in again.findings if f.fix] == [
        f.fix.verification for f in principal.findings if f.fix
    ]
