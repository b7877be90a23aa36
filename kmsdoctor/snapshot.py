"""The snapshot: everything collected from the accounts, as plain typed data.

A snapshot is the only thing that flows from `collect` to `analyze`. It is a versioned JSON
document with no credentials and no object data, so an incident can be replayed offline.

Schema v2 (`Snapshot`) holds each fact once, keyed by what it is about: accounts by id, buckets
by name, objects by ARN, keys by the reference they were found under, principals by the
question's principal, prefix listings by `s3://bucket/prefix` — plus the questions and the probe
calls. `Snapshot.view(question, object_key)` gives one question about one object in the shape
the analysis reads (`SnapshotView`: the resource account's `source` side and the caller
account's `target` side), made of the same fact objects. A `SnapshotView` is also what schema v1
documents were; they are read and converted (`Snapshot.from_view`). See docs/snapshot.md.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from kmsdoctor.arn import account_of, object_arn
from kmsdoctor.questions import Question

SCHEMA_VERSION = 2
V1_SCHEMA_VERSION = 1  # a single-question document: what a SnapshotView serialises to

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
    # GetBucketAbac's status, "Enabled" or "Disabled": S3 evaluates aws:ResourceTag against the
    # bucket's tags only when it is Enabled. Read only when a policy in play tests
    # aws:ResourceTag; None: not read (conditions on it are then undecided).
    abac: Fetched[str] | None = None
    # GetBucketTagging, read when ABAC is Enabled ({} for a bucket without tags). None: not read.
    tags: Fetched[dict[str, str]] | None = None


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
    # HeadObject's TagCount (x-amz-tagging-count): S3 sends it only when the object has tags
    # and the reader may read them. None: not sent.
    tag_count: int | None = None
    # The object's tags (s3:GetObjectTagging), for s3:ExistingObjectTag/K on the read. Read only
    # when a policy in play tests s3:ExistingObjectTag; None: not read (no policy tested them
    # when the snapshot was collected, or it was written before object tags were read), so a
    # condition on them is undecided.
    tags: Fetched[dict[str, str]] | None = None


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


# The tags of a snapshot written before kmsdoctor read tags: not a failed call, not "untagged".
def tags_not_recorded() -> Fetched[dict[str, str]]:
    return Fetched.unknown(
        CallError("", "TagsNotRecorded", "this snapshot was written before tags were read")
    )


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
    # kms:ListResourceTags, for aws:ResourceTag/K on the KMS request. Snapshots written before
    # tags were read load with `unknown`: conditions on the key's tags are then undecided.
    tags: Fetched[dict[str, str]] = field(default_factory=tags_not_recorded)


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
    # The entity's tags, as GetRole/GetUser return them (aws:PrincipalTag/K). None: the snapshot
    # was written before tags were read, so conditions on them are undecided.
    tags: dict[str, str] | None = None


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
class SnapshotView:
    """One question about one object (or a bucket), in the shape the analysis reads: the
    resource account (`source`: bucket, object, key, organization, RCPs) and the caller
    account (`target`: caller, organization, SCPs, VPC endpoints, principals). Also the whole
    of a schema v1 document."""

    request: RequestSpec
    source: SourceSide
    target: TargetSide
    tool_version: str
    created_at: str
    schema_version: int = V1_SCHEMA_VERSION
    probes: list[ProbeCall] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> SnapshotView:
        """A schema v1 document as it is (`Snapshot.from_dict` reads and converts it)."""
        if not isinstance(data, dict):
            raise SnapshotError("snapshot: the document is not a JSON object")
        version = data.get("schema_version")
        if version != V1_SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot: schema_version {version!r} is not a single-question (v1) document"
            )
        return _load(cls, data, "snapshot")


# --- schema v2: each fact once, keyed by what it is about ----------------------------------------

KeyFoundOn = Literal["object", "request", "bucket_default"]


@dataclass
class AccountFacts:
    """What is read once per account. `scps` are read for accounts callers are in, `rcps` for
    accounts that own buckets, `vpc_endpoints` for caller accounts; None: not needed."""

    account_id: Fetched[str]  # ok with the id; unknown only in a converted v1 document
    profile: str | None  # the profile that read it
    caller: Fetched[CallerIdentity] | None = None  # the profile's own identity
    organization: Fetched[Organization] = field(default_factory=lambda: Fetched.absent())
    scps: Fetched[list[PolicyLevel]] | None = None
    rcps: Fetched[list[PolicyLevel]] | None = None
    vpc_endpoints: Fetched[list[VpcEndpoint]] | None = None


@dataclass
class BucketFacts:
    account_id: str  # the owning account, learnt (its profile listed or read it), never guessed
    info: BucketInfo
    # The key that matters when no object is read: --kms-key if given, else the bucket default's
    # (a reference into Snapshot.keys); None when no KMS key is involved.
    fallback_key: str | None = None
    fallback_key_found_on: KeyFoundOn = "bucket_default"


@dataclass
class ObjectFacts:
    bucket: str
    key: str
    head: Fetched[ObjectInfo]
    # The key S3 uses for this object (a reference into Snapshot.keys): the one recorded on it,
    # else (object unreadable) the bucket's fallback; None when no KMS key is involved.
    kms_key: str | None = None
    kms_key_found_on: KeyFoundOn = "object"


@dataclass
class PrefixListing:
    bucket: str
    prefix: str
    keys: Fetched[list[str]]  # the object keys listed, in S3's order, at most max_objects
    truncated: bool = False  # S3 had more objects than were read: the answer covers the first


def no_profile_error(account_id: str, what: str) -> CallError:
    """Why a fact of an account without a profile is unknown, naming what would settle it."""
    return CallError(
        "",
        "NoProfileForAccount",
        f"no profile reads account {account_id or '(unknown)'}, so its {what} could not be "
        f"read; give one for it (account id = profile name)",
    )


@dataclass
class Snapshot:
    """Schema v2: the facts every question needs, each read and held once."""

    region: str  # the Region calls were made in
    questions: list[Question]
    accounts: dict[str, AccountFacts]
    buckets: dict[str, BucketFacts]
    objects: dict[str, ObjectFacts]  # by object ARN
    keys: dict[str, KeyInfo]  # by the reference the key was found under (ARN, id, alias)
    principals: dict[str, PrincipalInfo]  # by the question's principal ("" = the caller)
    listings: dict[str, PrefixListing]  # by s3://bucket/prefix
    tool_version: str
    created_at: str
    caller_account: str | None = None  # whose profile's own identity the principal "" is
    kms_key: str | None = None  # --kms-key, as given
    schema_version: int = SCHEMA_VERSION
    probes: list[ProbeCall] = field(default_factory=list)

    # --- the analysis's view of one question -------------------------------------------------

    def object_keys(self, question: Question) -> list[str | None]:
        """The objects a question is about: its key, every listed key under its prefix, or
        None (the bucket alone) when it names neither."""
        if question.key is not None:
            return [question.key]
        if question.prefix is not None:
            listing = self.listings.get(listing_id(question.bucket, question.prefix))
            if listing is None or not listing.keys.is_ok or listing.keys.value is None:
                return []
            return list(listing.keys.value)
        return [None]

    def view(self, question: Question, object_key: str | None = None) -> SnapshotView:
        """One question about one object, in the single-question shape the analysis reads."""
        return self.view_for([question], object_key)

    def view_for(self, questions: Sequence[Question], object_key: str | None) -> SnapshotView:
        """Several principals' questions about the same object (same bucket and operation) in
        one view: `diagnose` probes them together, as v1 held them together."""
        first = questions[0]
        facts = self.buckets.get(first.bucket)
        if facts is None:
            raise SnapshotError(f"snapshot: no facts about bucket {first.bucket!r}")
        source = self._source_side(facts, object_key, first)
        target = self._target_side(questions)
        role_arns = list(dict.fromkeys(q.principal for q in questions if q.principal))
        return SnapshotView(
            request=RequestSpec(
                bucket=first.bucket,
                key=object_key,
                operation=first.operation,
                region=self.region,
                role_arns=role_arns,
            ),
            source=source,
            target=target,
            tool_version=self.tool_version,
            created_at=self.created_at,
            probes=self.probes,
        )

    def combined_view(self) -> SnapshotView:
        """Every question about the first question's object, in one view with all their
        principals: what a two-account (`--source-profile`/`--target-profile`) snapshot is,
        and what the probe of `diagnose` works from."""
        first = self.questions[0]
        same = [
            q
            for q in self.questions
            if (q.bucket, q.key, q.prefix, q.operation)
            == (first.bucket, first.key, first.prefix, first.operation)
        ]
        return self.view_for(same, first.key)

    def _source_side(
        self, facts: BucketFacts, object_key: str | None, question: Question
    ) -> SourceSide:
        account = self.accounts.get(facts.account_id)
        obj: Fetched[ObjectInfo] | None = None
        key_ref, found_on = facts.fallback_key, facts.fallback_key_found_on
        if object_key is not None:
            object_facts = self.objects.get(object_arn(facts.info.name, object_key))
            if object_facts is not None:
                obj = object_facts.head
                key_ref, found_on = object_facts.kms_key, object_facts.kms_key_found_on
            else:
                obj = self._unlisted(question)
        key = self.keys.get(key_ref) if key_ref is not None else None
        if key is not None and key.found_on != found_on:
            key = dataclasses.replace(key, found_on=found_on)  # same facts, seen from elsewhere
        if account is None:
            gap: Fetched[Any] = Fetched.unknown(
                no_profile_error(facts.account_id, "organization and RCPs")
            )
            return SourceSide(
                profile=None,
                account_id=Fetched.ok(facts.account_id),
                organization=gap,
                rcps=gap,
                bucket=facts.info,
                object=obj,
                key=key,
            )
        return SourceSide(
            profile=account.profile,
            account_id=account.account_id,
            organization=account.organization,
            rcps=account.rcps
            if account.rcps is not None
            else Fetched.unknown(no_profile_error(facts.account_id, "RCPs")),
            bucket=facts.info,
            object=obj,
            key=key,
        )

    def _unlisted(self, question: Question) -> Fetched[ObjectInfo]:
        """An object the snapshot holds nothing about: the listing that should have named it
        failed (its reason), or it was never read."""
        if question.prefix is not None:
            listing = self.listings.get(listing_id(question.bucket, question.prefix))
            if listing is not None and listing.keys.error is not None:
                return Fetched.unknown(listing.keys.error)
        return Fetched.unknown(CallError("", "NotCollected", "the object was not read"))

    def caller_account_of(self, principal: str) -> str | None:
        """The account a question's principal is in: its ARN's, or the caller profile's for ""
        and for a principal whose account no profile reads (read through the caller profile,
        as --role-arn always was)."""
        if principal:
            account = account_of(principal)
            if account in self.accounts or self.caller_account is None:
                return account
        return self.caller_account

    def _target_side(self, questions: Sequence[Question]) -> TargetSide:
        account_id = self.caller_account_of(questions[0].principal) or ""
        principals = [
            self.principals[p]
            for p in dict.fromkeys(q.principal for q in questions)
            if p in self.principals
        ]
        account = self.accounts.get(account_id)
        if account is None:
            gap: Fetched[Any] = Fetched.unknown(
                no_profile_error(account_id, "organization, SCPs and VPC endpoints")
            )
            return TargetSide(
                profile=None,
                account_id=Fetched.ok(account_id) if account_id else gap,
                caller=gap,
                organization=gap,
                scps=gap,
                vpc_endpoints=gap,
                principals=principals,
            )
        not_read: Fetched[Any] = Fetched.unknown(no_profile_error(account_id, "caller facts"))
        return TargetSide(
            profile=account.profile,
            account_id=account.account_id,
            caller=account.caller if account.caller is not None else not_read,
            organization=account.organization,
            scps=account.scps if account.scps is not None else not_read,
            vpc_endpoints=account.vpc_endpoints if account.vpc_endpoints is not None else not_read,
            principals=principals,
        )

    def views(self) -> Iterator[tuple[Question, str | None, SnapshotView]]:
        """Every (question, object, view) the snapshot's questions ask about."""
        for question in self.questions:
            for object_key in self.object_keys(question):
                yield question, object_key, self.view(question, object_key)

    # --- reading and writing ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Snapshot:
        """A v2 document, or a v1 document converted (an old incident snapshot still reads)."""
        if not isinstance(data, dict):
            raise SnapshotError("snapshot: the document is not a JSON object")
        version = data.get("schema_version")
        if version == V1_SCHEMA_VERSION:
            return cls.from_view(SnapshotView.from_dict(data))
        if version != SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot: schema_version {version!r} is not supported (this kmsdoctor reads "
                f"{V1_SCHEMA_VERSION} and {SCHEMA_VERSION})"
            )
        snapshot: Snapshot = _load(cls, data, "snapshot")
        for index, question in enumerate(snapshot.questions):
            if question.bucket not in snapshot.buckets:
                raise SnapshotError(
                    f"snapshot.questions[{index}]: bucket {question.bucket!r} is not in "
                    "snapshot.buckets"
                )
        return snapshot

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SnapshotError(f"snapshot: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def from_view(cls, view: SnapshotView) -> Snapshot:
        """A single-question (v1) snapshot as facts and questions; `view()` gives it back."""
        source, target, request = view.source, view.target, view.request
        source_id = source.account_id.value if source.account_id.is_ok else None
        target_id = target.account_id.value if target.account_id.is_ok else None
        source_id = source_id or "unknown-resource-account"
        target_id = target_id or "unknown-caller-account"
        accounts = {
            source_id: AccountFacts(
                account_id=source.account_id,
                profile=source.profile,
                organization=source.organization,
                rcps=source.rcps,
            )
        }
        caller_facts = accounts.get(target_id) or AccountFacts(
            account_id=target.account_id, profile=target.profile, organization=target.organization
        )
        caller_facts.caller = target.caller
        caller_facts.scps = target.scps
        caller_facts.vpc_endpoints = target.vpc_endpoints
        accounts[target_id] = caller_facts

        key = source.key
        keys = {key.reference: key} if key is not None else {}
        bucket = BucketFacts(account_id=source_id, info=source.bucket)
        objects: dict[str, ObjectFacts] = {}
        if request.key is not None and source.object is not None:
            objects[object_arn(source.bucket.name, request.key)] = ObjectFacts(
                bucket=source.bucket.name,
                key=request.key,
                head=source.object,
                kms_key=key.reference if key is not None else None,
                kms_key_found_on=key.found_on if key is not None else "object",
            )
        elif key is not None:
            bucket.fallback_key = key.reference
            bucket.fallback_key_found_on = key.found_on

        principals: dict[str, PrincipalInfo] = {}
        questions: list[Question] = []
        for principal in target.principals:
            name = "" if principal.source == "caller" else principal.arn
            principals[name] = principal
            questions.append(Question(name, request.bucket, request.key, None, request.operation))
        if not questions:
            questions.append(Question("", request.bucket, request.key, None, request.operation))
        return cls(
            region=request.region,
            questions=questions,
            accounts=accounts,
            buckets={request.bucket: bucket},
            objects=objects,
            keys=keys,
            principals=principals,
            listings={},
            tool_version=view.tool_version,
            created_at=view.created_at,
            caller_account=target_id,
            kms_key=key.reference if key is not None and key.found_on == "request" else None,
            probes=view.probes,
        )


def listing_id(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}"


def bucket_default_key(encryption: Fetched[BucketEncryption]) -> str | None:
    """The key the bucket's default encryption names, as configured (id, ARN or alias)."""
    if not encryption.is_ok or encryption.value is None:
        return None
    if encryption.value.kms_master_key_id:
        return encryption.value.kms_master_key_id
    if encryption.value.sse_algorithm.startswith("aws:kms"):
        # SSE-KMS without a key id means the AWS managed key aws/s3 of the bucket's account.
        return "alias/aws/s3"
    return None


def unknown_facts(snapshot: Snapshot | SnapshotView) -> list[tuple[str, CallError]]:
    """Every fact the profiles could not read, with where it sits in the question's view
    ("source.key.policy") and the call that failed, in document order. A fact shared by several
    questions is listed for the first; with several questions the place names the question."""
    if isinstance(snapshot, SnapshotView):
        return [(where, error) for where, error, _ in _unknown_in(snapshot, "")]
    views = list(snapshot.views())
    found: list[tuple[str, CallError]] = []
    reported: set[int] = set()
    for question, object_key, view in views:
        where = ""
        if len(views) > 1:
            who = question.principal or "the caller"
            where = f"{who} on s3://{question.bucket}/{object_key or ''}: "
        in_view = _unknown_in(view, where)
        found += [(place, error) for place, error, fact in in_view if fact not in reported]
        reported.update(fact for _, _, fact in in_view)
    return found


def _unknown_in(node: Any, where: str) -> list[tuple[str, CallError, int]]:
    found: list[tuple[str, CallError, int]] = []
    _collect_unknown(node, where, found)
    return found


def _collect_unknown(node: Any, where: str, found: list[tuple[str, CallError, int]]) -> None:
    if isinstance(node, Fetched):
        if node.is_unknown and node.error is not None:
            found.append((where, node.error, id(node)))
        if node.value is not None:
            _collect_unknown(node.value, where, found)
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            _collect_unknown(item, f"{where}[{index}]", found)
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            child = f"{where}.{f.name}" if where and not where.endswith(" ") else where + f.name
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
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a dataclass that checks itself (Question)
        raise SnapshotError(f"{where}: {exc}") from None
