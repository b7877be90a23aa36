"""Action, NotAction, Resource, NotResource, wildcards and policy variables.

Sources (AWS IAM User Guide):
- "IAM JSON policy elements: Action" / "NotAction": "Action": "*" matches all; service prefixes
  and action names are case-insensitive; wildcards * and ? may appear in action names.
- "IAM JSON policy elements: Resource" / "NotResource": ARNs, wildcards within ARN segments.
- "IAM policy elements: Variables and tags"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
  variables only in Version 2012-10-17 (literal text otherwise); ${*}, ${?}, ${$}; default
  values `${aws:username, 'anonymous'}`; variables in Resource and in String/ARN conditions.
"""

from __future__ import annotations

import time

import pytest

from kmsdoctor.policy import Decision, Request, RequestPrincipal, parse_policy

SESSION = RequestPrincipal("arn:aws:sts::222222222222:assumed-role/Deploy/s1", "222222222222")
KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd"


def decide(statement: dict, action: str, resource: str, context=None, version="2012-10-17"):
    document: dict = {"Statement": [statement]}
    if version is not None:
        document["Version"] = version
    policy = parse_policy(document, name="p")
    return policy.evaluate(Request(action, resource, SESSION, context or {})).decision


def allow(**elements) -> dict:
    return {"Effect": "Allow", **elements}


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:Decrypt", "kms:Decrypt", True),
        ("KMS:decrypt", "kms:Decrypt", True),  # service prefix and action ignore case
        ("kms:Decrypt", "KMS:DECRYPT", True),
        ("kms:Re*", "kms:ReEncryptFrom", True),
        ("kms:?ecrypt", "kms:Decrypt", True),
        ("kms:?ecrypt", "kms:Encrypt", False),
        ("kms:*", "s3:GetObject", False),
        ("*", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("kms:Decrypt", "kms:DecryptX", False),
    ],
)
def test_action_matching(pattern, action, expected):
    decision = decide(allow(Action=pattern, Resource="*"), action, KEY)
    assert (decision is Decision.ALLOW) is expected


def test_not_action_applies_to_every_other_action():
    statement = allow(NotAction=["iam:*", "sts:*"], Resource="*")
    assert decide(statement, "kms:Decrypt", KEY) is Decision.ALLOW
    assert decide(statement, "iam:PassRole", KEY) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.zip", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/a", False),  # ARNs are case-sensitive
        ("arn:aws:kms:*:111111111111:key/*", KEY, True),
        ("arn:aws:kms:eu-west-?:111111111111:key/*", KEY, True),
        ("arn:aws:kms:us-east-1:111111111111:key/*", KEY, False),
        ("*", KEY, True),
        # "If the * wildcard is the last character of a resource ARN segment, it can expand to
        # match beyond the colon boundaries" — other wildcards stay inside their segment.
        ("arn:aws:kms:*:key/*", KEY, True),
        ("arn:*:s3:::bucket/*", "arn:aws:s3:::bucket/k", True),
        ("arn:aws:s3:::bucket/*/logs", "arn:aws:s3:::bucket/a/b/logs", True),
        ("arn:aws:s3:::bucket/*/logs", "arn:aws:s3:::bucket/a:b/logs", False),
        ("arn:aws:s3:::bucket/a?b", "arn:aws:s3:::bucket/a:b", False),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b", True),
        ("arn:aws:kms:eu-*-1:111111111111:key/*", KEY, True),
        ("arn:aws:kms:e*1:1*:key/*", KEY, True),
        ("arn:aws:kms:e*1:2*:key/*", KEY, False),
        # A free * before a colon, then a segment-bound one: needs a later occurrence of ":x".
        ("arn:*:x*y", "arn:q:x:z:xy", True),
        ("arn:*:x*y", "arn:q:x:z:x:y", False),
    ],
)
def test_resource_matching(pattern, resource, expected):
    decision = decide(allow(Action="*", Resource=pattern), "s3:GetObject", resource)
    assert (decision is Decision.ALLOW) is expected


def test_not_resource():
    statement = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::safe/*"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::other/k") is Decision.EXPLICIT_DENY
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::safe/k") is Decision.IMPLICIT_DENY


def test_backtracking_pattern_stays_fast():
    # Naively translated to a regex, this pattern backtracks exponentially on a near miss: that
    # takes hours, so a bound of 30 s fails it while no busy CI machine comes near the bound.
    pattern = "arn:aws:s3:::" + "*a" * 30 + "*b"
    resource = "arn:aws:s3:::" + "a" * 5000
    started = time.perf_counter()
    assert decide(allow(Action="*", Resource=pattern), "s3:GetObject", resource) is (
        Decision.IMPLICIT_DENY
    )
    assert time.perf_counter() - started < 30.0


# --- policy variables --------------------------------------------------------------------


def test_variable_in_resource():
    statement = allow(Action="s3:*", Resource="arn:aws:s3:::home/${aws:username}/*")
    alice = {"aws:username": "alice"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::home/alice/x", alice) is Decision.ALLOW
    assert (
        decide(statement, "s3:GetObject", "arn:aws:s3:::home/bob/x", alice)
        is Decision.IMPLICIT_DENY
    )


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_variables_are_literal_text_before_2012_10_17(version):
    statement = allow(Action="s3:*", Resource="arn:aws:s3:::home/${aws:username}/*")
    alice = {"aws:username": "alice"}
    literal = "arn:aws:s3:::home/${aws:username}/x"
    assert (
        decide(statement, "s3:GetObject", "arn:aws:s3:::home/alice/x", alice, version)
        is Decision.IMPLICIT_DENY
    )
    assert decide(statement, "s3:GetObject", literal, alice, version) is Decision.ALLOW


@pytest.mark.parametrize(
    ("operator", "pattern", "value", "expected"),
    [
        ("StringLike", "a${*}b", "a*b", True),
        ("StringLike", "a${*}b", "axb", False),
        ("StringLike", "a${?}", "a?", True),
        ("StringLike", "a${?}", "ab", False),
        ("StringEquals", "${$}5", "$5", True),
        ("StringLike", "${aws:PrincipalTag/team}-*", "pay-1", True),
        ("StringLike", "${aws:PrincipalTag/team}-*", "ops-1", False),
        ("StringEquals", "${aws:username, 'anonymous'}", "anonymous", True),
        (
            "ArnLike",
            "arn:aws:iam::${aws:PrincipalAccount}:role/*",
            "arn:aws:iam::2222:role/x",
            True,
        ),
    ],
)
def test_variables_in_conditions(operator, pattern, value, expected):
    context = {"k": value, "aws:principaltag/TEAM": "pay", "aws:PrincipalAccount": "2222"}
    statement = allow(Action="*", Resource="*", Condition={operator: {"k": pattern}})
    assert (decide(statement, "s3:GetObject", "arn:aws:s3:::b/k", context) is Decision.ALLOW) is (
        expected
    )


def test_substituted_value_is_literal_not_a_wildcard():
    statement = allow(
        Action="*", Resource="*", Condition={"StringLike": {"k": "${aws:PrincipalTag/team}"}}
    )
    context = {"aws:PrincipalTag/team": "d*", "k": "dz"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/k", context) is (
        Decision.IMPLICIT_DENY
    )
    context["k"] = "d*"
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/k", context) is Decision.ALLOW


def test_unresolved_variable_never_matches():
    # "not present ... any attempt to match it fails and causes the statement to be invalid".
    resource_statement = allow(Action="s3:*", Resource="arn:aws:s3:::home/${aws:username}/*")
    assert (
        decide(resource_statement, "s3:GetObject", "arn:aws:s3:::home/x/y")
        is Decision.IMPLICIT_DENY
    )
    negated = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"k": "${aws:username}"}},
    }
    # A deny that cannot be resolved does not apply (rather than denying everyone).
    assert decide(negated, "s3:GetObject", "arn:aws:s3:::b/k", {"k": "v"}) is (
        Decision.IMPLICIT_DENY
    )
    not_resource = {
        "Effect": "Deny",
        "Action": "*",
        "NotResource": "arn:aws:s3:::home/${aws:username}/*",
    }
    assert decide(not_resource, "s3:GetObject", "arn:aws:s3:::b/k") is Decision.IMPLICIT_DENY


def test_multivalued_key_is_not_a_variable():
    statement = allow(Action="*", Resource="*", Condition={"StringEquals": {"k": "${aws:TagKeys}"}})
    context = {"aws:TagKeys": ["a", "b"], "k": "a"}
    assert decide(statement, "s3:GetObject", "arn:aws:s3:::b/k", context) is (
        Decision.IMPLICIT_DENY
    )
