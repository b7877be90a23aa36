"""Every role and user of one account, read with `iam:GetAccountAuthorizationDetails`.

`who-can` needs every principal of an account with its policies. Reading them one by one (as
the caller collector does) costs five or more calls per role; GetAccountAuthorizationDetails
returns the account's roles, users, groups and managed policies in pages of up to 1,000 items,
so an account of 1,000 roles costs a handful of calls. The records made here are the same
`PrincipalInfo` the caller collector makes, so the analysis needs nothing new.

What one answer holds, and what it does not (IAM API reference, `RoleDetail`, `UserDetail`,
`GroupDetail`, `ManagedPolicyDetail`):

- roles: path, name, unique id, ARN, creation date, trust policy, inline policies with their
  documents, attached managed policies (name and ARN only), the permissions boundary (its ARN
  only), tags, `RoleLastUsed`, instance profiles. Not `MaxSessionDuration` or the description.
- users: the same minus the trust policy, plus the *names* of their groups.
- groups: inline policies with their documents, attached managed policies (ARNs).
- policies: each managed policy with every version's document and which one is the default.

So an attached policy's or a boundary's document is looked up by ARN among the answer's
policies. One the answer leaves out (an AWS managed policy it did not return) is read once with
`iam:GetPolicy` + `iam:GetPolicyVersion`, however many principals use it. Tags and
`RoleLastUsed` are not kept: no lock depends on them. A failed walk (after the usual retries;
a throttled page restarts it) makes the whole listing unknown, with the error; a managed policy
that cannot be read makes unknown only the principals that use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmsdoctor.arn import account_of
from kmsdoctor.aws import call_pages, client, session_for
from kmsdoctor.collect.caller_account import read_managed_policy
from kmsdoctor.collect.fetch import iso, parallel, parse_policy_document
from kmsdoctor.snapshot import CallError, EntityInfo, Fetched, NamedPolicy, PrincipalInfo

OPERATION = "GetAccountAuthorizationDetails"
RESULT_KEYS = ("RoleDetailList", "UserDetailList", "GroupDetailList", "Policies")
# Everything the answer can hold: the managed policies are what attached and boundary ARNs
# point at, so asking for them here saves a GetPolicy + GetPolicyVersion per policy.
ENTITY_FILTER = ["Role", "User", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
PAGE_SIZE = 1000  # IAM's largest MaxItems


@dataclass
class AccountPrincipals:
    """One account's roles and users, or why they could not be listed."""

    principals: Fetched[list[PrincipalInfo]]
    # Managed policies read on their own because the answer did not hold them (ARN list).
    policies_read_separately: list[str]


def collect_account_principals(iam: Any) -> AccountPrincipals:
    """Every role and user of the account whose credentials `iam` holds."""
    listed = call_pages(
        iam,
        "GetAccountAuthorizationDetails",
        RESULT_KEYS,
        Filter=ENTITY_FILTER,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    if not listed.ok:
        assert listed.error is not None
        return AccountPrincipals(Fetched.unknown(listed.error), [])
    answer = listed.response or {}
    policies = _managed_policies(answer.get("Policies", []))
    missing = sorted(_referenced_policy_arns(answer) - set(policies))
    # Each missing policy once, concurrently: GetPolicy, then GetPolicyVersion.
    fetched = parallel(*[(lambda arn=arn: read_managed_policy(iam, arn)) for arn in missing])
    for arn, policy in zip(missing, fetched, strict=True):
        policies[arn] = policy
    groups = {g["GroupName"]: g for g in answer.get("GroupDetailList", [])}

    principals: list[PrincipalInfo] = []
    for role in answer.get("RoleDetailList", []):
        principals.append(_role(role, policies))
    for user in answer.get("UserDetailList", []):
        principals.append(_user(user, policies, groups))
    principals.sort(key=lambda p: p.arn)
    return AccountPrincipals(Fetched.ok(principals), missing)


# --- the answer's managed policies --------------------------------------------------------------


def _managed_policies(details: list[dict[str, Any]]) -> dict[str, Fetched[NamedPolicy]]:
    """Each managed policy of the answer by ARN: its default version's document."""
    by_arn: dict[str, Fetched[NamedPolicy]] = {}
    for detail in details:
        arn = detail.get("Arn")
        if not arn:
            continue
        default_id = detail.get("DefaultVersionId")
        document = None
        for version in detail.get("PolicyVersionList", []):
            if version.get("IsDefaultVersion") or version.get("VersionId") == default_id:
                document = version.get("Document")
                default_id = version.get("VersionId", default_id)
                break
        if document is None:
            # Listed without its default version: read it like a policy the answer left out.
            continue
        by_arn[arn] = Fetched.ok(
            NamedPolicy(
                name=detail.get("PolicyName", arn.rsplit("/", 1)[-1]),
                document=parse_policy_document(document),
                arn=arn,
                version_id=default_id,
            )
        )
    return by_arn


def _referenced_policy_arns(answer: dict[str, Any]) -> set[str]:
    """Every managed policy ARN a role, user or group attaches or uses as a boundary."""
    arns: set[str] = set()
    for kind in ("RoleDetailList", "UserDetailList", "GroupDetailList"):
        for entity in answer.get(kind, []):
            for attached in entity.get("AttachedManagedPolicies", []):
                arns.add(attached["PolicyArn"])
            boundary = entity.get("PermissionsBoundary")
            if boundary and boundary.get("PermissionsBoundaryArn"):
                arns.add(boundary["PermissionsBoundaryArn"])
    return arns


# --- roles and users -------------------------------------------------------------------------


def _entity(raw: dict[str, Any], name_key: str, id_key: str) -> EntityInfo:
    trust = raw.get("AssumeRolePolicyDocument")
    return EntityInfo(
        name=raw.get(name_key, ""),
        arn=raw["Arn"],
        unique_id=raw.get(id_key, ""),
        path=raw.get("Path", "/"),
        create_date=iso(raw.get("CreateDate")),
        trust_policy=parse_policy_document(trust) if trust is not None else None,
    )


def _inline(raw: list[dict[str, Any]]) -> list[NamedPolicy]:
    return [
        NamedPolicy(name=p["PolicyName"], document=parse_policy_document(p["PolicyDocument"]))
        for p in raw
    ]


def _attached(
    raw: list[dict[str, Any]], policies: dict[str, Fetched[NamedPolicy]]
) -> Fetched[list[NamedPolicy]]:
    found: list[NamedPolicy] = []
    for attached in raw:
        policy = policies[attached["PolicyArn"]]
        if not policy.is_ok or policy.value is None:
            return Fetched.unknown(policy.error or _not_listed(attached["PolicyArn"]))
        found.append(policy.value)
    return Fetched.ok(found)


def _boundary(
    raw: dict[str, Any], policies: dict[str, Fetched[NamedPolicy]]
) -> Fetched[NamedPolicy]:
    boundary = raw.get("PermissionsBoundary")
    if not boundary or not boundary.get("PermissionsBoundaryArn"):
        return Fetched.absent()
    return policies[boundary["PermissionsBoundaryArn"]]


def _not_listed(arn: str) -> CallError:
    return CallError(f"iam:{OPERATION}", "PolicyNotListed", f"{arn} was not in the answer")


def _role(raw: dict[str, Any], policies: dict[str, Fetched[NamedPolicy]]) -> PrincipalInfo:
    return PrincipalInfo(
        arn=raw["Arn"],
        kind="role",
        # Read from IAM, not assumed: analysed as the role itself, like a --role-arn.
        source="role_arn",
        session_arn=None,
        entity=Fetched.ok(_entity(raw, "RoleName", "RoleId")),
        inline_policies=Fetched.ok(_inline(raw.get("RolePolicyList", []))),
        attached_policies=_attached(raw.get("AttachedManagedPolicies", []), policies),
        group_policies=Fetched.absent(),  # roles are never in groups
        permissions_boundary=_boundary(raw, policies),
        session_policy=Fetched.absent(),  # no session exists: nothing narrows the role
    )


def _user(
    raw: dict[str, Any],
    policies: dict[str, Fetched[NamedPolicy]],
    groups: dict[str, dict[str, Any]],
) -> PrincipalInfo:
    return PrincipalInfo(
        arn=raw["Arn"],
        kind="user",
        source="role_arn",
        session_arn=None,
        entity=Fetched.ok(_entity(raw, "UserName", "UserId")),
        inline_policies=Fetched.ok(_inline(raw.get("UserPolicyList", []))),
        attached_policies=_attached(raw.get("AttachedManagedPolicies", []), policies),
        group_policies=_group_policies(raw.get("GroupList", []), policies, groups),
        permissions_boundary=_boundary(raw, policies),
        session_policy=Fetched.absent(),  # long-term credentials: no session policy
    )


def _group_policies(
    names: list[str],
    policies: dict[str, Fetched[NamedPolicy]],
    groups: dict[str, dict[str, Any]],
) -> Fetched[list[NamedPolicy]]:
    """Every group's inline and attached policies, named GROUP/POLICY (as the caller
    collector names them)."""
    collected: list[NamedPolicy] = []
    for group_name in names:
        group = groups.get(group_name)
        if group is None:
            return Fetched.unknown(
                CallError(
                    f"iam:{OPERATION}",
                    "GroupNotListed",
                    f"group {group_name} was not in the answer",
                )
            )
        attached = _attached(group.get("AttachedManagedPolicies", []), policies)
        if not attached.is_ok:
            return attached
        for policy in [*_inline(group.get("GroupPolicyList", [])), *(attached.value or [])]:
            collected.append(
                NamedPolicy(
                    f"{group_name}/{policy.name}", policy.document, policy.arn, policy.version_id
                )
            )
    return Fetched.ok(collected)


def list_accounts(
    profiles: Mapping[str, str | None], region: str | None
) -> dict[str, Fetched[list[PrincipalInfo]]]:
    """Each account's roles and users, listed through its profile (account id -> profile, as a
    check file's `[accounts]` gives them), all accounts at once. A profile that turns out to read
    another account makes that account's listing unknown rather than mislabelled."""
    accounts = list(profiles)
    # Sessions and clients here, in this thread: boto3 sessions are not thread-safe.
    clients = [client(session_for(profiles[account], region), "iam") for account in accounts]
    listings = parallel(*[(lambda iam=iam: collect_account_principals(iam)) for iam in clients])
    listed: dict[str, Fetched[list[PrincipalInfo]]] = {}
    for account, listing in zip(accounts, listings, strict=True):
        listed[account] = _in_account(account, profiles[account], listing.principals)
    return listed


def _in_account(
    account: str, profile: str | None, fetched: Fetched[list[PrincipalInfo]]
) -> Fetched[list[PrincipalInfo]]:
    for principal in fetched.value or []:
        other = account_of(principal.arn)
        if other != account:
            return Fetched.unknown(
                CallError(
                    f"iam:{OPERATION}",
                    "WrongAccount",
                    f"profile {profile or 'default'} lists account {other}, not {account}",
                )
            )
    return fetched
