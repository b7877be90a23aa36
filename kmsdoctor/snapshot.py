"""The snapshot: everything collected from both accounts, as plain typed data.

A snapshot is the only thing that flows from `collect` to `analyze`. It is a versioned JSON
document with no credentials and no object data, so an incident can be replayed offline.

Every fact that needed an AWS call is a `Fetched`: `ok` with a value, `absent` when AWS said the
thing does not exist (no bucket policy, no permissions boundary), or `unknown` with the call and
error code when the profile could not read it. The analysis turns `unknown` into an `unknown`
lock with that reason; it never guesses.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

SCHEMA_VERSION = 1

T = TypeVar("T")

FetchStatus = Literal["ok", "absent", "unknown"]


class SnapshotError(ValueError):
    """A snapshot document that cannot be read: names the place that is wrong."""


@dataclass
class CallError:
    """Why a fact is unknown (or how AWS said it is absent)."""

    operation: str  # "kms:GetKeyPolicy"; "" when no call can read the fact (a session policy)
    code: str  # "AccessDeniedException"
    message: str = ""  # AWS's message, with nothing secret in it


@dataclass
class Fetched(Generic[T]):
    status: FetchStatus
    value: T | None = None
    error: CallError | None = None

    @classmethod
    def ok(cls, value: T) -> Fetched[T]:
        return cls(status="ok", value=value)

    @classmethod
    def absent(cls, error: CallError | None = None) -> Fetched[T]:
        return cls(status="absent", error=error)

    @classmethod
    def unknown(cls, error: CallError) -> Fetched[T]:
        return cls(status="unknown", error=error)

    @property
    def is_ok(self) -> bool:
        return self.status == "ok"

    @property
    def is_unknown(self) -> bool:
        return self.status == "unknown"

    def reason(self) -> str:
        """One line for reports: why this fact is not a value."""
        if self.error is None:
            return self.status
        if not self.error.operation:
            return self.error.message or self.error.code
        text = f"{self.error.operation} failed with {self.error.code}"
        if self.status == "absent":
            text = f"{self.error.operation} answered {self.error.code}"
        return text


# --- shared pieces -----------------------------------------------------------------------------


@dataclass
class NamedPolicy:
    """A policy document as AWS returned it.

    `document` is the parsed JSON when it parsed, else the raw text (the policy engine reports
    malformed text with the policy name and the place).
    """

    name: str
    document: Any
    arn: str | None = None
    version_id: str | None = None


@dataclass
class Organization:
    id: str
    management_account_id: str | None = None


@dataclass
class PolicyLevel:
    """One level of an SCP or RCP chain: the root, an OU, or the account itself.

    AWS requires every level to allow; a Deny at any level wins.
    """

    target_id: str
    target_type: Literal["ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"]
    name: str
    policies: list[NamedPolicy] = field(default_factory=list)


# --- source account (A): bucket, object, key ---------------------------------------------------


@dataclass
class BucketEncryption:
    sse_algorithm: str  # "aws:kms", "aws:kms:dsse" or "AES256"
    kms_master_key_id: str | None = None  # as configured: key ARN, key id, alias name or alias ARN
    bucket_key_enabled: bool = False


@dataclass
class PublicAccessBlock:
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False


@dataclass
class BucketInfo:
    name: str
    arn: str
    region: Fetched[str]
    policy: Fetched[NamedPolicy]
    encryption: Fetched[BucketEncryption]
    ownership_controls: Fetched[str]  # "BucketOwnerEnforced", "BucketOwnerPreferred", ...
    public_access_block: Fetched[PublicAccessBlock]
    acl_owner_id: Fetched[str]  # canonical user id of the bucket owner


@dataclass
class ObjectInfo:
    key: str
    arn: str
    version_id: str | None = None
    sse_algorithm: str | None = None  # "aws:kms", "aws:kms:dsse", "AES256"
    kms_key_id: str | None = None  # the key recorded on the object (ARN as S3 reports it)
    bucket_key_enabled: bool = False
    content_length: int | None = None
    last_modified: str | None = None
    acl_owner_id: Fetched[str] = field(default_factory=lambda: Fetched.absent())


@dataclass
class KeyMetadata:
    key_id: str
    arn: str
    account_id: str
    region: str
    key_state: str  # Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, ...
    enabled: bool
    key_manager: str  # CUSTOMER or AWS
    key_spec: str = "SYMMETRIC_DEFAULT"
    key_usage: str = "ENCRYPT_DECRYPT"
    origin: str = "AWS_KMS"
    multi_region: bool = False
    deletion_date: str | None = None
    description: str = ""


@dataclass
class Grant:
    grant_id: str
    grantee_principal: str
    operations: list[str]
    name: str | None = None
    retiring_principal: str | None = None
    issuing_account: str | None = None
    constraints: dict[str, Any] | None = None  # EncryptionContextEquals / EncryptionContextSubset
    creation_date: str | None = None


@dataclass
class KeyInfo:
    """The KMS key that matters: the object's, else the bucket default's."""

    reference: str  # as found: key ARN, key id, alias name or alias ARN
    # "request": given with --kms-key, used when the object's key could not be read
    found_on: Literal["object", "request", "bucket_default"]
    arn: str | None  # resolved key ARN, None when it could not be resolved
    metadata: Fetched[KeyMetadata]
    policy: Fetched[NamedPolicy]
    grants: Fetched[list[Grant]]
    aliases: Fetched[list[str]]


@dataclass
class SourceSide:
    profile: str | None
    account_id: Fetched[str]
    organization: Fetched[Organization]
    rcps: Fetched[list[PolicyLevel]]  # RCPs on the path to A's account
    bucket: BucketInfo
    object: Fetched[ObjectInfo] | None  # None when no --key was given
    key: KeyInfo | None  # None when no KMS key is involved (SSE-S3, no encryption)


# --- target account (B): the caller and its policies ------------------------------------------


@dataclass
class CallerIdentity:
    arn: str
    account: str
    user_id: str


@dataclass
class EntityInfo:
    """The IAM role or user behind a principal."""

    name: str
    arn: str
    unique_id: str  # AROA... for roles, AIDA... for users
    path: str = "/"
    create_date: str | None = None
    trust_policy: Any = None  # roles only
    max_session_duration: int | None = None


@dataclass
class VpcEndpoint:
    endpoint_id: str
    service_name: str  # com.amazonaws.REGION.s3 / .kms
    vpc_id: str
    endpoint_type: str
    policy: NamedPolicy | None


@dataclass
class PrincipalInfo:
    arn: str  # the IAM role or user ARN
    kind: Literal["role", "user"]
    source: Literal["caller", "role_arn"]  # the target profile itself, or a --role-arn
    session_arn: str | None  # the assumed-role session ARN, when one is known
    entity: Fetched[EntityInfo]
    inline_policies: Fetched[list[NamedPolicy]]
    attached_policies: Fetched[list[NamedPolicy]]  # managed policies, default version
    group_policies: Fetched[list[NamedPolicy]]  # users only: inline + attached of each group
    permissions_boundary: Fetched[NamedPolicy]  # absent when the entity has none
    # AWS never shows a session policy; `absent` when we made the session ourselves without one,
    # `unknown` when the caller arrived with a session made elsewhere.
    session_policy: Fetched[NamedPolicy]


@dataclass
class TargetSide:
    profile: str | None
    account_id: Fetched[str]
    caller: Fetched[CallerIdentity]
    organization: Fetched[Organization]
    scps: Fetched[list[PolicyLevel]]  # SCPs on the path to B's account
    vpc_endpoints: Fetched[list[VpcEndpoint]]  # S3 and KMS endpoints in the Region
    principals: list[PrincipalInfo]


# --- the whole snapshot ------------------------------------------------------------------------


@dataclass
class RequestSpec:
    bucket: str
    key: str | None
    operation: Literal["read", "write"]
    region: str  # the Region calls were made in
    role_arns: list[str] = field(default_factory=list)


@dataclass
class ProbeCall:
    """One real call made as the caller (filled by the probe stage, replayed by analyze)."""

    principal_arn: str
    operation: str  # "s3:HeadObject", "s3:GetObject", "kms:DescribeKey", "kms:Decrypt", ...
    outcome: Literal["ok", "error", "skipped"]
    error_code: str | None = None
    error_message: str | None = None  # verbatim from AWS, never a credential
    http_status: int | None = None
    detail: str = ""
    # Small structured facts about the answer, for the reconciliation: e.g. {"bytes_read": "1"},
    # {"key_state": "Enabled"}, a CloudTrail lookup's {"trail_side": "source", ...}. Never
    # object data, plaintext, ciphertext or credentials.
    facts: dict[str, str] = field(default_factory=dict)


@dataclass
class Snapshot:
    request: RequestSpec
    source: SourceSide
    target: TargetSide
    tool_version: str
    created_at: str
    schema_version: int = SCHEMA_VERSION
    probes: list[ProbeCall] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Snapshot:
        if not isinstance(data, dict):
            raise SnapshotError("snapshot: the document is not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot: schema_version {version!r} is not supported (this kmsdoctor reads "
                f"{SCHEMA_VERSION})"
            )
        return _load(cls, data, "snapshot")

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SnapshotError(f"snapshot: not valid JSON ({exc})") from None
        return cls.from_dict(data)


def unknown_facts(snapshot: Snapshot) -> list[tuple[str, CallError]]:
    """Every fact the profiles could not read, with where it sits in the snapshot
    ("source.key.policy") and the call that failed, in document order."""
    found: list[tuple[str, CallError]] = []
    _collect_unknown(snapshot, "", found)
    return found


def _collect_unknown(node: Any, where: str, found: list[tuple[str, CallError]]) -> None:
    if isinstance(node, Fetched):
        if node.is_unknown and node.error is not None:
            found.append((where, node.error))
        if node.value is not None:
            _collect_unknown(node.value, where, found)
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            _collect_unknown(item, f"{where}[{index}]", found)
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            child = f"{where}.{f.name}" if where else f.name
            _collect_unknown(getattr(node, f.name), child, found)


# --- loading: a small typed reader so a malformed snapshot is one clear error ------------------

_NONE_TYPE = type(None)


def _load(tp: Any, data: Any, where: str, typevars: dict[Any, Any] | None = None) -> Any:
    typevars = typevars or {}
    if isinstance(tp, TypeVar):
        tp = typevars.get(tp, Any)
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if origin in (typing.Union, types.UnionType):
        if data is None and _NONE_TYPE in args:
            return None
        errors = []
        for option in args:
            if option is _NONE_TYPE:
                continue
            try:
                return _load(option, data, where, typevars)
            except SnapshotError as exc:
                errors.append(str(exc))
        raise SnapshotError(errors[0] if errors else f"{where}: unexpected null")
    if origin is Literal:
        if data not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise SnapshotError(f"{where}: {data!r} is not one of {allowed}")
        return data
    if origin is list:
        if not isinstance(data, list):
            raise SnapshotError(f"{where}: expected a list, got {type(data).__name__}")
        return [_load(args[0], item, f"{where}[{i}]", typevars) for i, item in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise SnapshotError(f"{where}: expected an object, got {type(data).__name__}")
        return {str(k): _load(args[1], v, f"{where}.{k}", typevars) for k, v in data.items()}
    if origin is not None and dataclasses.is_dataclass(origin):
        params = getattr(origin, "__parameters__", ())
        return _load_dataclass(
            origin, data, where, {**typevars, **dict(zip(params, args, strict=False))}
        )
    if dataclasses.is_dataclass(tp):
        return _load_dataclass(tp, data, where, typevars)
    if tp is bool:
        if not isinstance(data, bool):
            raise SnapshotError(f"{where}: expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise SnapshotError(f"{where}: expected a whole number, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise SnapshotError(f"{where}: expected a string, got {type(data).__name__}")
        return data
    raise SnapshotError(f"{where}: cannot read a value of type {tp!r}")  # pragma: no cover


@functools.cache
def _type_hints(cls: Any) -> dict[str, Any]:
    # Resolving the string annotations is the slow part of reading a snapshot; once per class.
    return typing.get_type_hints(cls)


def _load_dataclass(cls: Any, data: Any, where: str, typevars: dict[Any, Any]) -> Any:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: expected an object, got {type(data).__name__}")
    hints = _type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _load(hints[f.name], data[f.name], f"{where}.{f.name}", typevars)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SnapshotError(f"{where}: missing field {f.name!r}")
    return cls(**values)
