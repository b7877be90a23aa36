"""Condition operators, table-driven.

Cases follow the AWS IAM User Guide:
- "IAM JSON policy elements: Condition operators"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  (missing keys: positive operators false, negated operators true; ...IfExists; Null; the
  per-family rules: case-sensitive strings, wildcards in *Like, ARN components, CIDR ranges,
  ISO 8601 / epoch dates).
- "Single-valued vs. multivalued context keys" (ForAllValues / ForAnyValue, empty sets)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- "IAM JSON policy elements: Condition": several operators, and several keys, are ANDed;
  several values for a key are ORed, and for negated operators the request value must be none of
  them; key names ignore case.
"""

from __future__ import annotations

import pytest

from kmsdoctor.policy import Decision, PolicyError, Request, RequestPrincipal, parse_policy

MISSING = object()
SESSION = RequestPrincipal("arn:aws:sts::222222222222:assumed-role/Deploy/s1", "222222222222")


def holds(condition: dict, context: dict) -> bool:
    """Whether a condition block holds, seen through a one-statement Allow policy."""
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}
            ],
        },
        name="conditions",
    )
    request = Request("kms:Decrypt", "arn:aws:kms:eu-west-1:111111111111:key/k", SESSION, context)
    return policy.evaluate(request).decision is Decision.ALLOW


def one(operator: str, key: str, policy_values: object, request_value: object) -> bool:
    context = {} if request_value is MISSING else {key: request_value}
    return holds({operator: {key: policy_values}}, context)


STRING_CASES = [
    # StringEquals: exact, case-sensitive; several policy values are ORed.
    ("StringEquals", "aws:PrincipalOrgID", "o-abc", "o-abc", True),
    ("StringEquals", "aws:PrincipalOrgID", "o-abc", "o-ABC", False),
    ("StringEquals", "aws:PrincipalOrgID", ["o-x", "o-abc"], "o-abc", True),
    ("StringEquals", "aws:PrincipalOrgID", "o-abc", MISSING, False),
    ("StringEquals", "aws:PrincipalOrgID", "o-*", "o-abc", False),  # no wildcards in Equals
    # StringNotEquals: none of the values; a missing key makes it true.
    ("StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "audit", False),
    ("StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "security", False),
    ("StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "dev", True),
    ("StringNotEquals", "aws:PrincipalTag/role", "audit", MISSING, True),
    ("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "Payments", "PAYMENTS", True),
    ("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "Payments", "billing", False),
    ("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "Payments", "payments", False),
    ("StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "Payments", MISSING, True),
    # StringLike: * any run of characters, ? exactly one; case-sensitive.
    ("StringLike", "kms:ViaService", "s3.*.amazonaws.com", "s3.eu-west-1.amazonaws.com", True),
    ("StringLike", "kms:ViaService", "s3.*.amazonaws.com", "ec2.eu-west-1.amazonaws.com", False),
    ("StringLike", "s3:prefix", "home/?", "home/a", True),
    ("StringLike", "s3:prefix", "home/?", "home/ab", False),
    ("StringLike", "s3:prefix", "Home/*", "home/a", False),
    ("StringLike", "s3:prefix", ["a*", "*z"], "xyz", True),
    ("StringNotLike", "s3:prefix", "home/*", "home/a", False),
    ("StringNotLike", "s3:prefix", "home/*", "tmp/a", True),
    ("StringNotLike", "s3:prefix", "home/*", MISSING, True),
]

NUMERIC_CASES = [
    ("NumericEquals", "s3:max-keys", "10", "10", True),
    ("NumericEquals", "s3:max-keys", 10, "10", True),  # JSON number in the policy
    ("NumericEquals", "s3:max-keys", "1.5", "1.50", True),
    ("NumericNotEquals", "s3:max-keys", "10", "11", True),
    ("NumericNotEquals", "s3:max-keys", "10", "10", False),
    ("NumericLessThan", "s3:max-keys", "10", "9", True),
    ("NumericLessThan", "s3:max-keys", "10", "10", False),
    ("NumericLessThanEquals", "s3:max-keys", "10", "10", True),
    ("NumericGreaterThan", "s3:max-keys", "10", "11", True),
    ("NumericGreaterThan", "s3:max-keys", "10", "10", False),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", "10", True),
    ("NumericLessThan", "s3:max-keys", "10", MISSING, False),
    ("NumericEquals", "s3:max-keys", "10", "ten", False),  # not a number equals nothing
]

DATE_CASES = [
    ("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", "2029-12-31T23:59:59Z", True),
    ("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "aws:CurrentTime", "2030-01-01", "2030-01-01T00:00:00Z", True),
    ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", "2024-06-01T12:00:00Z", True),
    (
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        "2024-06-01T12:00:00Z",
        "2024-06-01T11:00:00Z",
        False,
    ),
    # Epoch seconds and ISO 8601 name the same instant.
    ("DateEquals", "aws:EpochTime", "1700000000", "2023-11-14T22:13:20Z", True),
    ("DateEquals", "aws:CurrentTime", "2023-11-14T22:13:20Z", "1700000000", True),
    ("DateEquals", "aws:CurrentTime", "2023-11-14T23:13:20+01:00", "2023-11-14T22:13:20Z", True),
    ("DateNotEquals", "aws:CurrentTime", "2023-11-14T22:13:20Z", "2023-11-14T22:13:21Z", True),
    ("DateLessThan", "aws:TokenIssueTime", "2030-01-01T00:00:00Z", MISSING, False),
]

OTHER_CASES = [
    ("Bool", "aws:SecureTransport", "true", "true", True),
    ("Bool", "aws:SecureTransport", "true", "false", False),
    ("Bool", "aws:SecureTransport", True, "true", True),  # JSON boolean in the policy
    ("Bool", "aws:SecureTransport", "false", MISSING, False),
    ("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", True),
    ("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", "T3RoZXI=", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "198.51.100.7", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", "203.0.113.7", True),  # no mask: one address
    ("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
    ("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64", "203.0.113.7", False),
    ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24", "198.51.100.0/24"], "198.51.100.1", False),
    ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24", "198.51.100.0/24"], "192.0.2.1", True),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", MISSING, True),
]

ARN_CASES = [
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::222222222222:role/*",
        "arn:aws:iam::222222222222:role/Deploy",
        True,
    ),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::*:role/Deploy",
        "arn:aws:iam::333333333333:role/Deploy",
        True,
    ),
    (
        "ArnEquals",
        "aws:PrincipalArn",
        "arn:aws:iam::*:role/Deploy",
        "arn:aws:iam::333333333333:role/Deploy",
        True,
    ),
    ("ArnEquals", "aws:SourceArn", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket", True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:s3:::bucket", "arn:aws:s3:::Bucket", False),
    # The resource component may hold colons and slashes; a * there spans them.
    (
        "ArnLike",
        "aws:SourceArn",
        "arn:aws:logs:*:*:log-group:*",
        "arn:aws:logs:eu-west-1:1:log-group:a:b",
        True,
    ),
    # Six components are compared one by one: a * in the region cannot swallow the account.
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:*:bucket", "arn:aws:s3:::bucket", False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::bucket*", "arn:aws:s3:::bucket/key", True),
    ("ArnLike", "aws:SourceArn", "*", "arn:aws:s3:::bucket", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::bucket", "not-an-arn", False),
    (
        "ArnNotLike",
        "aws:PrincipalArn",
        "arn:aws:iam::222222222222:role/Admin*",
        "arn:aws:iam::222222222222:role/Deploy",
        True,
    ),
    (
        "ArnNotEquals",
        "aws:PrincipalArn",
        "arn:aws:iam::222222222222:role/Deploy",
        "arn:aws:iam::222222222222:role/Deploy",
        False,
    ),
    ("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::222222222222:role/*", MISSING, True),
]

NULL_AND_IF_EXISTS_CASES = [
    ("Null", "aws:TokenIssueTime", "true", MISSING, True),
    ("Null", "aws:TokenIssueTime", "true", "2024-01-01T00:00:00Z", False),
    ("Null", "aws:TokenIssueTime", "false", "2024-01-01T00:00:00Z", True),
    ("Null", "aws:TokenIssueTime", "false", MISSING, False),
    ("Null", "aws:TagKeys", "true", [], True),  # an empty multivalued key counts as absent
    ("StringEqualsIfExists", "ec2:InstanceType", "t3.micro", MISSING, True),
    ("StringEqualsIfExists", "ec2:InstanceType", "t3.micro", "t3.micro", True),
    ("StringEqualsIfExists", "ec2:InstanceType", "t3.micro", "m5.large", False),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t3.micro", "t3.micro", False),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t3.micro", MISSING, True),
    ("NumericLessThanIfExists", "s3:max-keys", "10", MISSING, True),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:s3:::b", "arn:aws:s3:::c", False),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", MISSING, True),
]

SET_CASES = [
    # ForAnyValue: at least one request value matches one policy value; absent key: false.
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["b", "c"], ["a", "b"], True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["b", "c"], ["a", "x"], False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["b", "c"], MISSING, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["b", "c"], [], False),
    (
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        "o-a/r-ab12/ou-ab12-11111111/*",
        ["o-a/r-ab12/ou-ab12-11111111/ou-x/"],
        True,
    ),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", "c", ["c", "d"], True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", "c", ["c"], False),
    # ForAllValues: every request value matches a policy value; absent or empty key: true.
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b", "c"], ["a", "b"], True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b", "c"], ["a", "z"], False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b", "c"], MISSING, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b", "c"], [], True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", "c", ["a", "b"], True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", "c", ["a", "c"], False),
    ("ForAllValues:StringLike", "aws:TagKeys", ["key1*"], ["key1a", "key1b"], True),
    ("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", "a", MISSING, True),
    # A one-value request for a set operator.
    ("ForAnyValue:StringEquals", "aws:TagKeys", "a", "a", True),
]


@pytest.mark.parametrize(
    ("operator", "key", "policy_values", "request_value", "expected"),
    STRING_CASES + NUMERIC_CASES + DATE_CASES + OTHER_CASES + ARN_CASES,
)
def test_operator(operator, key, policy_values, request_value, expected):
    assert one(operator, key, policy_values, request_value) is expected


@pytest.mark.parametrize(
    ("operator", "key", "policy_values", "request_value", "expected"),
    NULL_AND_IF_EXISTS_CASES + SET_CASES,
)
def test_presence_and_set_operators(operator, key, policy_values, request_value, expected):
    assert one(operator, key, policy_values, request_value) is expected


def test_keys_under_one_operator_are_anded():
    condition = {"StringEquals": {"aws:PrincipalOrgID": "o-abc", "kms:CallerAccount": "2222"}}
    assert holds(condition, {"aws:PrincipalOrgID": "o-abc", "kms:CallerAccount": "2222"})
    assert not holds(condition, {"aws:PrincipalOrgID": "o-abc", "kms:CallerAccount": "3333"})


def test_operators_are_anded():
    condition = {
        "StringEquals": {"aws:PrincipalOrgID": "o-abc"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    assert holds(condition, {"aws:PrincipalOrgID": "o-abc", "aws:SecureTransport": "true"})
    assert not holds(condition, {"aws:PrincipalOrgID": "o-abc", "aws:SecureTransport": "false"})


def test_key_names_ignore_case_values_do_not():
    condition = {"StringEquals": {"AWS:principalorgid": "o-abc"}}
    assert holds(condition, {"aws:PrincipalOrgID": "o-abc"})
    assert not holds(condition, {"aws:PrincipalOrgID": "O-ABC"})


def test_operator_names_are_read_ignoring_case():
    assert holds({"stringequals": {"k": "v"}}, {"k": "v"})
    assert holds({"forallvalues:stringlikeifexists": {"k": "v*"}}, {"k": ["v1", "v2"]})


@pytest.mark.parametrize(
    "operator",
    ["StringEqualz", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null", "IfExists"],
)
def test_unknown_operator_is_reported_not_guessed(operator):
    with pytest.raises(PolicyError) as raised:
        holds({operator: {"k": "v"}}, {})
    assert raised.value.location == f"Statement[0].Condition.{operator}"
    assert "unknown condition operator" in raised.value.message


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("NumericEquals", "ten"),
        ("DateLessThan", "next tuesday"),
        ("Bool", "yes"),
        ("BinaryEquals", "not base64!"),
        ("IpAddress", "203.0.113.0/33"),
        ("Null", "maybe"),
    ],
)
def test_malformed_condition_values_are_policy_errors(operator, value):
    with pytest.raises(PolicyError) as raised:
        holds({operator: {"k": value}}, {})
    assert raised.value.location.startswith(f"Statement[0].Condition.{operator}.k")


def test_multivalued_request_without_qualifier_is_read_as_any_value_and_noted():
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:TagKeys": "b"}},
            },
        },
        name="p",
    )
    request = Request("s3:PutObject", "arn:aws:s3:::b/k", SESSION, {"aws:TagKeys": ["a", "b"]})
    trace = policy.evaluate(request).statements[0].conditions[0]
    assert trace.matched
    assert trace.request_values == ("a", "b")
    assert "ForAnyValue/ForAllValues" in trace.note
