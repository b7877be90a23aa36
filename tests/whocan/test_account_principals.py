"""The account listing: every role and user of B from GetAccountAuthorizationDetails, in the
same shape (and with the same policies) the per-principal collector reads one call at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from kmsdoctor import aws
from kmsdoctor.collect import account_principals
from kmsdoctor.collect.account_principals import collect_account_principals
from kmsdoctor.collect.caller_account import PrincipalRef, collect_principal
from tests.trust.harness import admin_credentials
from tests.whocan.conftest import B, role_arn, user_arn


def iam_of(box, profile: str = "b") -> Any:
    return aws.client(aws.session_for(profile, box.region), "iam")


def listed(box) -> dict[str, Any]:
    listing = collect_account_principals(iam_of(box))
    assert listing.principals.is_ok, listing.principals.reason()
    return {p.arn: p for p in listing.principals.value}


def documents(fetched) -> list[tuple[str, Any]]:
    assert fetched.is_ok, fetched.reason()
    return sorted((p.name, p.document) for p in fetched.value)


def test_every_role_and_user_of_the_account_is_listed_with_one_call(many_roles, aws_faults):
    aws_faults.calls.clear()
    principals = listed(many_roles)
    assert role_arn("BIAnalyticsRole") in principals
    assert role_arn("BoundaryRole") in principals
    assert user_arn("carol") in principals and user_arn("dave") in principals
    assert any("/aws-service-role/" in arn for arn in principals)
    # Nothing read principal by principal: one listing (moto answers in one page).
    assert aws_faults.calls == ["iam:GetAccountAuthorizationDetails"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("role", "BIAnalyticsRole"),  # inline policy
        ("role", "ManagedReaderRole"),  # attached managed policy
        ("role", "ExplicitDenyRole"),  # two inline policies, one a Deny
        ("role", "BoundaryRole"),  # a permissions boundary
        ("user", "carol"),  # policies only through her group (inline + managed)
        ("user", "dave"),  # no policy at all
    ],
)
def test_a_listed_principal_holds_what_the_per_principal_collector_reads(many_roles, kind, name):
    arn = role_arn(name) if kind == "role" else user_arn(name)
    from_listing = listed(many_roles)[arn]
    one_by_one = collect_principal(iam_of(many_roles), PrincipalRef(kind, name, arn, "role_arn"))
    assert from_listing.kind == one_by_one.kind
    assert from_listing.entity.value.unique_id == one_by_one.entity.value.unique_id
    assert from_listing.entity.value.trust_policy == one_by_one.entity.value.trust_policy
    assert documents(from_listing.inline_policies) == documents(one_by_one.inline_policies)
    assert documents(from_listing.attached_policies) == documents(one_by_one.attached_policies)
    assert from_listing.permissions_boundary.status == one_by_one.permissions_boundary.status
    if one_by_one.permissions_boundary.is_ok:
        assert (
            from_listing.permissions_boundary.value.document
            == one_by_one.permissions_boundary.value.document
        )
    if kind == "user":
        assert documents(from_listing.group_policies) == documents(one_by_one.group_policies)


def test_carol_reads_through_her_group_named_group_slash_policy(many_roles):
    carol = listed(many_roles)[user_arn("carol")]
    assert [p.name for p in carol.group_policies.value] == [
        "analysts/GroupRead",
        "analysts/GroupReadManaged",
    ]
    assert carol.inline_policies.value == [] and carol.attached_policies.value == []


def test_a_listing_the_profile_may_not_make_is_unknown_not_a_crash(many_roles, aws_faults):
    aws_faults.add(
        "iam",
        "GetAccountAuthorizationDetails",
        "AccessDenied",
        "User: arn:aws:sts::222222222222:assumed-role/BIAnalyticsRole/x is not authorized to "
        "perform: iam:GetAccountAuthorizationDetails",
        status=403,
    )
    listing = collect_account_principals(iam_of(many_roles))
    assert listing.principals.is_unknown
    assert listing.principals.error.operation == "iam:GetAccountAuthorizationDetails"
    assert listing.principals.error.code == "AccessDenied"


def test_throttling_is_retried_and_the_listing_completes(many_roles, aws_faults, fast_retries):
    aws_faults.add(
        "iam", "GetAccountAuthorizationDetails", "Throttling", "Rate exceeded", status=400, times=2
    )
    aws_faults.calls.clear()
    principals = listed(many_roles)
    assert role_arn("BoundaryRole") in principals
    assert aws_faults.calls.count("iam:GetAccountAuthorizationDetails") == 3


def leave_out_of_the_answer(monkeypatch, policy_arn: str) -> None:
    """GetAccountAuthorizationDetails answers without that managed policy, although principals
    attach it: kmsdoctor must read it on its own."""
    real = account_principals.call_pages

    def without_that_policy(*args: Any, **kwargs: Any) -> aws.CallResult:
        result = real(*args, **kwargs)
        kept = [p for p in result.response["Policies"] if p["Arn"] != policy_arn]
        return aws.CallResult(result.operation, response={**result.response, "Policies": kept})

    monkeypatch.setattr(account_principals, "call_pages", without_that_policy)


def test_a_policy_the_answer_leaves_out_is_read_once_for_all_who_attach_it(
    many_roles, aws_faults, monkeypatch
):
    """ReadCuratedLakeManaged is attached to ManagedReaderRole and (below) to dave; dropped
    from the answer, it is read with one GetPolicy + GetPolicyVersion for both."""
    iam = iam_of(many_roles)
    policy_arn = f"arn:aws:iam::{B}:policy/ReadCuratedLakeManaged"
    boto3.client(
        "iam", region_name=many_roles.region, **admin_credentials(many_roles, B)
    ).attach_user_policy(UserName="dave", PolicyArn=policy_arn)
    leave_out_of_the_answer(monkeypatch, policy_arn)
    aws_faults.calls.clear()
    listing = collect_account_principals(iam)
    principals = {p.arn: p for p in listing.principals.value}
    assert listing.policies_read_separately == [policy_arn]
    assert aws_faults.calls.count("iam:GetPolicy") == 1
    assert aws_faults.calls.count("iam:GetPolicyVersion") == 1
    for arn in (role_arn("ManagedReaderRole"), user_arn("dave")):
        assert [p.arn for p in principals[arn].attached_policies.value] == [policy_arn]


def test_a_left_out_policy_that_cannot_be_read_makes_only_its_users_unknown(
    many_roles, aws_faults, monkeypatch
):
    policy_arn = f"arn:aws:iam::{B}:policy/ReadCuratedLakeManaged"
    leave_out_of_the_answer(monkeypatch, policy_arn)
    aws_faults.add("iam", "GetPolicy", "AccessDenied", "not authorized", status=403)
    principals = listed(many_roles)
    managed_reader = principals[role_arn("ManagedReaderRole")]
    assert managed_reader.attached_policies.is_unknown
    assert managed_reader.attached_policies.error.operation == "iam:GetPolicy"
    assert principals[role_arn("BIAnalyticsRole")].attached_policies.is_ok


# --- pages ---------------------------------------------------------------------------------------


@dataclass
class _Pages:
    pages: list[dict[str, Any]]

    def paginate(self, **params: Any):
        assert params["PaginationConfig"] == {"PageSize": account_principals.PAGE_SIZE}
        yield from self.pages


class _PagedIam:
    """An IAM client whose GetAccountAuthorizationDetails answers in the given pages (moto
    answers in one page whatever the size)."""

    class meta:
        class service_model:
            service_name = "iam"

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self._pages = _Pages(pages)

    def get_paginator(self, name: str) -> _Pages:
        assert name == "get_account_authorization_details"
        return self._pages


def _role_detail(name: str) -> dict[str, Any]:
    return {
        "RoleName": name,
        "RoleId": f"AROA{name.upper():0<17}"[:21],
        "Arn": role_arn(name),
        "Path": "/",
        "RolePolicyList": [],
        "AttachedManagedPolicies": [
            {"PolicyName": "Shared", "PolicyArn": f"arn:aws:iam::{B}:policy/Shared"}
        ],
    }


S3_ANYWHERE = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}


def test_roles_and_policies_spread_over_pages_are_all_listed():
    shared = {
        "PolicyName": "Shared",
        "Arn": f"arn:aws:iam::{B}:policy/Shared",
        "DefaultVersionId": "v2",
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": False, "Document": {"Statement": []}},
            {
                "VersionId": "v2",
                "IsDefaultVersion": True,
                "Document": json.dumps({"Statement": [S3_ANYWHERE]}),
            },
        ],
    }
    pages = [
        {"RoleDetailList": [_role_detail(f"Role{i}") for i in range(0, 3)]},
        {"RoleDetailList": [_role_detail(f"Role{i}") for i in range(3, 5)]},
        {"RoleDetailList": [], "Policies": [shared]},
    ]
    listing = collect_account_principals(_PagedIam(pages))
    principals = listing.principals.value
    assert [p.arn for p in principals] == [role_arn(f"Role{i}") for i in range(5)]
    for principal in principals:
        (policy,) = principal.attached_policies.value
        assert policy.version_id == "v2"  # the default version, not the first
        assert policy.document["Statement"][0]["Action"] == "s3:*"  # text parsed to JSON
    assert listing.policies_read_separately == []


def test_accounts_are_listed_through_their_own_profiles(many_roles):
    listed = account_principals.list_accounts({B: "b", "111111111111": "a"}, many_roles.region)
    assert listed["111111111111"].is_ok  # A has no role or user in this sandbox
    assert role_arn("BoundaryRole") in [p.arn for p in listed[B].value]


def test_a_profile_that_reads_another_account_is_not_taken_at_its_word(many_roles):
    listed = account_principals.list_accounts({"333333333333": "b"}, many_roles.region)
    assert listed["333333333333"].is_unknown
    assert "profile b lists account 222222222222, not 333333333333" in (
        listed["333333333333"].error.message
    )
