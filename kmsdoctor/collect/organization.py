"""The organization over an account, and the SCPs or RCPs on the path from its root down.

Only the management account (or a delegated administrator) may read the tree and its policies;
a member account usually gets AccessDeniedException, which is recorded as unknown: the analysis
then says the ceiling could not be checked, it never assumes there is none.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Literal

from kmsdoctor.aws import CallResult, call, call_pages
from kmsdoctor.collect.fetch import (
    first_failure,
    parallel,
    parse_policy_document,
    to_fetched,
)
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.snapshot import CallError, Fetched, NamedPolicy, Organization, PolicyLevel

PolicyType = Literal["SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"]
NOT_IN_ORGANIZATION = {"AWSOrganizationsNotInUseException"}
LevelType = Literal["ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"]
MAX_DEPTH = 7  # AWS allows five OU levels under the root; stop well past that on odd answers


def collect_organization(
    org: Any, account_id: str, policy_type: PolicyType
) -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
    """The organization and the policies of `policy_type` at every level above `account_id`,
    root first. Each level's policies are fetched as soon as the level is known, while the walk
    up the tree goes on."""
    with worker_pool(MAX_DEPTH + 2) as pool:
        described: Future[CallResult] = pool.submit(call, org, "DescribeOrganization")
        levels: list[tuple[str, LevelType]] = [(account_id, "ACCOUNT")]
        fetching = [pool.submit(_level, org, account_id, "ACCOUNT", policy_type)]
        walk_error = None
        child = account_id
        while levels[-1][1] != "ROOT" and len(levels) < MAX_DEPTH:
            parents = call_pages(org, "ListParents", "Parents", ChildId=child)
            if not parents.ok or not parents.response or not parents.response["Parents"]:
                walk_error = parents.error or CallError(
                    "organizations:ListParents", "NoParent", f"{child} has no parent"
                )
                break
            parent = parents.response["Parents"][0]
            child, kind = parent["Id"], parent["Type"]
            levels.append((child, kind))
            fetching.append(pool.submit(_level, org, child, kind, policy_type))
        organization = to_fetched(described.result(), _organization, NOT_IN_ORGANIZATION)
        level_results = [future.result() for future in fetching]

    if organization.status == "absent":
        # No organization: no SCPs or RCPs can apply. The same AWS answer says so.
        return organization, Fetched.absent(organization.error)
    if organization.is_unknown:
        assert organization.error is not None
        return organization, Fetched.unknown(organization.error)
    failure = walk_error or next((e for e in (r[1] for r in level_results) if e), None)
    if failure is not None:
        return organization, Fetched.unknown(failure)
    return organization, Fetched.ok([level for level, _ in reversed(level_results)])


def _organization(response: dict[str, Any]) -> Organization:
    described = response["Organization"]
    return Organization(
        id=described["Id"],
        management_account_id=described.get("MasterAccountId"),
    )


def _level(
    org: Any, target_id: str, kind: LevelType, policy_type: PolicyType
) -> tuple[PolicyLevel, CallError | None]:
    """One level's policies (ListPoliciesForTarget, then DescribePolicy for each) and its
    name; the first error met, if any."""
    name_call = (
        (lambda: call(org, "DescribeOrganizationalUnit", OrganizationalUnitId=target_id))
        if kind == "ORGANIZATIONAL_UNIT"
        else (lambda: None)
    )
    listed, named = parallel(
        lambda: call_pages(
            org, "ListPoliciesForTarget", "Policies", TargetId=target_id, Filter=policy_type
        ),
        name_call,
    )
    name = {"ROOT": "Root", "ACCOUNT": target_id}.get(kind, target_id)
    if named is not None and named.ok:
        name = named.response["OrganizationalUnit"].get("Name", target_id)
    level = PolicyLevel(target_id=target_id, target_type=kind, name=name)
    if not listed.ok:
        return level, listed.error
    summaries = listed.response["Policies"]
    described = parallel(
        *[(lambda s=s: call(org, "DescribePolicy", PolicyId=s["Id"])) for s in summaries]
    )
    failure = first_failure(described)
    if failure is not None:
        return level, failure
    level.policies = [_named_policy(result.response["Policy"]) for result in described]
    return level, None


def _named_policy(policy: dict[str, Any]) -> NamedPolicy:
    summary = policy.get("PolicySummary", {})
    return NamedPolicy(
        name=summary.get("Name", summary.get("Id", "")),
        document=parse_policy_document(policy.get("Content", "")),
        arn=summary.get("Arn"),
    )
