"""Sentences about traces (describe_statement / describe_condition)."""

from __future__ import annotations

from kmsdoctor.policy import (
    ConditionTrace,
    Request,
    RequestPrincipal,
    describe_condition,
    describe_statement,
    parse_policy,
)

B = "222222222222"
SESSION = RequestPrincipal(f"arn:aws:sts::{B}:assumed-role/BIRole/s", B)
KEY = "arn:aws:kms:eu-west-1:111111111111:key/k"


def first_trace(statement: dict, request: Request, kind: str = "resource"):
    policy = parse_policy(
        {"Version": "2012-10-17", "Statement": [statement]}, name="key-policy", kind=kind
    )
    return policy.evaluate(request).statements[0]


def test_via_service_mismatch_names_both_values():
    statement = {
        "Sid": "AllowBIRoleDecrypt",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{B}:role/BIRole"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    }
    request = Request("kms:Decrypt", KEY, SESSION, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert describe_statement(first_trace(statement, request)) == (
        "statement AllowBIRoleDecrypt did not apply: kms:ViaService is "
        "s3.eu-west-1.amazonaws.com, the policy wants s3.us-east-1.amazonaws.com"
    )


def test_missing_key_and_negated_operators():
    absent = ConditionTrace("StringEquals", "aws:PrincipalOrgID", ("o-abc",), None, False)
    assert describe_condition(absent) == (
        "aws:PrincipalOrgID is not in the request, the policy wants o-abc"
    )
    negated = ConditionTrace("StringNotEquals", "kms:CallerAccount", ("1", "2"), ("2",), False)
    assert describe_condition(negated) == "kms:CallerAccount is 2, the policy wants none of 1, 2"
    like = ConditionTrace("ForAnyValue:StringLike", "aws:TagKeys", ("a*",), ("b", "c"), False)
    assert describe_condition(like) == (
        "aws:TagKeys is [b, c], the policy wants a value like a*, for at least one value"
    )
    dates = ConditionTrace("DateLessThan", "aws:CurrentTime", ("2020-01-01",), ("2024",), False)
    assert describe_condition(dates).endswith("the policy wants before 2020-01-01")
    null = ConditionTrace("Null", "aws:TokenIssueTime", ("true",), ("x",), False)
    assert describe_condition(null) == "aws:TokenIssueTime is x, the policy wants it absent"


def test_elements_that_did_not_match_are_named():
    statement = {
        "Sid": "Encrypt",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{B}:role/Other"},
        "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
    sentence = describe_statement(first_trace(statement, Request("kms:Decrypt", KEY, SESSION)))
    assert sentence.startswith("statement Encrypt did not apply: ")
    assert "its Action (kms:Encrypt, kms:GenerateDataKey*) does not cover kms:Decrypt" in sentence
    assert f"does not name arn:aws:sts::{B}:assumed-role/BIRole/s" in sentence


def test_statement_without_sid_is_labelled_by_index():
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::other/*"}
    trace = first_trace(statement, Request("kms:Decrypt", KEY, SESSION), kind="identity")
    assert describe_statement(trace).startswith("statement Statement[0] did not apply: ")
    assert f"does not cover {KEY}" in describe_statement(trace)


def test_applying_statement_through_the_account_principal():
    statement = {
        "Sid": "EnableIAM",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    assert describe_statement(first_trace(statement, Request("kms:Decrypt", KEY, SESSION))) == (
        "statement EnableIAM applies: it allows kms:Decrypt through the account principal, so "
        "that account's IAM policies must allow too"
    )
