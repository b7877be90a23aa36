"""parse_policy: structure, errors with locations, warnings, limits.

Structure per "Grammar of the IAM JSON policy language"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from kmsdoctor.policy import (
    Decision,
    PolicyError,
    Request,
    RequestPrincipal,
    describe_statement,
    parse_policy,
)
from kmsdoctor.policy.parse import MAX_POLICY_CHARACTERS, MAX_STATEMENTS

SESSION = RequestPrincipal("arn:aws:sts::222222222222:assumed-role/Deploy/s1", "222222222222")
GOOD_STATEMENT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def error_for(document, kind="identity") -> PolicyError:
    with pytest.raises(PolicyError) as raised:
        parse_policy(document, name="the-policy", kind=kind)
    assert raised.value.policy_name == "the-policy"
    return raised.value


def test_statement_may_be_one_object_or_a_list():
    single = parse_policy({"Version": "2012-10-17", "Statement": GOOD_STATEMENT}, name="p")
    listed = parse_policy(json.dumps({"Statement": [GOOD_STATEMENT, GOOD_STATEMENT]}), name="p")
    assert len(single.statements) == 1
    assert len(listed.statements) == 2
    assert single.version == "2012-10-17"
    assert listed.version is None


def test_url_encoded_and_byte_input():
    text = json.dumps({"Statement": GOOD_STATEMENT})
    assert parse_policy(urllib.parse.quote(text), name="p").statements
    assert parse_policy(text.encode(), name="p").statements


@pytest.mark.parametrize(
    ("document", "location", "message"),
    [
        ("{not json", "line 1 column 2", "not valid JSON"),
        ("[]", "<document>", "must be a JSON object"),
        ('"text"', "<document>", "must be a JSON object"),
        ('{"Statement": NaN}', "<document>", "NaN is not a JSON value"),
        ({"Version": "2012-10-17"}, "<document>", "no Statement"),
        ({"Version": "2019-01-01", "Statement": []}, "Version", "unknown policy language"),
        ({"Statement": "Allow everything"}, "Statement", "object or a list"),
        ({"Statement": [GOOD_STATEMENT], "Statment": []}, "Statment", "unknown policy element"),
        ({"Statement": ["Allow"]}, "Statement[0]", "JSON object"),
        ({"Statement": [{"Action": "s3:*", "Resource": "*"}]}, "Statement[0]", "no Effect"),
        (
            {"Statement": [{**GOOD_STATEMENT, "Effect": "Permit"}]},
            "Statement[0].Effect",
            "Allow or Deny",
        ),
        (
            {"Statement": [GOOD_STATEMENT, {**GOOD_STATEMENT, "Actions": "s3:*"}]},
            "Statement[1].Actions",
            "unknown statement element",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
            "Statement[0]",
            "no Action or NotAction",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "NotAction": "s3:Put*"}]},
            "Statement[0]",
            "both Action and NotAction",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
            "Statement[0]",
            "no Resource or NotResource",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "Action": "GetObject"}]},
            "Statement[0].Action[0]",
            "not an action",
        ),
        ({"Statement": [{**GOOD_STATEMENT, "Action": []}]}, "Statement[0].Action", "empty list"),
        (
            {"Statement": [{**GOOD_STATEMENT, "Resource": ["*", 5]}]},
            "Statement[0].Resource[1]",
            "must be a string",
        ),
        ({"Statement": [{**GOOD_STATEMENT, "Sid": 7}]}, "Statement[0].Sid", "must be a string"),
        (
            {"Statement": [{**GOOD_STATEMENT, "Condition": "aws:SecureTransport"}]},
            "Statement[0].Condition",
            "JSON object",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "Condition": {"StringEquals": {}}}]},
            "Statement[0].Condition.StringEquals",
            "no condition keys",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "Condition": {"StringEquals": {"k": None}}}]},
            "Statement[0].Condition.StringEquals.k",
            "string, number or boolean",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "Condition": {"StringEquals": {"k": []}}}]},
            "Statement[0].Condition.StringEquals.k",
            "no values",
        ),
        (
            {"Statement": [{**GOOD_STATEMENT, "Condition": {"StringEquals": {"k": [["v"]]}}}]},
            "Statement[0].Condition.StringEquals.k[0]",
            "string, number or boolean",
        ),
    ],
)
def test_malformed_documents(document, location, message):
    error = error_for(document)
    assert error.location == location
    assert message in error.message
    assert str(error).startswith(f"the-policy: {location}: ")


def test_vpc_endpoint_policies_may_leave_resource_out():
    policy = parse_policy(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*"}]},
        name="endpoint",
        kind="vpc_endpoint",
    )
    request = Request("s3:GetObject", "arn:aws:s3:::any/thing", SESSION)
    assert policy.evaluate(request).decision is Decision.ALLOW


def test_unknown_kind_is_a_policy_error():
    error = error_for({"Statement": []}, kind="bucket")
    assert error.location == "<kind>"


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
        "x" * (MAX_POLICY_CHARACTERS + 1),
        json.dumps({"Statement": [GOOD_STATEMENT] * (MAX_STATEMENTS + 1)}),
        '{"Statement": ' + "1" * 5000 + "}",  # beyond int's digit limit
        b"\xff\xfe",
        None,
        42,
        ["not", "a", "mapping"],
    ],
)
def test_hostile_or_wrong_inputs_are_policy_errors(document):
    error_for(document)


def test_decoded_input_limits_depth_size_and_cycles():
    deep: dict = {"Statement": GOOD_STATEMENT}
    for _ in range(100):
        deep = {"Statement": deep}
    assert "nested deeper" in error_for(deep).message

    cyclic: dict = {"Statement": []}
    cyclic["Statement"].append(cyclic)
    error_for(cyclic)

    assert "not a JSON value" in error_for({"Statement": {1, 2}}).message
    assert "keys must be strings" in error_for({"Statement": {1: "x"}}).message


# The worked example of /work/shared/reference/000 ("How to Share a CodePipeline Artefact KMS
# Key Across Accounts"): two "StringEquals" blocks in one Condition.
ARTICLE_KEY_POLICY_STATEMENT = """{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AllowOrgMembersToDecrypt",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:DescribeKey"],
    "Resource": "*",
    "Condition": {
      "StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"},
      "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
  }]
}"""


def test_duplicate_keys_last_one_wins_and_are_reported():
    """The grammar says an element "must not contain multiple instances of the same key"; what a
    service does with a stored duplicate is not documented. Like json.loads, the engine keeps the
    last block — so aws:PrincipalOrgID is never checked — and warns about it.
    """
    policy = parse_policy(ARTICLE_KEY_POLICY_STATEMENT, name="key-policy", kind="resource")
    assert [warning.location for warning in policy.warnings] == ["Statement[0].Condition"]
    assert "'StringEquals' appears more than once" in policy.warnings[0].message

    outsider = Request(
        "kms:Decrypt",
        "arn:aws:kms:eu-west-1:111111111111:key/k",
        SESSION,
        {"aws:PrincipalOrgID": "o-someone-else", "kms:ViaService": "s3.eu-west-1.amazonaws.com"},
    )
    result = policy.evaluate(outsider)
    assert result.decision is Decision.ALLOW
    assert [condition.key for condition in result.statements[0].conditions] == ["kms:ViaService"]
    assert describe_statement(result.statements[0]).startswith("statement AllowOrgMembers")


def test_duplicate_keys_elsewhere_are_reported_with_their_location():
    text = (
        '{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Principal": {"AWS": "*", '
        '"AWS": "222222222222"}, "Action": "s3:*", "Resource": "*"}]}'
    )
    policy = parse_policy(text, name="bucket", kind="resource")
    assert [warning.location for warning in policy.warnings] == [
        "Statement[0]",
        "Statement[0].Principal",
    ]
    assert policy.statements[0].effect == "Allow"
