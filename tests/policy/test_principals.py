"""Principal and NotPrincipal in resource policies.

Sources (AWS IAM User Guide):
- "AWS JSON policy elements: Principal"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
  account principals (id or :root) delegate to the account; role ARNs cover the role's sessions;
  assumed-role session ARNs name one session; "*" / {"AWS": "*"}; service principals; no partial
  wildcards; a deleted-and-recreated role: the policy shows the old unique id (AROA...), which the
  new role does not hold.
- "AWS JSON policy elements: NotPrincipal"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
  only with Deny; list the account, the role and the session; a principal with a permissions
  boundary is always denied by a NotPrincipal Deny.
"""

from __future__ import annotations

import pytest

from kmsdoctor.policy import Decision, PolicyError, Request, RequestPrincipal, parse_policy

B = "222222222222"
ROLE = f"arn:aws:iam::{B}:role/Deploy"
SESSION_ARN = f"arn:aws:sts::{B}:assumed-role/Deploy/build-42"
ROLE_ID = "AROAEXAMPLEDEPLOYROLE"
SESSION = RequestPrincipal(SESSION_ARN, B, entity_arn=ROLE, unique_id=ROLE_ID)
BOB = RequestPrincipal(f"arn:aws:iam::{B}:user/Bob", B, unique_id="AIDAEXAMPLEBOBUSER01")
OBJECT = "arn:aws:s3:::bucket/key"


def bucket_policy(principal, effect="Allow", element="Principal") -> object:
    return parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "S",
                    "Effect": effect,
                    element: principal,
                    "Action": "s3:*",
                    "Resource": "*",
                }
            ],
        },
        name="bucket",
        kind="resource",
    )


def trace_for(principal_element, caller=SESSION, **evaluate):
    policy = bucket_policy(principal_element)
    return policy.evaluate(Request("s3:GetObject", OBJECT, caller), **evaluate).statements[0]


@pytest.mark.parametrize(
    ("element", "match"),
    [
        ("*", "wildcard"),
        ({"AWS": "*"}, "wildcard"),
        ({"AWS": B}, "account"),
        ({"AWS": f"arn:aws:iam::{B}:root"}, "account"),
        ({"AWS": ROLE}, "entity"),
        ({"AWS": f"arn:aws:iam::{B}:role/team/Deploy"}, "entity"),  # paths do not matter
        ({"AWS": SESSION_ARN}, "exact"),
        ({"AWS": ROLE_ID}, "entity"),
        ({"AWS": ["arn:aws:iam::333333333333:root", ROLE]}, "entity"),
        # Several entries naming the caller: the strongest counts.
        ({"AWS": [B, ROLE, SESSION_ARN]}, "exact"),
    ],
)
def test_principal_forms_that_name_the_session(element, match):
    trace = trace_for(element)
    assert trace.principal_matched is True
    assert trace.principal_match == match
    assert trace.via_account_principal is (match == "account")


@pytest.mark.parametrize(
    "element",
    [
        {"AWS": "333333333333"},
        {"AWS": "arn:aws:iam::333333333333:role/Deploy"},
        {"AWS": f"arn:aws:iam::{B}:role/Other"},
        {"AWS": f"arn:aws:sts::{B}:assumed-role/Deploy/another-session"},
        {"AWS": "AROAEXAMPLEOTHERROLE1"},
        {"Service": "s3.amazonaws.com"},
        {"Federated": "cognito-identity.amazonaws.com"},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
    ],
)
def test_principal_forms_that_do_not_name_the_session(element):
    trace = trace_for(element)
    assert trace.principal_matched is False
    assert trace.principal_match is None
    assert not trace.applies


def test_role_recreated_under_the_same_name():
    # The key policy was saved while the old role existed; after the role was deleted, AWS shows
    # its unique id instead of the ARN. The new role has the same ARN but a new id.
    recreated = RequestPrincipal(SESSION_ARN, B, entity_arn=ROLE, unique_id="AROANEWROLEID0000001")
    assert trace_for({"AWS": ROLE_ID}, recreated).principal_matched is False
    # A policy that still shows the ARN names the current role of that name.
    assert trace_for({"AWS": ROLE}, recreated).principal_match == "entity"


def test_session_without_entity_arn_is_matched_by_role_name():
    caller = RequestPrincipal(SESSION_ARN, B)
    assert trace_for({"AWS": ROLE}, caller).principal_match == "entity"


def test_iam_user_and_its_unique_id_name_the_user_exactly():
    assert trace_for({"AWS": f"arn:aws:iam::{B}:user/Bob"}, BOB).principal_match == "exact"
    assert trace_for({"AWS": "AIDAEXAMPLEBOBUSER01"}, BOB).principal_match == "exact"
    assert trace_for({"AWS": ROLE}, BOB).principal_matched is False


def test_service_principal():
    s3_service = RequestPrincipal("s3.amazonaws.com", "", service="s3.amazonaws.com")
    assert trace_for({"Service": "s3.amazonaws.com"}, s3_service).principal_match == "exact"
    assert trace_for({"Service": ["logging.s3.amazonaws.com"]}, s3_service).principal_matched is (
        False
    )
    assert trace_for({"AWS": B}, s3_service).principal_matched is False
    assert trace_for("*", s3_service).principal_match == "wildcard"


@pytest.mark.parametrize(
    "element",
    [
        {"AWS": f"arn:aws:iam::{B}:role/*"},  # no partial wildcards in principals
        {"AWS": "arn:aws:iam::*:root"},
        {"AWS": "Bob"},
        {"AWS": "arn:aws:iam::22222:root"},
        {"AWS": "arn:aws:s3:::bucket"},
        {"AWS": []},
        {"AWS": [123456789012]},
        {"Aws2": B},
        {},
        ROLE,  # a bare ARN string is not a principal element
        ["*"],
    ],
)
def test_malformed_principals_are_policy_errors(element):
    with pytest.raises(PolicyError) as raised:
        bucket_policy(element)
    assert raised.value.location.startswith("Statement[0].Principal")


def test_principal_rules_by_policy_kind():
    with_principal = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    without_principal = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    for kind in ("identity", "permissions_boundary", "session", "scp"):
        with pytest.raises(PolicyError, match="cannot have a Principal"):
            parse_policy({"Statement": [with_principal]}, name="p", kind=kind)
    for kind in ("resource", "vpc_endpoint", "rcp"):
        with pytest.raises(PolicyError, match="needs a Principal"):
            parse_policy({"Statement": [without_principal]}, name="p", kind=kind)


# --- NotPrincipal --------------------------------------------------------------------------


def deny_all_but(listed: list[str], caller: RequestPrincipal, **evaluate) -> Decision:
    policy = bucket_policy({"AWS": listed}, effect="Deny", element="NotPrincipal")
    return policy.evaluate(Request("s3:GetObject", OBJECT, caller), **evaluate).decision


def test_not_principal_user_example():
    # The NotPrincipal page's first example: Bob and Bob's account are listed.
    listed = [f"arn:aws:iam::{B}:user/Bob", f"arn:aws:iam::{B}:root"]
    assert deny_all_but(listed, BOB) is Decision.IMPLICIT_DENY
    alice = RequestPrincipal(f"arn:aws:iam::{B}:user/Alice", B)
    assert deny_all_but(listed, alice) is Decision.EXPLICIT_DENY
    assert deny_all_but(listed, SESSION) is Decision.EXPLICIT_DENY
    # Without the account ARN, AWS may deny Bob's whole account, Bob included.
    assert deny_all_but([f"arn:aws:iam::{B}:user/Bob"], BOB) is Decision.EXPLICIT_DENY


def test_not_principal_role_session_example():
    # The second example: the session, its role and the role's account.
    full = [SESSION_ARN, ROLE, f"arn:aws:iam::{B}:root"]
    assert deny_all_but(full, SESSION) is Decision.IMPLICIT_DENY
    assert deny_all_but([SESSION_ARN, f"arn:aws:iam::{B}:root"], SESSION) is (
        Decision.EXPLICIT_DENY
    )
    assert deny_all_but([SESSION_ARN, ROLE], SESSION) is Decision.EXPLICIT_DENY
    assert deny_all_but([ROLE, B], SESSION) is Decision.EXPLICIT_DENY  # not this session
    other_session = RequestPrincipal(f"arn:aws:sts::{B}:assumed-role/Deploy/other", B)
    assert deny_all_but(full, other_session) is Decision.EXPLICIT_DENY


def test_not_principal_deny_always_applies_to_principals_with_a_boundary():
    full = [SESSION_ARN, ROLE, f"arn:aws:iam::{B}:root"]
    assert deny_all_but(full, SESSION, principal_has_boundary=True) is Decision.EXPLICIT_DENY


def test_not_principal_trace_explains_missing_levels():
    policy = bucket_policy({"AWS": [SESSION_ARN, B]}, effect="Deny", element="NotPrincipal")
    trace = policy.evaluate(Request("s3:GetObject", OBJECT, SESSION)).statements[0]
    assert trace.applies
    assert trace.principal_match is None
    assert any(ROLE in note for note in trace.notes)


def test_not_principal_with_allow_is_rejected():
    with pytest.raises(PolicyError, match="only with Deny"):
        bucket_policy({"AWS": ROLE}, effect="Allow", element="NotPrincipal")
