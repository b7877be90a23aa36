"""Several callers at once (a pipeline's four roles), and the write path."""

from __future__ import annotations

from kmsdoctor.snapshot import BucketEncryption
from tests.analyze.factories import (
    BUCKET_ARN,
    KEY_ARN,
    OBJECT_ARN,
    READ_LAKE_STATEMENT,
    ROLE_ARN,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    codes,
    diagnose,
    finding,
    identity_policy,
    key_policy,
    make_key,
    make_principal,
    make_snapshot,
    only,
    statuses,
    unknown,
)

PIPELINE_ROLES = ["PipelineRole", "BuildRole", "DeployActionRole", "DeployExecutionRole"]


def _role_arn(name: str) -> str:
    return f"arn:aws:iam::{B}:role/{name}"


def _pipeline_snapshot(*, key_policy_roles: list[str], unknown_role: str | None = None):
    arns = [_role_arn(n) for n in PIPELINE_ROLES]
    principals = []
    for name, arn in zip(PIPELINE_ROLES, arns, strict=True):
        inline = unknown("iam:ListRolePolicies") if name == unknown_role else None
        principals.append(
            make_principal(
                arn,
                inline=inline,
                session_arn=None,
                source="role_arn",
                unique_id=f"AROA{name.upper():0<17}"[:21],
            )
        )
    key = make_key(
        policy=key_policy(
            allow_role_decrypt_statement(principal=[_role_arn(n) for n in key_policy_roles])
        )
    )
    return make_snapshot(
        principals=principals,
        key=key,
        bucket_policy_doc=bucket_policy(allow_role_read_statement(principal=arns)),
    )


def test_pipeline_execution_role_missing_from_key_policy_makes_the_whole_run_deny():
    """The classic: the template downloads fine; the bundle the execution role reads fails."""
    snapshot = _pipeline_snapshot(key_policy_roles=PIPELINE_ROLES[:3])
    diagnosis = diagnose(snapshot)
    assert diagnosis.verdict == "deny"
    assert diagnosis.exit_code == 1
    verdicts = {p.principal.rsplit("/", 1)[-1]: p.verdict for p in diagnosis.principals}
    assert verdicts == {
        "PipelineRole": "allow",
        "BuildRole": "allow",
        "DeployActionRole": "allow",
        "DeployExecutionRole": "deny",
    }
    failing = diagnosis.principals[3]
    assert statuses(failing)["key_policy"] == "implicit_deny"
    assert finding(failing, "KD301").fix.statement["Principal"] == {
        "AWS": _role_arn("DeployExecutionRole")
    }


def test_pipeline_all_roles_allowed_exits_0():
    diagnosis = diagnose(_pipeline_snapshot(key_policy_roles=PIPELINE_ROLES))
    assert diagnosis.verdict == "allow"
    assert diagnosis.exit_code == 0


def test_pipeline_one_unknown_and_none_denied_exits_3():
    diagnosis = diagnose(
        _pipeline_snapshot(key_policy_roles=PIPELINE_ROLES, unknown_role="BuildRole")
    )
    assert diagnosis.verdict == "unknown"
    assert diagnosis.exit_code == 3


def test_pipeline_deny_outranks_unknown():
    snapshot = _pipeline_snapshot(key_policy_roles=PIPELINE_ROLES[:3], unknown_role="BuildRole")
    assert diagnose(snapshot).exit_code == 1


def test_role_arn_without_a_session_uses_a_placeholder_session_and_says_so():
    diagnosis = diagnose(_pipeline_snapshot(key_policy_roles=PIPELINE_ROLES))
    session_notes = [note for note in diagnosis.notes if "--role-arn" in note]
    assert len(session_notes) == 1
    assert "'kmsdoctor'" in session_notes[0]


# --- write ------------------------------------------------------------------------------------

WRITE_BUCKET_STATEMENT = {
    "Sid": "AllowBIWrite",
    "Effect": "Allow",
    "Principal": {"AWS": ROLE_ARN},
    "Action": "s3:PutObject",
    "Resource": f"{BUCKET_ARN}/*",
}
WRITE_S3_IDENTITY = {
    "Sid": "Write",
    "Effect": "Allow",
    "Action": "s3:PutObject",
    "Resource": f"{BUCKET_ARN}/*",
}


def _write_snapshot(identity_kms_actions, key_actions):
    identity = identity_policy(
        WRITE_S3_IDENTITY,
        {
            "Sid": "UseKey",
            "Effect": "Allow",
            "Action": list(identity_kms_actions),
            "Resource": KEY_ARN,
        },
    )
    key = make_key(
        found_on="bucket_default",
        policy=key_policy(allow_role_decrypt_statement(actions=key_actions)),
    )
    return make_snapshot(
        operation="write",
        bucket_policy_doc=bucket_policy(WRITE_BUCKET_STATEMENT),
        principals=[make_principal(inline={"Writer": identity})],
        key=key,
        obj=None,
        encryption=BucketEncryption("aws:kms", KEY_ARN, False),
    )


def test_write_needs_generate_data_key_not_decrypt():
    result = only(diagnose(_write_snapshot(["kms:Decrypt"], ["kms:Decrypt"])))
    assert result.verdict == "deny"
    assert statuses(result)["identity"] == "implicit_deny"
    assert statuses(result)["key_policy"] == "implicit_deny"
    assert statuses(result)["object"] == "not_applicable"
    kd101 = finding(result, "KD101")
    assert "kms:GenerateDataKey" in kd101.detail
    assert kd101.fix.statement["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    s3 = result.locks["bucket_policy"].evidence.requests[0]
    assert s3.action == "s3:PutObject"
    assert s3.resource == OBJECT_ARN


def test_write_without_decrypt_works_but_warns_about_multipart_uploads():
    result = only(diagnose(_write_snapshot(["kms:GenerateDataKey"], ["kms:GenerateDataKey"])))
    assert result.verdict == "allow"
    assert {"KD106", "KD308"} <= set(codes(result))


def test_write_with_both_actions_is_clean():
    actions = ["kms:GenerateDataKey", "kms:Decrypt"]
    result = only(diagnose(_write_snapshot(actions, actions)))
    assert result.verdict == "allow"
    assert not {"KD106", "KD308"} & set(codes(result))


def test_read_request_of_the_healthy_setup_is_not_analysed_as_a_write():
    result = only(diagnose(make_snapshot()))
    actions = [r.action for r in result.locks["identity"].evidence.requests]
    assert actions == ["s3:GetObject", "kms:Decrypt"]
    assert READ_LAKE_STATEMENT["Sid"] in result.locks["identity"].reason
