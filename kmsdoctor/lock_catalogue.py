"""The lock catalogue: what kmsdoctor knows about each lock, in one place.

A request for an SSE-KMS object passes ten locks. For each, the catalogue says what it is (a
`lock` that must allow, a `ceiling` that can only take permission away, or a `configuration`
check no policy shows), which side owns it (the resource account that owns the bucket and key,
the caller account the principal lives in, or the organization above them), which layer of the
policy engine decides it, which of the two requests S3 makes it decides (`s3`: the S3 request,
`kms`: S3's call to KMS made as the caller), how AWS's messages call it, and the read-only AWS
CLI commands that show what is there now.

Everything else reads this module: the analysis model and the lock evaluators
(`kmsdoctor.analyze`), the findings' "show current" commands, `explain`'s next steps, and the
lock table of docs/architecture.md (`python -m kmsdoctor.lock_catalogue --markdown`). It imports
nothing of kmsdoctor, so anything may import it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

LockName = Literal[
    "identity",
    "bucket_policy",
    "key_policy",
    "scp",
    "rcp",
    "permissions_boundary",
    "session_policy",
    "vpc_endpoint",
    "key_state",
    "object",
]

# lock: must allow. ceiling: can only take permission away (an unreadable one does not make the
# verdict unknown by itself). configuration: a fact no policy shows (key state, the object).
LockKind = Literal["lock", "ceiling", "configuration"]

# Who can change it: the resource account (owns the bucket and key), the caller account (the
# principal's), or the organization (its management account, for SCPs and RCPs).
Side = Literal["resource", "caller", "organization"]

# The two authorizations of one operation (analyze/context.py's Authorization names).
RequestName = Literal["s3", "kms"]

PrincipalKind = Literal["role", "user"]


def aws_cli(args: list[str], profile: str | None, region: str | None = None) -> str:
    """One AWS CLI command line, shell-quoted, with the profile and Region that run it."""
    parts = ["aws", *args]
    if profile:
        parts += ["--profile", profile]
    if region:
        parts += ["--region", region]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass(frozen=True)
class ShowCommand:
    """A read-only AWS CLI command that prints one piece of a lock's current state.

    `args` holds `{placeholders}` filled in by `render`: `entity` (role or user name), `bucket`,
    `object_key`, `key` (key ARN or reference), `region`, `caller_account`, `resource_account`,
    `boundary_arn`, `policy_name`, `policy_arn`, `version_id`, `service` (of a VPC endpoint).
    """

    shows: str  # what it prints, for the docs: "the key policy"
    args: tuple[str, ...]
    side: Side  # whose profile runs it; organization: the management account's (not known)
    regional: bool = False  # add --region (KMS, EC2, CloudTrail)
    only_for: PrincipalKind | None = None  # IAM commands differ for roles and users
    # A command left out when one of its values is not known (a boundary ARN not read).
    optional: bool = False

    def placeholders(self) -> list[str]:
        names = []
        for arg in self.args:
            start = arg.find("{")
            while start != -1:
                end = arg.index("}", start)
                names.append(arg[start + 1 : end])
                start = arg.find("{", end)
        return names

    def render(
        self,
        values: Mapping[str, str | None],
        profile: str | None = None,
        region: str | None = None,
    ) -> str | None:
        """The command line; None for an optional command missing a value."""
        filled = {}
        for name in self.placeholders():
            value = values.get(name)
            if not value:
                if self.optional:
                    return None
                value = PLACEHOLDERS[name]
            filled[name] = value
        args = [arg.format(**filled) for arg in self.args]
        return aws_cli(args, profile, region if self.regional else None)

    def template(self) -> str:
        """The command with its placeholders, for the docs."""
        shown = [arg.replace("{", "<").replace("}", ">") for arg in self.args]
        text = "aws " + " ".join(shown)
        if self.regional:
            text += " --region <region>"
        return text


# What a command says when a value is not known, so it can still be copied and completed.
PLACEHOLDERS: dict[str, str] = {
    "entity": "ROLE_NAME",
    "bucket": "BUCKET",
    "object_key": "OBJECT_KEY",
    "key": "KEY_ARN",
    "region": "REGION",
    "caller_account": "CALLER_ACCOUNT_ID",
    "resource_account": "RESOURCE_ACCOUNT_ID",
    "boundary_arn": "BOUNDARY_POLICY_ARN",
    "policy_name": "POLICY_NAME",
    "policy_arn": "POLICY_ARN",
    "version_id": "VERSION_ID",
    "service": "s3",
}


# --- the show commands, by what they show ------------------------------------------------------

ROLE_INLINE_POLICIES = ShowCommand(
    "the role's inline policies",
    ("iam", "list-role-policies", "--role-name", "{entity}"),
    "caller",
    only_for="role",
)
ROLE_MANAGED_POLICIES = ShowCommand(
    "the role's attached managed policies",
    ("iam", "list-attached-role-policies", "--role-name", "{entity}"),
    "caller",
    only_for="role",
)
USER_INLINE_POLICIES = ShowCommand(
    "the user's inline policies",
    ("iam", "list-user-policies", "--user-name", "{entity}"),
    "caller",
    only_for="user",
)
USER_MANAGED_POLICIES = ShowCommand(
    "the user's attached managed policies",
    ("iam", "list-attached-user-policies", "--user-name", "{entity}"),
    "caller",
    only_for="user",
)
USER_GROUPS = ShowCommand(
    "the user's groups (their policies apply too)",
    ("iam", "list-groups-for-user", "--user-name", "{entity}"),
    "caller",
    only_for="user",
)
ROLE_INLINE_POLICY = ShowCommand(
    "one inline policy of the role",
    ("iam", "get-role-policy", "--role-name", "{entity}", "--policy-name", "{policy_name}"),
    "caller",
    only_for="role",
)
USER_INLINE_POLICY = ShowCommand(
    "one inline policy of the user",
    ("iam", "get-user-policy", "--user-name", "{entity}", "--policy-name", "{policy_name}"),
    "caller",
    only_for="user",
)
MANAGED_POLICY_VERSION = ShowCommand(
    "one version of a managed policy (the one attached when read)",
    ("iam", "get-policy-version", "--policy-arn", "{policy_arn}", "--version-id", "{version_id}"),
    "caller",
)
MANAGED_POLICY = ShowCommand(
    "one managed policy (its DefaultVersionId names the document in force)",
    ("iam", "get-policy", "--policy-arn", "{policy_arn}"),
    "caller",
)
BUCKET_POLICY = ShowCommand(
    "the bucket policy",
    ("s3api", "get-bucket-policy", "--bucket", "{bucket}"),
    "resource",
)
BUCKET_ENCRYPTION = ShowCommand(
    "the bucket's default encryption",
    ("s3api", "get-bucket-encryption", "--bucket", "{bucket}"),
    "resource",
)
KEY_POLICY = ShowCommand(
    "the key policy",
    ("kms", "get-key-policy", "--key-id", "{key}", "--policy-name", "default", "--output", "text"),
    "resource",
    regional=True,
)
KEY_GRANTS = ShowCommand(
    "the key's grants",
    ("kms", "list-grants", "--key-id", "{key}"),
    "resource",
    regional=True,
)
KEY_METADATA = ShowCommand(
    "the key's state, manager and Region",
    ("kms", "describe-key", "--key-id", "{key}"),
    "resource",
    regional=True,
)
SCPS = ShowCommand(
    "the SCPs attached to the caller account (then its OUs and the root)",
    (
        "organizations",
        "list-policies-for-target",
        "--target-id",
        "{caller_account}",
        "--filter",
        "SERVICE_CONTROL_POLICY",
    ),
    "organization",
)
RCPS = ShowCommand(
    "the RCPs attached to the resource account (then its OUs and the root)",
    (
        "organizations",
        "list-policies-for-target",
        "--target-id",
        "{resource_account}",
        "--filter",
        "RESOURCE_CONTROL_POLICY",
    ),
    "organization",
)
ROLE_BOUNDARY = ShowCommand(
    "which permissions boundary the role has",
    ("iam", "get-role", "--role-name", "{entity}", "--query", "Role.PermissionsBoundary"),
    "caller",
    only_for="role",
)
USER_BOUNDARY = ShowCommand(
    "which permissions boundary the user has",
    ("iam", "get-user", "--user-name", "{entity}", "--query", "User.PermissionsBoundary"),
    "caller",
    only_for="user",
)
BOUNDARY_POLICY = ShowCommand(
    "the boundary policy",
    ("iam", "get-policy", "--policy-arn", "{boundary_arn}"),
    "caller",
    optional=True,
)
ASSUME_ROLE_EVENTS = ShowCommand(
    "the AssumeRole calls that made sessions (requestParameters.policy is the session policy)",
    (
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=AssumeRole",
    ),
    "caller",
    regional=True,
)
VPC_ENDPOINTS = ShowCommand(
    "the caller account's VPC endpoints for the service (S3) and their policies",
    (
        "ec2",
        "describe-vpc-endpoints",
        "--filters",
        "Name=service-name,Values=com.amazonaws.{region}.{service}",
    ),
    "caller",
    regional=True,
)
OBJECT_HEAD = ShowCommand(
    "the object: its encryption, key and Bucket Key",
    ("s3api", "head-object", "--bucket", "{bucket}", "--key", "{object_key}"),
    "resource",
)
OBJECT_OWNERSHIP = ShowCommand(
    "the bucket's object ownership setting",
    ("s3api", "get-bucket-ownership-controls", "--bucket", "{bucket}"),
    "resource",
)


# --- the locks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockSpec:
    name: LockName
    kind: LockKind
    side: Side  # who owns it and must change it
    label: str  # what it is called in a sentence: "the key policy"
    what: str  # one line for the docs
    # The policy engine layer that decides it (kmsdoctor.policy's AccessDecision.layers), or
    # None for a configuration check.
    policy_layer: str | None
    requests: tuple[RequestName, ...]  # which of the two requests it decides
    # How AWS's AccessDenied messages and CloudTrail's errorMessage name it ("service control
    # policy"); None when no message names it.
    policy_type: str | None
    show_current: tuple[ShowCommand, ...]
    # Can a pasted error message point at it (`kmsdoctor explain`)? Not the object: a missing
    # object is NoSuchKey (or a bare AccessDenied), never a named lock.
    named_by_messages: bool = True


CATALOGUE: tuple[LockSpec, ...] = (
    LockSpec(
        name="identity",
        kind="lock",
        side="caller",
        label="the identity policies",
        what="the caller's own IAM policies must allow s3:GetObject on the object and "
        "kms:Decrypt on the key ARN",
        policy_layer="identity",
        requests=("s3", "kms"),
        policy_type="identity-based policy",
        show_current=(
            ROLE_INLINE_POLICIES,
            ROLE_MANAGED_POLICIES,
            USER_INLINE_POLICIES,
            USER_MANAGED_POLICIES,
            USER_GROUPS,
        ),
    ),
    LockSpec(
        name="bucket_policy",
        kind="lock",
        side="resource",
        label="the bucket policy",
        what="cross-account, the bucket policy must allow the caller the S3 action",
        policy_layer="resource",
        requests=("s3",),
        policy_type="resource-based policy",
        show_current=(BUCKET_POLICY,),
    ),
    LockSpec(
        name="key_policy",
        kind="lock",
        side="resource",
        label="the key policy",
        what="the key policy (or a grant) must allow the caller the KMS action",
        policy_layer="resource",
        requests=("kms",),
        policy_type="resource-based policy",
        show_current=(KEY_POLICY, KEY_GRANTS),
    ),
    LockSpec(
        name="scp",
        kind="ceiling",
        side="organization",
        label="the SCPs over the caller account",
        what="service control policies cap what any principal of the caller account may do",
        policy_layer="scp",
        requests=("s3", "kms"),
        policy_type="service control policy",
        show_current=(SCPS,),
    ),
    LockSpec(
        name="rcp",
        kind="ceiling",
        side="organization",
        label="the RCPs over the resource account",
        what="resource control policies cap what anyone may do to the resource account's "
        "bucket and key",
        policy_layer="rcp",
        requests=("s3", "kms"),
        policy_type="resource control policy",
        show_current=(RCPS,),
    ),
    LockSpec(
        name="permissions_boundary",
        kind="ceiling",
        side="caller",
        label="the permissions boundary",
        what="a boundary on the role or user caps what its identity policies may allow",
        policy_layer="permissions_boundary",
        requests=("s3", "kms"),
        policy_type="permissions boundary",
        show_current=(ROLE_BOUNDARY, USER_BOUNDARY, BOUNDARY_POLICY),
    ),
    LockSpec(
        name="session_policy",
        kind="ceiling",
        side="caller",
        label="the session policy",
        what="a policy passed to sts:AssumeRole caps that one session",
        policy_layer="session",
        requests=("s3", "kms"),
        policy_type="session policy",
        show_current=(ASSUME_ROLE_EVENTS,),
    ),
    LockSpec(
        name="vpc_endpoint",
        kind="ceiling",
        side="caller",
        label="the S3 endpoint policies",
        what="an S3 VPC endpoint in the caller's VPC must allow the S3 request (S3's own call "
        "to KMS does not go through it)",
        policy_layer="vpc_endpoint",
        requests=("s3",),
        policy_type="VPC endpoint policy",
        show_current=(VPC_ENDPOINTS,),
    ),
    LockSpec(
        name="key_state",
        kind="configuration",
        side="resource",
        label="the key's state",
        what="the key must exist, be enabled, customer managed, and in the bucket's Region",
        policy_layer=None,
        requests=("kms",),
        policy_type=None,
        show_current=(KEY_METADATA,),
    ),
    LockSpec(
        name="object",
        kind="configuration",
        side="resource",
        label="the object",
        what="the object must exist, encrypted as recorded, owned by the bucket owner",
        policy_layer=None,
        requests=("s3",),
        policy_type=None,
        show_current=(OBJECT_HEAD, OBJECT_OWNERSHIP),
        named_by_messages=False,
    ),
)

# Report order: the three locks, the ceilings, then the configuration checks.
LOCK_NAMES: tuple[LockName, ...] = tuple(spec.name for spec in CATALOGUE)

# Ceilings can only take permission away. When one cannot be read (SCPs from a member account,
# a session policy made elsewhere) its status is `unknown`, but that alone does not make the
# verdict unknown: otherwise nearly every real diagnosis would be "unknown". See docs/analysis.md.
CEILING_LOCKS: frozenset[str] = frozenset(spec.name for spec in CATALOGUE if spec.kind == "ceiling")

_BY_NAME: dict[str, LockSpec] = {spec.name: spec for spec in CATALOGUE}


def lock_spec(name: str) -> LockSpec:
    """The catalogue entry of a lock; KeyError for a name that is not a lock."""
    return _BY_NAME[name]


def show_commands(name: str, principal_kind: PrincipalKind = "role") -> list[ShowCommand]:
    """A lock's show commands for a role or a user."""
    return [
        command
        for command in lock_spec(name).show_current
        if command.only_for in (None, principal_kind)
    ]


# --- documentation -------------------------------------------------------------------------------

_SIDE_WORDS = {
    "resource": "resource account",
    "caller": "caller account",
    "organization": "organization (management account)",
}


def markdown_table() -> str:
    """The lock table of docs/architecture.md (between its lock-catalogue markers)."""
    lines = [
        "| lock | label | kind | owned by | engine layer | decides | show current |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for spec in CATALOGUE:
        layer = f"`{spec.policy_layer}`" if spec.policy_layer else "—"
        requests = ", ".join(spec.requests)
        commands = "<br>".join(f"`{command.template()}`" for command in spec.show_current)
        lines.append(
            f"| `{spec.name}` | {spec.label} | {spec.kind} | {_SIDE_WORDS[spec.side]} | {layer} "
            f"| {requests} | {commands} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown_table())
        return 0
    print("usage: python -m kmsdoctor.lock_catalogue --markdown", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
