"""The caller account (B): who the caller is, each principal's policies, VPC endpoints for S3
and KMS.

Everything here is read with the caller account's profile (the shorthand's --target-profile).
A `--role-arn` principal is read from IAM, not assumed: collection needs only its policies (the
probe assumes it later). A managed policy attached to many principals is read once when the
caller passes a shared `ManagedPolicyReader` (the collection planner does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kmsdoctor.arn import parse_arn, role_name_of
from kmsdoctor.aws import CallResult, call, call_pages
from kmsdoctor.collect.fetch import first_failure, iso, parallel, parse_policy_document, to_fetched
from kmsdoctor.snapshot import (
    CallerIdentity,
    CallError,
    EntityInfo,
    Fetched,
    NamedPolicy,
    PrincipalInfo,
    VpcEndpoint,
)

Kind = Literal["role", "user"]
# Reads one managed policy's default version with an IAM client.
ManagedPolicyReader = Callable[[Any, str], Fetched[NamedPolicy]]


@dataclass(frozen=True)
class PrincipalRef:
    """A principal to check, as far as it is known before IAM is read."""

    kind: Kind
    name: str  # the role or user name (the last path segment of its ARN)
    arn: str  # the IAM ARN; for a caller role without its path until GetRole tells it
    source: Literal["caller", "role_arn"]
    session_arn: str | None = None
    unsupported: str | None = None  # why this caller cannot be checked (root, federated user)


def caller_identity(response: dict[str, Any]) -> CallerIdentity:
    return CallerIdentity(
        arn=response["Arn"], account=response["Account"], user_id=response["UserId"]
    )


def caller_principal(caller: CallerIdentity) -> PrincipalRef:
    """The IAM entity behind the target profile's own credentials."""
    arn = caller.arn
    parsed = parse_arn(arn)
    partition = parsed.partition if parsed else "aws"
    resource = parsed.resource if parsed else ""
    if resource.startswith("assumed-role/"):
        # arn:aws:sts::B:assumed-role/NAME/SESSION: the role's path is not in a session ARN.
        name = resource.split("/")[1]
        role_arn = f"arn:{partition}:iam::{caller.account}:role/{name}"
        return PrincipalRef("role", name, role_arn, "caller", session_arn=arn)
    if resource.startswith("user/"):
        return PrincipalRef("user", resource.rsplit("/", 1)[-1], arn, "caller")
    what = "the account root user" if resource == "root" else f"a {resource.split('/')[0]}"
    return PrincipalRef(
        "user",
        resource or arn,
        arn,
        "caller",
        session_arn=arn,
        unsupported=f"the target profile is {what}; kmsdoctor checks IAM roles and users "
        "(give --role-arn)",
    )


def role_arn_principal(role_arn: str) -> PrincipalRef:
    return PrincipalRef("role", role_name_of(role_arn), role_arn, "role_arn")


def collect_principal(
    iam: Any, ref: PrincipalRef, managed: ManagedPolicyReader | None = None
) -> PrincipalInfo:
    if ref.unsupported:
        gap: Fetched[Any] = Fetched.unknown(
            CallError("iam:GetUser", "UnsupportedPrincipal", ref.unsupported)
        )
        return PrincipalInfo(
            arn=ref.arn,
            kind=ref.kind,
            source=ref.source,
            session_arn=ref.session_arn,
            entity=gap,
            inline_policies=gap,
            attached_policies=gap,
            group_policies=gap,
            permissions_boundary=gap,
            session_policy=gap,
        )
    collect = _collect_role if ref.kind == "role" else _collect_user
    return collect(iam, ref, managed or read_managed_policy)


def _session_policy(ref: PrincipalRef) -> Fetched[NamedPolicy]:
    if ref.session_arn is None:
        # No session exists yet (a --role-arn, or an IAM user's long-term keys): nothing
        # narrows the entity's own policies.
        return Fetched.absent()
    return Fetched.unknown(
        # No call can read it, so no operation is named: this is not a failed call.
        CallError(
            "",
            "SessionPolicyNotVisible",
            "the caller is a role session made outside kmsdoctor, and AWS never shows whether "
            "a session policy was passed when it was made",
        )
    )


def _collect_role(iam: Any, ref: PrincipalRef, managed: ManagedPolicyReader) -> PrincipalInfo:
    role, inline, attached = parallel(
        lambda: call(iam, "GetRole", RoleName=ref.name),
        lambda: _inline_policies(iam, "Role", "RoleName", ref.name),
        lambda: _attached_policies(iam, "Role", "RoleName", ref.name, managed),
    )
    entity = to_fetched(role, lambda r: _entity(r["Role"]))
    return PrincipalInfo(
        arn=entity.value.arn if entity.is_ok and entity.value else ref.arn,
        kind="role",
        source=ref.source,
        session_arn=ref.session_arn,
        entity=entity,
        inline_policies=inline,
        attached_policies=attached,
        group_policies=Fetched.absent(),  # roles are never in groups
        permissions_boundary=_boundary(iam, role, "Role", managed),
        session_policy=_session_policy(ref),
    )


def _collect_user(iam: Any, ref: PrincipalRef, managed: ManagedPolicyReader) -> PrincipalInfo:
    user, inline, attached, groups = parallel(
        lambda: call(iam, "GetUser", UserName=ref.name),
        lambda: _inline_policies(iam, "User", "UserName", ref.name),
        lambda: _attached_policies(iam, "User", "UserName", ref.name, managed),
        lambda: _group_policies(iam, ref.name, managed),
    )
    entity = to_fetched(user, lambda r: _entity(r["User"]))
    return PrincipalInfo(
        arn=entity.value.arn if entity.is_ok and entity.value else ref.arn,
        kind="user",
        source=ref.source,
        session_arn=ref.session_arn,
        entity=entity,
        inline_policies=inline,
        attached_policies=attached,
        group_policies=groups,
        permissions_boundary=_boundary(iam, user, "User", managed),
        session_policy=_session_policy(ref),
    )


def _entity(raw: dict[str, Any]) -> EntityInfo:
    unique_id = raw.get("RoleId") or raw.get("UserId") or ""
    trust = raw.get("AssumeRolePolicyDocument")
    return EntityInfo(
        name=raw.get("RoleName") or raw.get("UserName") or "",
        arn=raw["Arn"],
        unique_id=unique_id,
        path=raw.get("Path", "/"),
        create_date=iso(raw.get("CreateDate")),
        trust_policy=parse_policy_document(trust) if trust is not None else None,
        max_session_duration=raw.get("MaxSessionDuration"),
        # GetRole and GetUser return the entity's tags (aws:PrincipalTag/K): no extra call.
        tags={tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])},
    )


def _boundary(
    iam: Any, entity: CallResult, kind: str, managed: ManagedPolicyReader
) -> Fetched[NamedPolicy]:
    if not entity.ok:
        assert entity.error is not None
        return Fetched.unknown(entity.error)
    assert entity.response is not None
    boundary = entity.response[kind].get("PermissionsBoundary")
    if not boundary:
        return Fetched.absent()
    return managed(iam, boundary["PermissionsBoundaryArn"])


def _inline_policies(iam: Any, kind: str, name_param: str, name: str) -> Fetched[list[NamedPolicy]]:
    """ListXPolicies, then GetXPolicy for each name (X = Role, User or Group)."""
    listed = call_pages(iam, f"List{kind}Policies", "PolicyNames", **{name_param: name})
    if not listed.ok:
        assert listed.error is not None
        return Fetched.unknown(listed.error)
    names = listed.response["PolicyNames"] if listed.response else []
    fetched = parallel(
        *[
            (lambda n=n: call(iam, f"Get{kind}Policy", **{name_param: name, "PolicyName": n}))
            for n in names
        ]
    )
    failure = first_failure(fetched)
    if failure is not None:
        return Fetched.unknown(failure)
    return Fetched.ok([_inline_policy(r.response) for r in fetched])


def _inline_policy(response: dict[str, Any]) -> NamedPolicy:
    return NamedPolicy(
        name=response["PolicyName"], document=parse_policy_document(response["PolicyDocument"])
    )


def _attached_policies(
    iam: Any, kind: str, name_param: str, name: str, managed: ManagedPolicyReader
) -> Fetched[list[NamedPolicy]]:
    listed = call_pages(
        iam, f"ListAttached{kind}Policies", "AttachedPolicies", **{name_param: name}
    )
    if not listed.ok:
        assert listed.error is not None
        return Fetched.unknown(listed.error)
    arns = [p["PolicyArn"] for p in (listed.response or {}).get("AttachedPolicies", [])]
    policies = parallel(*[(lambda a=a: managed(iam, a)) for a in arns])
    gap = next((p for p in policies if not p.is_ok), None)
    if gap is not None:
        return Fetched.unknown(gap.error)
    return Fetched.ok([p.value for p in policies])


def read_managed_policy(iam: Any, arn: str) -> Fetched[NamedPolicy]:
    """A managed policy's default version: GetPolicy says which, GetPolicyVersion has it."""
    policy = call(iam, "GetPolicy", PolicyArn=arn)
    if not policy.ok:
        assert policy.error is not None
        return Fetched.unknown(policy.error)
    meta = policy.response["Policy"]
    version = call(iam, "GetPolicyVersion", PolicyArn=arn, VersionId=meta["DefaultVersionId"])
    return to_fetched(
        version,
        lambda r: NamedPolicy(
            name=meta["PolicyName"],
            document=parse_policy_document(r["PolicyVersion"]["Document"]),
            arn=arn,
            version_id=meta["DefaultVersionId"],
        ),
    )


def _group_policies(
    iam: Any, user_name: str, managed: ManagedPolicyReader
) -> Fetched[list[NamedPolicy]]:
    """Every group's inline and attached policies, named GROUP/POLICY."""
    groups = call_pages(iam, "ListGroupsForUser", "Groups", UserName=user_name)
    if not groups.ok:
        assert groups.error is not None
        return Fetched.unknown(groups.error)
    names = [g["GroupName"] for g in (groups.response or {}).get("Groups", [])]

    def of_group(group: str) -> list[Fetched[list[NamedPolicy]]]:
        return parallel(
            lambda: _inline_policies(iam, "Group", "GroupName", group),
            lambda: _attached_policies(iam, "Group", "GroupName", group, managed),
        )

    per_group = parallel(*[(lambda g=g: of_group(g)) for g in names])
    collected: list[NamedPolicy] = []
    for group, results in zip(names, per_group, strict=True):
        for result in results:
            if not result.is_ok:
                return Fetched.unknown(result.error)
            collected += [
                NamedPolicy(f"{group}/{p.name}", p.document, p.arn, p.version_id)
                for p in result.value
            ]
    return Fetched.ok(collected)


def collect_vpc_endpoints(ec2: Any, region: str) -> Fetched[list[VpcEndpoint]]:
    services = [f"com.amazonaws.{region}.s3", f"com.amazonaws.{region}.kms"]
    listed = call_pages(
        ec2,
        "DescribeVpcEndpoints",
        "VpcEndpoints",
        Filters=[{"Name": "service-name", "Values": services}],
    )
    return to_fetched(listed, lambda r: [_vpc_endpoint(e) for e in r["VpcEndpoints"]])


def _vpc_endpoint(raw: dict[str, Any]) -> VpcEndpoint:
    document = raw.get("PolicyDocument")
    return VpcEndpoint(
        endpoint_id=raw["VpcEndpointId"],
        service_name=raw.get("ServiceName", ""),
        vpc_id=raw.get("VpcId", ""),
        endpoint_type=raw.get("VpcEndpointType", ""),
        policy=NamedPolicy(name=raw["VpcEndpointId"], document=parse_policy_document(document))
        if document
        else None,
    )
