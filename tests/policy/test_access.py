"""evaluate_access: how layers combine.

Sources (AWS documentation):
- IAM "Policy evaluation logic" and "How AWS enforcement code logic evaluates requests to allow
  or deny access"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
  (explicit deny wins; RCP/SCP levels must allow; same-account table "Resource-based policies
  and implicit denies in other policy types").
- IAM "Cross-account policy evaluation logic"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
  (identity side and resource policy must both allow).
- KMS "Key policies in AWS KMS", "Default key policy": the statement naming the account's root
  "allows access to the AWS account and enables IAM policies"; without a key policy allow, IAM
  policies alone give no access.
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
"""

from __future__ import annotations

import pytest

from kmsdoctor.policy import (
    AccessInputs,
    Decision,
    Request,
    RequestPrincipal,
    evaluate_access,
    evaluate_levels,
    evaluate_policies,
    parse_policy,
)

A = "111111111111"  # owns the bucket and the key
B = "222222222222"  # the caller's account
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd"
OBJECT = "arn:aws:s3:::artefacts/build.zip"


def session(account: str, role: str = "Deploy", name: str = "s1") -> RequestPrincipal:
    return RequestPrincipal(
        f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
        account,
        entity_arn=f"arn:aws:iam::{account}:role/{role}",
    )


CROSS = session(B)
LOCAL = session(A)


def identity(*actions: str, resource: str = "*", effect: str = "Allow", name="identity"):
    statement = {"Effect": effect, "Action": list(actions), "Resource": resource}
    return parse_policy({"Version": "2012-10-17", "Statement": [statement]}, name=name)


def resource_policy(principal, *actions: str, effect: str = "Allow", name="resource", sid="S"):
    statement = {
        "Sid": sid,
        "Effect": effect,
        "Principal": principal,
        "Action": list(actions),
        "Resource": "*",
    }
    return parse_policy(
        {"Version": "2012-10-17", "Statement": [statement]}, name=name, kind="resource"
    )


def ceiling(kind: str, *actions: str, effect: str = "Allow", name: str | None = None):
    statement = {"Effect": effect, "Action": list(actions), "Resource": "*"}
    if kind == "rcp":
        statement["Principal"] = "*"
    return parse_policy({"Statement": [statement]}, name=name or kind, kind=kind)


def decrypt(principal: RequestPrincipal = CROSS) -> Request:
    return Request("kms:Decrypt", KEY, principal, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})


def get_object(principal: RequestPrincipal = CROSS) -> Request:
    return Request("s3:GetObject", OBJECT, principal)


def kms(**layers) -> AccessInputs:
    return AccessInputs(resource_account=A, resource_service="kms", **layers)


def s3(**layers) -> AccessInputs:
    return AccessInputs(resource_account=A, resource_service="s3", **layers)


# --- cross-account -----------------------------------------------------------------------


def test_cross_account_needs_key_policy_and_identity():
    key_policy = resource_policy({"AWS": f"arn:aws:iam::{B}:role/Deploy"}, "kms:Decrypt")
    allowed = evaluate_access(
        kms(identity=[identity("kms:Decrypt")], resource_policy=key_policy), decrypt()
    )
    assert allowed.decision is Decision.ALLOW
    assert allowed.deciding_layer is None

    no_identity = evaluate_access(
        kms(identity=[identity("s3:GetObject")], resource_policy=key_policy), decrypt()
    )
    assert no_identity.decision is Decision.IMPLICIT_DENY
    assert no_identity.deciding_layer == "identity"
    assert "cross-account" in no_identity.reason

    nobody = resource_policy({"AWS": f"arn:aws:iam::{A}:root"}, "kms:*")
    no_key_policy = evaluate_access(
        kms(identity=[identity("kms:*")], resource_policy=nobody), decrypt()
    )
    assert no_key_policy.deciding_layer == "resource"
    assert no_key_policy.layers["resource"].decision is Decision.IMPLICIT_DENY


def test_cross_account_through_the_callers_account_principal():
    key_policy = resource_policy({"AWS": f"arn:aws:iam::{B}:root"}, "kms:Decrypt")
    inputs = kms(identity=[identity("kms:Decrypt", resource=KEY)], resource_policy=key_policy)
    assert evaluate_access(inputs, decrypt()).decision is Decision.ALLOW
    inputs.identity = []
    assert evaluate_access(inputs, decrypt()).deciding_layer == "identity"


def test_cross_account_s3_without_bucket_policy():
    decision = evaluate_access(s3(identity=[identity("s3:*")]), get_object())
    assert decision.deciding_layer == "resource"
    assert decision.layers["resource"].decision is Decision.IMPLICIT_DENY


# --- same account: KMS --------------------------------------------------------------------

DEFAULT_KEY_POLICY = resource_policy({"AWS": f"arn:aws:iam::{A}:root"}, "kms:*", sid="EnableIAM")


def test_kms_default_key_policy_delegates_to_iam():
    allowed = evaluate_access(
        kms(identity=[identity("kms:Decrypt")], resource_policy=DEFAULT_KEY_POLICY), decrypt(LOCAL)
    )
    assert allowed.decision is Decision.ALLOW
    trace = allowed.layers["resource"].results[0].statements[0]
    assert trace.via_account_principal

    denied = evaluate_access(kms(identity=[], resource_policy=DEFAULT_KEY_POLICY), decrypt(LOCAL))
    assert denied.deciding_layer == "identity"
    assert "account principal" in denied.reason


def test_kms_key_policy_naming_the_role_needs_no_identity_policy():
    key_policy = resource_policy({"AWS": f"arn:aws:iam::{A}:role/Deploy"}, "kms:Decrypt")
    decision = evaluate_access(kms(identity=[], resource_policy=key_policy), decrypt(LOCAL))
    assert decision.decision is Decision.ALLOW


def test_kms_identity_policy_alone_never_suffices():
    key_policy = resource_policy({"AWS": f"arn:aws:iam::{A}:role/KeyAdmin"}, "kms:*")
    decision = evaluate_access(
        kms(identity=[identity("kms:*")], resource_policy=key_policy), decrypt(LOCAL)
    )
    assert decision.decision is Decision.IMPLICIT_DENY
    assert decision.deciding_layer == "resource"
    assert "IAM policies alone never" in decision.reason


def test_kms_grant_is_an_alternative_to_the_key_policy_but_not_to_a_deny():
    key_policy = resource_policy({"AWS": f"arn:aws:iam::{A}:root"}, "kms:DescribeKey")
    inputs = kms(
        identity=[identity("kms:Decrypt")],
        resource_policy=key_policy,
        resource_allowed_by_grant=True,
    )
    assert evaluate_access(inputs, decrypt()).decision is Decision.ALLOW

    inputs.resource_policy = resource_policy("*", "kms:Decrypt", effect="Deny")
    denied = evaluate_access(inputs, decrypt())
    assert denied.decision is Decision.EXPLICIT_DENY
    assert denied.deciding_layer == "resource"


# --- same account: S3, the "resource-based policies and implicit denies" table -------------


def test_same_account_identity_alone_is_enough_for_s3():
    decision = evaluate_access(s3(identity=[identity("s3:GetObject")]), get_object(LOCAL))
    assert decision.decision is Decision.ALLOW
    assert decision.layers["resource"].decision is None


def test_bucket_policy_naming_the_session_is_not_limited_by_implicit_denies():
    bucket = resource_policy({"AWS": LOCAL.arn}, "s3:GetObject")
    inputs = s3(
        identity=[],
        resource_policy=bucket,
        permissions_boundary=ceiling("permissions_boundary", "ec2:*"),
        session_policies=[ceiling("session", "ec2:*")],
    )
    assert evaluate_access(inputs, get_object(LOCAL)).decision is Decision.ALLOW


def test_bucket_policy_naming_the_role_is_limited_by_boundary_and_session_policy():
    bucket = resource_policy({"AWS": f"arn:aws:iam::{A}:role/Deploy"}, "s3:GetObject")
    assert evaluate_access(s3(resource_policy=bucket), get_object(LOCAL)).decision is (
        Decision.ALLOW
    )
    bounded = s3(
        resource_policy=bucket, permissions_boundary=ceiling("permissions_boundary", "ec2:*")
    )
    decision = evaluate_access(bounded, get_object(LOCAL))
    assert decision.deciding_layer == "permissions_boundary"
    with_session = s3(resource_policy=bucket, session_policies=[ceiling("session", "ec2:*")])
    assert evaluate_access(with_session, get_object(LOCAL)).deciding_layer == "session"


def test_the_strongest_principal_match_counts():
    both = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:*", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": LOCAL.arn},
                    "Action": "s3:*",
                    "Resource": "*",
                },
            ],
        },
        name="bucket",
        kind="resource",
    )
    assert evaluate_access(s3(resource_policy=both), get_object(LOCAL)).decision is Decision.ALLOW


def test_bucket_policy_naming_the_account_needs_identity():
    bucket = resource_policy({"AWS": A}, "s3:GetObject")
    assert evaluate_access(s3(resource_policy=bucket), get_object(LOCAL)).deciding_layer == (
        "identity"
    )


def test_boundary_limits_identity_permissions():
    inputs = s3(
        identity=[identity("s3:*")], permissions_boundary=ceiling("permissions_boundary", "kms:*")
    )
    assert evaluate_access(inputs, get_object(LOCAL)).deciding_layer == "permissions_boundary"
    inputs.permissions_boundary = ceiling("permissions_boundary", "s3:Get*")
    assert evaluate_access(inputs, get_object(LOCAL)).decision is Decision.ALLOW


def test_federated_user_session_without_session_policy_has_no_permissions():
    federated = RequestPrincipal(f"arn:aws:sts::{A}:federated-user/carol", A)
    decision = evaluate_access(s3(identity=[identity("s3:*")]), get_object(federated))
    assert decision.deciding_layer == "session"


def test_service_principal_needs_only_the_resource_policy():
    service = RequestPrincipal("logging.s3.amazonaws.com", "", service="logging.s3.amazonaws.com")
    bucket = resource_policy({"Service": "logging.s3.amazonaws.com"}, "s3:PutObject")
    request = Request("s3:PutObject", OBJECT, service)
    decision = evaluate_access(s3(resource_policy=bucket), request)
    assert decision.decision is Decision.ALLOW
    assert decision.layers["identity"].decision is None


# --- explicit deny, ceilings ----------------------------------------------------------------

KEY_POLICY_FOR_B = resource_policy({"AWS": f"arn:aws:iam::{B}:role/Deploy"}, "kms:Decrypt")


@pytest.mark.parametrize(
    ("layer", "inputs_change"),
    [
        ("identity", {"identity": [identity("kms:Decrypt"), identity("kms:*", effect="Deny")]}),
        (
            "permissions_boundary",
            {"permissions_boundary": ceiling("permissions_boundary", "*", effect="Deny")},
        ),
        ("session", {"session_policies": [ceiling("session", "kms:Decrypt", effect="Deny")]}),
        ("scp", {"scps": [[ceiling("scp", "*")], [ceiling("scp", "kms:Decrypt", effect="Deny")]]}),
        ("rcp", {"rcps": [[ceiling("rcp", "kms:*", effect="Deny")]]}),
        ("vpc_endpoint", {"vpc_endpoint_policies": [ceiling("rcp", "kms:*", effect="Deny")]}),
        ("resource", {"resource_policy": resource_policy("*", "kms:*", effect="Deny")}),
    ],
)
def test_explicit_deny_in_any_layer_wins(layer, inputs_change):
    inputs = kms(identity=[identity("kms:Decrypt")], resource_policy=KEY_POLICY_FOR_B)
    assert evaluate_access(inputs, decrypt()).decision is Decision.ALLOW
    for name, value in inputs_change.items():
        setattr(inputs, name, value)
    decision = evaluate_access(inputs, decrypt())
    assert decision.decision is Decision.EXPLICIT_DENY
    assert decision.deciding_layer == layer
    assert decision.layers[layer].decision is Decision.EXPLICIT_DENY
    assert "explicitly denies kms:Decrypt" in decision.reason


def test_every_scp_level_must_allow():
    full_access = ceiling("scp", "*", name="FullAWSAccess")
    s3_only = ceiling("scp", "s3:*", name="S3Only")
    inputs = kms(identity=[identity("kms:Decrypt")], resource_policy=KEY_POLICY_FOR_B)

    inputs.scps = [[full_access], [full_access, s3_only]]
    assert evaluate_access(inputs, decrypt()).decision is Decision.ALLOW

    inputs.scps = [[full_access], [s3_only], [full_access]]
    decision = evaluate_access(inputs, decrypt())
    assert decision.deciding_layer == "scp"
    assert decision.layers["scp"].level_decisions == (
        Decision.ALLOW,
        Decision.IMPLICIT_DENY,
        Decision.ALLOW,
    )
    assert "level 2 (S3Only)" in decision.reason

    inputs.scps = [[full_access], []]  # a level with nothing attached allows nothing
    assert evaluate_access(inputs, decrypt()).deciding_layer == "scp"


def test_rcp_levels_and_vpc_endpoint_must_allow():
    inputs = kms(identity=[identity("kms:Decrypt")], resource_policy=KEY_POLICY_FOR_B)
    inputs.rcps = [[ceiling("rcp", "s3:*")]]
    assert evaluate_access(inputs, decrypt()).deciding_layer == "rcp"
    inputs.rcps = [[ceiling("rcp", "*")]]
    inputs.vpc_endpoint_policies = [ceiling("rcp", "s3:*", name="endpoint")]
    decision = evaluate_access(inputs, decrypt())
    assert decision.deciding_layer == "vpc_endpoint"
    assert decision.reason == "the VPC endpoint policy (endpoint) does not allow kms:Decrypt"


def test_layers_that_do_not_take_part_have_no_decision():
    decision = evaluate_access(
        kms(identity=[identity("kms:Decrypt")], resource_policy=KEY_POLICY_FOR_B), decrypt()
    )
    assert set(decision.layers) == {
        "identity",
        "resource",
        "permissions_boundary",
        "session",
        "scp",
        "rcp",
        "vpc_endpoint",
    }
    for name in ("permissions_boundary", "session", "scp", "rcp", "vpc_endpoint"):
        assert decision.layers[name].decision is None
        assert decision.layers[name].reason


def test_helpers_for_single_locks():
    union = evaluate_policies([identity("s3:*"), identity("kms:Decrypt")], decrypt())
    assert union.decision is Decision.ALLOW
    assert "allows kms:Decrypt" in union.reason
    assert evaluate_policies([], decrypt()).decision is Decision.IMPLICIT_DENY

    levels = evaluate_levels([[ceiling("scp", "*")], [ceiling("scp", "s3:*")]], decrypt(), "scp")
    assert levels.decision is Decision.IMPLICIT_DENY
    assert levels.level_decisions == (Decision.ALLOW, Decision.IMPLICIT_DENY)


def test_inputs_must_be_parsed_policies():
    with pytest.raises(TypeError, match="parse_policy"):
        evaluate_access(kms(identity=[{"Statement": []}]), decrypt())
