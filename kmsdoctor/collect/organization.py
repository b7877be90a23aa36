"""The organization over an account, and the SCPs or RCPs on the path from its root down.

Only the management account (or a delegated administrator) may read the tree and its policies;
a member account usually gets AccessDeniedException, which is recorded as unknown: the analysis
then says the ceiling could not be checked, it never assumes there is none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
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


class OrganizationTree:
    """The organization over one account and the path from it up to the root: DescribeOrganization
    and the ListParents walk, read once however many policy types are read along the path. An
    account that is both a resource account (RCPs) and a caller account (SCPs) — a pipeline's
    tooling account — is walked once, and each type's policies are read at each level as soon as
    the walk finds it."""

    def __init__(self, org: Any, account_id: str) -> None:
        self.org = org
        self.account_id = account_id
        self._changed = threading.Condition()
        self._claimed = False
        self._levels: list[tuple[str, LevelType]] = [(account_id, "ACCOUNT")]
        self._done = False
        self.described: CallResult | None = None  # DescribeOrganization, once the walk is done
        self.walk_error: CallError | None = None
        self.failure: BaseException | None = None  # what the walk raised (a credential error)

    def claim(self) -> bool:
        """True for the one reader that must run `walk`; the others read what it finds."""
        with self._changed:
            mine = not self._claimed
            self._claimed = True
            return mine

    def walk(self) -> None:
        try:
            described, _ = parallel(lambda: call(self.org, "DescribeOrganization"), self._walk_up)
            self.described = described
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _walk_up(self) -> None:
        child, kind = self.account_id, "ACCOUNT"
        depth = 1
        while kind != "ROOT" and depth < MAX_DEPTH:
            parents = call_pages(self.org, "ListParents", "Parents", ChildId=child)
            if not parents.ok or not parents.response or not parents.response["Parents"]:
                self.walk_error = parents.error or CallError(
                    "organizations:ListParents", "NoParent", f"{child} has no parent"
                )
                return
            parent = parents.response["Parents"][0]
            child, kind = parent["Id"], parent["Type"]
            depth += 1
            with self._changed:
                self._levels.append((child, kind))
                self._changed.notify_all()

    def levels_as_found(self) -> Iterator[tuple[str, LevelType]]:
        """Each level, the account first, as soon as the walk has found it."""
        given = 0
        while True:
            with self._changed:
                while given == len(self._levels) and not self._done:
                    self._changed.wait()
                found = self._levels[given:]
                done = self._done
            yield from found
            given += len(found)
            if done and given == len(self._levels):
                return


def collect_organization(
    org: Any, account_id: str, policy_type: PolicyType
) -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
    """The organization and the policies of `policy_type` at every level above `account_id`,
    root first."""
    return organization_policies(OrganizationTree(org, account_id), policy_type)


def organization_policies(
    tree: OrganizationTree, policy_type: PolicyType
) -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
    """The policies of `policy_type` at every level of `tree` (walked by the first reader to
    ask), root first. Each level's policies are fetched as soon as the level is known, while the
    walk up the tree goes on."""
    org = tree.org
    with worker_pool(MAX_DEPTH + 2) as pool:
        walked = pool.submit(tree.walk) if tree.claim() else None
        fetching = [
            pool.submit(_level, org, target, kind, policy_type)
            for target, kind in tree.levels_as_found()
        ]
        if walked is not None:
            walked.result()
        level_results = [future.result() for future in fetching]

    if tree.described is None:  # the walk raised; its own reader raises it too
        assert tree.failure is not None
        raise tree.failure
    organization = to_fetched(tree.described, _organization, NOT_IN_ORGANIZATION)
    if organization.status == "absent":
        # No organization: no SCPs or RCPs can apply. The same AWS answer says so.
        return organization, Fetched.absent(organization.error)
    if organization.is_unknown:
        assert organization.error is not None
        return organization, Fetched.unknown(organization.error)
    failure = tree.walk_error or next((e for e in (r[1] for r in level_results) if e), None)
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
