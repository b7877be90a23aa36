"""The collection planner: the facts a set of questions needs, each read once, concurrently.

`collect_facts(CollectionPlan(...))` reads, for every question (principal × object or prefix ×
operation):

- per bucket, once: its configuration (`collect_bucket`), through the profile of the account
  that owns it. The owner is learnt, never guessed: the shorthand's resource profile reads it
  (its account comes from its own GetCallerIdentity), or the profile whose `s3:ListBuckets`
  lists it;
- per object, once: HeadObject (and GetObjectAcl for a named key; a prefix's listing carries
  each object's owner); a prefix is listed with ListObjectsV2 up to `max_objects`, recording
  whether S3 had more;
- per key reference, once: DescribeKey, then policy, grants and aliases — one key policy for
  every object under that key;
- per principal, once: its entity and policies; per managed policy ARN, once, however many
  principals attach it;
- per account, once: its identity, organization and SCP or RCP chain, and (caller accounts)
  its VPC endpoints.

Every AWS call goes through a per-service limit (`SERVICE_LIMITS`) and the tenacity backoff of
`kmsdoctor.aws.call`. A call that fails is an `unknown` fact with its error, never a crash; an
account no profile reads has its facts `unknown`, naming the account a profile would settle.

Concurrency without deadlock: a fact needed by several chains is computed by the first thread
that needs it (`Once`), the others wait for that running thread; pool tasks never wait for a
task that might still be queued.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kmsdoctor import __version__
from kmsdoctor.arn import (
    account_of,
    iam_entity_key,
    is_key_arn,
    is_role_arn,
    object_arn,
    parse_arn,
    role_name_of,
)
from kmsdoctor.aws import (
    CONNECTION_ERROR_CODES,
    MAX_POOL_CONNECTIONS,
    CallResult,
    Sessions,
    call,
    call_pages,
    profile_label,
)
from kmsdoctor.collect.caller_account import (
    PrincipalRef,
    caller_identity,
    caller_principal,
    collect_principal,
    collect_vpc_endpoints,
    read_managed_policy,
)
from kmsdoctor.collect.fetch import parallel
from kmsdoctor.collect.organization import (
    OrganizationTree,
    PolicyType,
    organization_policies,
)
from kmsdoctor.collect.resource_account import (
    KeyReads,
    KeySource,
    collect_bucket,
    collect_object,
    describe_key,
    key_info,
    key_region,
    key_visibility,
    list_prefix,
    read_key,
    unreadable_bucket,
)
from kmsdoctor.collect.tags import (
    EXISTING_OBJECT_TAG,
    RESOURCE_TAG,
    level_documents,
    principal_documents,
    read_bucket_abac,
    read_object_tags,
    tests_condition_key,
)
from kmsdoctor.concurrency import Once, worker_pool
from kmsdoctor.errors import UsageError
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import (
    AccountFacts,
    BucketFacts,
    CallerIdentity,
    CallError,
    Fetched,
    KeyInfo,
    NamedPolicy,
    ObjectFacts,
    ObjectInfo,
    Organization,
    PolicyLevel,
    PrefixListing,
    PrincipalInfo,
    Snapshot,
    bucket_default_key,
    listing_id,
    no_profile_error,
)

# Calls in flight at once, per service (across all profiles). S3 is where a prefix fans out;
# kmsdoctor.aws keeps as many connections per client.
SERVICE_LIMITS: dict[str, int] = {
    "s3": MAX_POOL_CONNECTIONS,
    "kms": 16,
    "iam": 16,
    "organizations": 8,
    "sts": 8,
    "ec2": 4,
}
# Threads that run the chains (a head then its key, a principal then its policies, ...). The
# service limits, not this, bound what AWS sees.
_CHAIN_WORKERS = 48
# Threads of the reads started before the questions are known (a pipeline's profiles, then what
# its definition names): a few dozen chains at most.
_AHEAD_WORKERS = 32


@dataclass(frozen=True)
class ProfilePair:
    """The two-account shorthand (--source-profile / --target-profile): each account is read
    through a profile whose account id is learnt from its own GetCallerIdentity. None is the
    default credential chain."""

    resource: str | None  # owns the buckets and keys (account A)
    caller: str | None  # the caller's account (B); the principal "" is this profile's identity


@dataclass
class CollectionPlan:
    questions: list[Question]
    # account id -> the profile that reads it; None: no profile can (its facts are unknown)
    profiles: dict[str, str | None] = field(default_factory=dict)
    region: str | None = None
    max_objects: int = 1000  # per prefix question
    kms_key: str | None = None  # --kms-key: used when the object's own key cannot be read
    pair: ProfilePair | None = None  # the two-account shorthand, if that is how it was asked

    def __post_init__(self) -> None:
        if self.max_objects < 1:
            raise UsageError("max_objects must be at least 1")
        if self.pair is None and any(q.principal == "" for q in self.questions):
            raise UsageError("a question without a principal needs the caller's profile")
        for question in self.questions:
            if question.principal and parse_arn(question.principal) is None:
                raise UsageError(f"principal {question.principal!r} is not an IAM ARN")


def collect_facts(plan: CollectionPlan, sessions: Sessions | None = None) -> Snapshot:
    """Read every fact the plan's questions need, once, into a schema v2 Snapshot. `sessions`:
    the run's sessions and clients when the command already opened them (and maybe warmed its
    clients); the plan's profiles it lacks are opened here."""
    return FactCollection(plan, sessions).run()


class _Bounded:
    """An AWS client whose calls (and each page of a listing) wait for a free slot of their
    service's limit. Everything else passes through to the client."""

    def __init__(self, inner: Any, slots: threading.BoundedSemaphore) -> None:
        self._inner = inner
        self._slots = slots

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "get_paginator":
            return lambda operation: _BoundedPaginator(attr(operation), self._slots)
        if name.startswith("_") or name == "meta" or not callable(attr):
            return attr

        def bounded(*args: Any, **kwargs: Any) -> Any:
            with self._slots:
                return attr(*args, **kwargs)

        return bounded


class _BoundedPaginator:
    def __init__(self, inner: Any, slots: threading.BoundedSemaphore) -> None:
        self._inner = inner
        self._slots = slots

    def paginate(self, **params: Any) -> Iterator[Any]:
        pages = iter(self._inner.paginate(**params))
        while True:
            with self._slots:
                try:
                    page = next(pages)
                except StopIteration:
                    return
            yield page


_NO_PROFILE = object()  # an account no profile reads


class FactCollection:
    """One run of the planner: sessions, clients, and the once-only facts.

    `collect_facts(plan)` is the usual way in. A command that learns its questions from AWS
    first (`pipeline`) opens one with its profiles and no questions, starts
    `read_profiles_ahead`, and calls `collect(plan)` once the questions are known.
    """

    def __init__(self, plan: CollectionPlan, sessions: Sessions | None = None) -> None:
        self.plan = plan
        self.questions = list(dict.fromkeys(plan.questions))
        # boto3 sessions are not thread-safe: all opened here, in the calling thread.
        self.sessions = sessions if sessions is not None else Sessions([], plan.region)
        self.sessions.open(self._profiles_to_open(), plan.region)
        self.region = plan.region or self._region_of_sessions()
        if not self.region:
            raise UsageError("no Region: pass --region or set one in the source profile")
        self.slots = {
            service: threading.BoundedSemaphore(limit) for service, limit in SERVICE_LIMITS.items()
        }
        self.identities: Once[str | None, CallResult] = Once()
        self.listed_buckets: Once[str | None, CallResult] = Once()
        self.owners: Once[str, tuple[str, Any]] = Once()  # bucket -> (account, profile)
        self.buckets: Once[str, BucketFacts] = Once()
        self.fallback_keys: Once[str, None] = Once()
        self.objects: Once[str, ObjectFacts] = Once()
        self.listings: Once[str, tuple[PrefixListing, dict[str, Fetched[str]]]] = Once()
        self.keys: Once[str, KeyInfo] = Once()
        # AWS's answers about a key, by (reader, Region, reference): shared by an object's key
        # and a bucket default's when both name the same key ARN.
        self.key_reads: Once[tuple[Any, str, str], KeyReads] = Once()
        self.requested_key: Once[str, CallResult] = Once()
        self.principals: Once[str, PrincipalInfo] = Once()
        self.entities: Once[str, PrincipalInfo] = Once()  # by iam_entity_key
        self.managed: Once[tuple[str, str], Fetched[NamedPolicy]] = Once()
        self.organizations: Once[
            tuple[str, PolicyType], tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]
        ] = Once()
        self.organization_trees: Once[str, OrganizationTree] = Once()
        self.vpc_endpoints: Once[str, Any] = Once()
        self._ahead_pool: ThreadPoolExecutor | None = None  # read_profiles_ahead()
        self._ahead_stopped = threading.Event()  # close(failed=True): start no further step

    # --- profiles, sessions, clients -------------------------------------------------------

    def _profiles_to_open(self) -> list[str | None]:
        profiles: list[str | None] = []
        if self.plan.pair is not None:
            profiles += [self.plan.pair.resource, self.plan.pair.caller]
        profiles += [p for p in self.plan.profiles.values() if p is not None]
        return list(dict.fromkeys(profiles))

    def _region_of_sessions(self) -> str | None:
        for profile in self._profiles_to_open():
            session = self.sessions.session(profile)
            if session.region_name:
                return session.region_name
        return None

    def client(self, profile: str | None, service: str, region: str | None = None) -> Any:
        """The profile's client for the service in the Region (in the collection's Region by
        default), behind the service's limit. `Sessions` makes each client once, by the first
        thread that needs it."""
        region = region or self.region
        # Each service named literally: the read-only scan (tests/trust) checks them.
        for known in ("s3", "kms", "iam", "organizations", "sts", "ec2"):
            if known == service:
                return _Bounded(self.sessions.client(profile, known, region), self.slots[known])
        raise ValueError(f"the planner makes no {service} client")

    def label(self, profile: str | None) -> str:
        return profile_label(self.sessions.session(profile))

    def identity(self, profile: str | None) -> CallerIdentity:
        """GetCallerIdentity needs no permission, so its failure is never a policy fact: the
        profile cannot reach AWS at all, and nothing else from it would be worth reading."""
        result = self.identities.get(
            profile, lambda: call(self.client(profile, "sts"), "GetCallerIdentity")
        )
        if result.ok:
            assert result.response is not None
            return caller_identity(result.response)
        assert result.error is not None
        label = self.label(profile)
        if result.error.code in CONNECTION_ERROR_CODES:
            raise UsageError(f"cannot reach AWS with profile {label}: {result.error.message}")
        raise UsageError(
            f"cannot identify profile {label}: sts:GetCallerIdentity failed with "
            f"{result.error.code}"
        )

    def profile_of_account(self, account: str) -> Any:
        """The profile that reads `account`, or _NO_PROFILE."""
        if account in self.plan.profiles:
            profile = self.plan.profiles[account]
            return _NO_PROFILE if profile is None else profile
        pair = self.plan.pair
        if pair is not None:
            for profile in (pair.resource, pair.caller):
                if self.identity(profile).account == account:
                    return profile
        return _NO_PROFILE

    # --- buckets ------------------------------------------------------------------------------

    def owner(self, bucket: str) -> tuple[str, Any]:
        """(owning account, the profile that reads it) — learnt, never guessed."""
        return self.owners.get(bucket, lambda: self._find_owner(bucket))

    def _find_owner(self, bucket: str) -> tuple[str, Any]:
        if self.plan.pair is not None:
            # The shorthand names the profile of the bucket's account.
            profile = self.plan.pair.resource
            return self.identity(profile).account, profile
        # ListBuckets lists only the buckets the account owns.
        readers = [(a, p) for a, p in self.plan.profiles.items() if p is not None]
        with worker_pool(max(1, len(readers))) as pool:
            listed = [
                (account, profile, pool.submit(self._list_buckets, profile))
                for account, profile in readers
            ]
            for account, profile, future in listed:
                result = future.result()
                if result.ok and result.response is not None:
                    names = {b.get("Name") for b in result.response.get("Buckets", [])}
                    if bucket in names:
                        return account, profile
        return "", _NO_PROFILE

    def _list_buckets(self, profile: str) -> CallResult:
        return self.listed_buckets.get(
            profile, lambda: call_pages(self.client(profile, "s3"), "ListBuckets", "Buckets")
        )

    def bucket(self, bucket: str) -> BucketFacts:
        return self.buckets.get(bucket, lambda: self._read_bucket(bucket))

    def _read_bucket(self, bucket: str) -> BucketFacts:
        if self.plan.pair is not None:
            # Read at once, without waiting for the profile's identity (as before the planner).
            profile = self.plan.pair.resource
            info = collect_bucket(self.client(profile, "s3"), bucket, self.label(profile))
            return BucketFacts(account_id=self.identity(profile).account, info=info)
        account, profile = self.owner(bucket)
        if profile is _NO_PROFILE:
            why = CallError(
                "",
                "NoProfileForBucket",
                f"no profile's s3:ListBuckets lists bucket {bucket}, so its owner is not known; "
                "give a profile for the account that owns it",
            )
            if account:
                why = no_profile_error(account, f"bucket {bucket}")
            return BucketFacts(account_id=account, info=unreadable_bucket(bucket, why))
        info = collect_bucket(self.client(profile, "s3"), bucket, self.label(profile))
        return BucketFacts(account_id=account, info=info)

    def bucket_reader(self, bucket: str) -> Any:
        if self.plan.pair is not None:
            return self.plan.pair.resource
        return self.owner(bucket)[1]

    def fallback_key(self, bucket: str) -> None:
        """The key that matters when no object is read: --kms-key, else the bucket default's."""
        self.fallback_keys.get(bucket, lambda: self._read_fallback_key(bucket))

    def _read_fallback_key(self, bucket: str) -> None:
        facts = self.bucket(bucket)
        reader = self.bucket_reader(bucket)
        if self.plan.kms_key:
            described = self.requested()
            self.key(self.plan.kms_key, "request", self.region, reader, described)
            facts.fallback_key, facts.fallback_key_found_on = self.plan.kms_key, "request"
            return
        reference = bucket_default_key(facts.info.encryption)
        if reference is None or reader is _NO_PROFILE:
            return
        region = self.region
        if facts.info.region.is_ok and facts.info.region.value:
            region = facts.info.region.value  # key ids and aliases resolve in the bucket's Region
        self.key(reference, "bucket_default", region, reader)
        facts.fallback_key, facts.fallback_key_found_on = reference, "bucket_default"

    def requested(self) -> CallResult:
        """--kms-key, described once up front: a key that does not exist is a usage error."""
        reference = self.plan.kms_key
        assert reference is not None
        reader = self._key_reader(reference, None)
        if reader is _NO_PROFILE:
            raise UsageError(f"KMS key {reference}: no profile reads its account")
        return self.requested_key.get(
            reference,
            lambda: describe_key(
                lambda region: self.client(reader, "kms", region), reference, self.region
            ),
        )

    # --- objects and prefixes -----------------------------------------------------------------

    def object(self, bucket: str, key: str, owner_id: Fetched[str] | None = None) -> ObjectFacts:
        return self.objects.get(
            object_arn(bucket, key), lambda: self._read_object(bucket, key, owner_id)
        )

    def _read_object(self, bucket: str, key: str, owner_id: Fetched[str] | None) -> ObjectFacts:
        reader = self.bucket_reader(bucket)
        if reader is _NO_PROFILE:
            account = self.owner(bucket)[0]
            head: Fetched[ObjectInfo] = Fetched.unknown(
                no_profile_error(account, f"object s3://{bucket}/{key}")
            )
        else:
            s3 = self.client(reader, "s3")
            head = collect_object(s3, bucket, key, self.label(reader), owner_id)
        facts = ObjectFacts(bucket=bucket, key=key, head=head)
        if head.is_ok and head.value is not None:
            # S3 decrypts with the key recorded on the object, not the bucket's current
            # default; an SSE-S3 object involves no key at all.
            if head.value.kms_key_id:
                self.key(head.value.kms_key_id, "object", self.region, reader)
                facts.kms_key = head.value.kms_key_id
            return facts
        # Not readable: the bucket's fallback (--kms-key, else the default's key) is the lead.
        self.fallback_key(bucket)
        bucket_facts = self.bucket(bucket)
        facts.kms_key = bucket_facts.fallback_key
        facts.kms_key_found_on = bucket_facts.fallback_key_found_on
        return facts

    def listing(self, bucket: str, prefix: str) -> tuple[PrefixListing, dict[str, Fetched[str]]]:
        return self.listings.get(
            listing_id(bucket, prefix), lambda: self._read_listing(bucket, prefix)
        )

    def _read_listing(
        self, bucket: str, prefix: str
    ) -> tuple[PrefixListing, dict[str, Fetched[str]]]:
        reader = self.bucket_reader(bucket)
        if reader is _NO_PROFILE:
            why = no_profile_error(self.owner(bucket)[0], f"objects under s3://{bucket}/{prefix}")
            return PrefixListing(bucket, prefix, Fetched.unknown(why)), {}
        s3 = self.client(reader, "s3")
        return list_prefix(s3, bucket, prefix, self.plan.max_objects, self.label(reader))

    # --- keys ---------------------------------------------------------------------------------

    def _key_reader(self, reference: str, bucket_reader: Any) -> Any:
        """A key ARN is read by its own account's profile when there is one; anything else
        (id, alias) resolves in the account of the bucket that named it."""
        account = account_of(reference)
        if account and account in self.plan.profiles:
            return self.profile_of_account(account)
        if bucket_reader is None and self.plan.pair is not None:
            return self.plan.pair.resource
        return bucket_reader

    def key(
        self,
        reference: str,
        found_on: KeySource,
        region: str,
        bucket_reader: Any,
        described: CallResult | None = None,
    ) -> KeyInfo:
        return self.keys.get(
            reference, lambda: self._read_key(reference, found_on, region, bucket_reader, described)
        )

    def _read_key(
        self,
        reference: str,
        found_on: KeySource,
        region: str,
        bucket_reader: Any,
        described: CallResult | None,
    ) -> KeyInfo:
        reader = self._key_reader(reference, bucket_reader)
        if reader is _NO_PROFILE:
            gap: Fetched[Any] = Fetched.unknown(
                no_profile_error(account_of(reference), f"KMS key {reference}")
            )
            arn = reference if parse_arn(reference) else None
            return KeyInfo(reference, found_on, arn, gap, gap, gap, gap, gap)
        reads = self.read_key(reader, key_region(reference, region), reference, described)
        return key_visibility(key_info(reference, found_on, reads), self.identity(reader).account)

    def read_key(
        self, reader: Any, region: str, reference: str, described: CallResult | None = None
    ) -> KeyReads:
        return self.key_reads.get(
            (reader, region, reference),
            lambda: read_key(self.client(reader, "kms", region), reference, described),
        )

    def default_key_ahead(self, bucket: str) -> None:
        """Read the bucket default's key while a prefix is still being listed and headed: its
        objects are most often under that key, so when their heads name it, its facts are in
        hand. Only a key ARN is read ahead (it names the key without DescribeKey), and the key
        enters the snapshot only if an object or the fallback names it."""
        reference = bucket_default_key(self.bucket(bucket).info.encryption)
        if reference is None or not is_key_arn(reference):
            return
        reader = self._key_reader(reference, self.bucket_reader(bucket))
        if reader is not _NO_PROFILE:
            self.read_key(reader, key_region(reference, self.region), reference)

    # --- principals ---------------------------------------------------------------------------

    def principal(self, principal: str) -> PrincipalInfo:
        # role/x and role/team/x are one role (names are unique per account whatever the
        # path): read once, held under each ARN a question gave.
        return self.principals.get(
            principal,
            lambda: self.entities.get(
                iam_entity_key(principal), lambda: self._read_principal(principal)
            ),
        )

    def _read_principal(self, principal: str) -> PrincipalInfo:
        pair = self.plan.pair
        if principal == "":
            assert pair is not None  # checked by the plan
            ref: PrincipalRef = caller_principal(self.identity(pair.caller))
            return self._collect_principal(pair.caller, ref)
        account = account_of(principal)
        if account in self.plan.profiles or pair is None:
            reader = self.profile_of_account(account) if account else _NO_PROFILE
        else:
            reader = pair.caller  # the shorthand reads every --role-arn through the caller
        ref = _principal_ref(principal)
        if reader is _NO_PROFILE:
            gap: Fetched[Any] = Fetched.unknown(no_profile_error(account, f"principal {principal}"))
            return PrincipalInfo(
                arn=principal,
                kind=ref.kind,
                source=ref.source,
                session_arn=None,
                entity=gap,
                inline_policies=gap,
                attached_policies=gap,
                group_policies=gap,
                permissions_boundary=gap,
                session_policy=gap,
            )
        return self._collect_principal(reader, ref)

    def _collect_principal(self, profile: str | None, ref: PrincipalRef) -> PrincipalInfo:
        label = self.label(profile)

        def managed(iam: Any, arn: str) -> Fetched[NamedPolicy]:
            return self.managed.get((label, arn), lambda: read_managed_policy(iam, arn))

        return collect_principal(self.client(profile, "iam"), ref, managed)

    # --- accounts -----------------------------------------------------------------------------

    def organization(
        self, account: str, profile: Any, policy_type: PolicyType
    ) -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
        def read() -> tuple[Fetched[Organization], Fetched[list[PolicyLevel]]]:
            # One walk per account, shared by its RCP and SCP reads (an account that is both the
            # resource and a caller account).
            tree = self.organization_trees.get(
                account, lambda: OrganizationTree(self.client(profile, "organizations"), account)
            )
            return organization_policies(tree, policy_type)

        return self.organizations.get((account, policy_type), read)

    def endpoints(self, account: str, profile: Any) -> Any:
        return self.vpc_endpoints.get(
            account,
            lambda: collect_vpc_endpoints(self.client(profile, "ec2"), self.region),
        )

    def resource_account(self, bucket: str) -> None:
        account, profile = self.owner(bucket)
        if profile is not _NO_PROFILE:
            self.organization(account, profile, "RESOURCE_CONTROL_POLICY")

    def caller_account(self, principal: str) -> None:
        account, profile = self._caller_account_of(principal)
        if profile is _NO_PROFILE:
            return
        self.identity(profile)
        self._caller_account_reads(account, profile)

    def _caller_account_reads(self, account: str, profile: Any) -> None:
        # Independent reads: side by side, not one after the other.
        parallel(
            lambda: self.organization(account, profile, "SERVICE_CONTROL_POLICY"),
            lambda: self.endpoints(account, profile),
        )

    # --- reads that need only a profile, started before the questions are known --------------

    def read_profiles_ahead(self, profiles: list[str | None]) -> None:
        """Start, in the background, what each profile's account needs whatever the questions:
        its identity, its bucket list (which account owns a bucket), and, as the account of
        principals, its SCP chain and VPC endpoints. A command that learns its questions from
        AWS first (`pipeline` reads the definition) has these in flight meanwhile; `run()` then
        finds each fact read, or being read, once."""
        self._ahead_pool = ThreadPoolExecutor(
            max_workers=_AHEAD_WORKERS, thread_name_prefix="kmsdoctor-ahead"
        )
        for profile in profiles:
            self._ahead_pool.submit(self._profile_ahead, profile)

    def read_questions_ahead(
        self, questions: list[Question], profiles: dict[str, str | None], prefixes: bool = True
    ) -> None:
        """Start, in the background, what some of the questions need before all are known:
        their principals (entity, policies, SCPs, VPC endpoints), their buckets, and (with
        `prefixes`) their prefix listings. `profiles` adds accounts learnt meanwhile (the
        pipeline's own); the plan later given to `collect` must read them the same way. Needs
        `read_profiles_ahead` first (its pool)."""
        pool = self._ahead_pool
        assert pool is not None, "read_profiles_ahead() first"
        # A new plan, not the old one's dict changed: threads reading ahead may be iterating it.
        self.plan = dataclasses.replace(self.plan, profiles={**profiles, **self.plan.profiles})
        # The longest chains first: a listing is followed by its heads.
        if prefixes:
            for question in questions:
                if question.prefix is not None:
                    pool.submit(self.listing, question.bucket, question.prefix)
        for bucket in dict.fromkeys(q.bucket for q in questions):
            pool.submit(self.bucket, bucket)
        for principal in dict.fromkeys(q.principal for q in questions):
            pool.submit(self.principal, principal)
            pool.submit(self.caller_account, principal)

    def _profile_ahead(self, profile: str | None) -> None:
        def account_reads() -> None:
            account = self.identity(profile).account
            if self._ahead_stopped.is_set():
                return  # the run ended on an error meanwhile: its SCPs are no longer needed
            # The profile reads its own account unless the plan names another for it.
            if self.plan.profiles.get(account, profile) == profile:
                self._caller_account_reads(account, profile)

        parallel(lambda: self._list_buckets(profile), account_reads)

    def collect(self, plan: CollectionPlan) -> Snapshot:
        """The snapshot for `plan`: this collection's Region, and its profiles (accounts
        without one may be added)."""
        if plan.region and plan.region != self.region:
            raise ValueError(f"a collection in {self.region} cannot collect {plan.region}")
        self.plan = plan
        self.questions = list(dict.fromkeys(plan.questions))
        self.sessions.open(self._profiles_to_open(), plan.region)
        return self.run()

    def close(self, failed: bool = False) -> None:
        """Stop the reads started ahead: wait for them after a run, drop the queued ones (the
        calls in flight end on their own) after a failure or Ctrl-C."""
        pool, self._ahead_pool = self._ahead_pool, None
        if failed:
            self._ahead_stopped.set()
        if pool is not None:
            pool.shutdown(wait=not failed, cancel_futures=failed)

    def _caller_account_of(self, principal: str) -> tuple[str, Any]:
        pair = self.plan.pair
        account = account_of(principal) if principal else ""
        if account and (account in self.plan.profiles or pair is None):
            return account, self.profile_of_account(account)
        assert pair is not None
        return self.identity(pair.caller).account, pair.caller

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Snapshot:
        try:
            snapshot = self._run()
        except BaseException:
            self.close(failed=True)
            raise
        self.close()
        return snapshot

    def _run(self) -> Snapshot:
        questions = self.questions
        buckets = list(dict.fromkeys(q.bucket for q in questions))
        named = list(dict.fromkeys((q.bucket, q.key) for q in questions if q.key is not None))
        prefixes = list(
            dict.fromkeys((q.bucket, q.prefix) for q in questions if q.prefix is not None)
        )
        bucket_only = list(
            dict.fromkeys(q.bucket for q in questions if q.key is None and q.prefix is None)
        )
        principals = list(dict.fromkeys(q.principal for q in questions))
        profiles = self._profiles_to_open()

        # Clients are made on first use, beside the calls already in flight. Made all before the
        # first call (tried for the two-account shorthand), the first request went out ~300 ms
        # later on an idle machine and the whole run took longer (docs/trust.md).
        with worker_pool(_CHAIN_WORKERS) as pool, worker_pool(SERVICE_LIMITS["s3"]) as heads:
            identity_fs = [pool.submit(self.identity, p) for p in profiles]
            started: list[Future[Any]] = []
            requested_f = pool.submit(self.requested) if self.plan.kms_key else None
            started += [pool.submit(self.bucket, b) for b in buckets]
            started += [heads.submit(self.object, b, k) for b, k in named]
            listing_fs = [(b, p, pool.submit(self.listing, b, p)) for b, p in prefixes]
            started += [pool.submit(self.fallback_key, b) for b in bucket_only]
            started += [pool.submit(self.resource_account, b) for b in buckets]
            started += [pool.submit(self.principal, p) for p in principals]
            started += [pool.submit(self.caller_account, p) for p in principals]
            started += [pool.submit(self.default_key_ahead, b) for b, _ in prefixes]

            # Identities first: a credential or connection problem is the error the user sees.
            for future in identity_fs:
                future.result()
            if requested_f is not None:
                described = requested_f.result()
                if described.code == "NotFoundException":
                    raise UsageError(
                        f"KMS key {self.plan.kms_key} does not exist or is not visible to "
                        f"profile {self.label(self._key_reader(self.plan.kms_key, None))}"
                    )
            for bucket, _prefix, future in listing_fs:
                listing, owners = future.result()
                for key in listing.keys.value or []:
                    started.append(heads.submit(self.object, bucket, key, owners.get(key)))
                if not listing.keys.is_ok:
                    started.append(pool.submit(self.fallback_key, bucket))
            for future in started:
                future.result()
            # After the policies: tags only where a policy in play tests them (the two side
            # by side; neither costs a call when no policy tests its key).
            abac = pool.submit(self.bucket_abac, heads)
            self.object_tags(heads)
            abac.result()

        return self._snapshot()

    # --- tags, read only when a policy in play tests them (collect/tags.py) ------------------

    def bucket_abac(self, pool: Any) -> None:
        """GetBucketAbac (and GetBucketTagging when it is Enabled) for buckets whose policies
        in play test aws:ResourceTag: S3 evaluates the key against the bucket's tags only then."""
        reads = []
        for bucket in dict.fromkeys(q.bucket for q in self.questions):
            reader = self.bucket_reader(bucket)
            documents = self._documents_in_play(bucket, ("read", "write"))
            if reader is _NO_PROFILE or not tests_condition_key(documents, RESOURCE_TAG):
                continue
            s3 = self.client(reader, "s3")
            reads.append((bucket, pool.submit(read_bucket_abac, s3, bucket)))
        for bucket, future in reads:
            info = self.bucket(bucket).info
            info.abac, info.tags = future.result()

    def object_tags(self, heads: Any) -> None:
        """GetObjectTagging for the objects of read questions in buckets whose policies in play
        test s3:ExistingObjectTag (collect/tags.py). An object without HeadObject's TagCount is
        untagged once one GetObjectTagging in its bucket has answered (the reader may read
        tags); if that one is refused, every such object's tags are unknown with its error."""
        wanted: dict[str, list[ObjectFacts]] = {}
        for bucket, facts in self._read_objects().items():
            documents = self._documents_in_play(bucket, ("read",))
            if facts and tests_condition_key(documents, EXISTING_OBJECT_TAG):
                wanted[bucket] = facts
        # Every bucket's reads in flight together, then the answers.
        reads: list[tuple[ObjectFacts, Future[Fetched[dict[str, str]]]]] = []
        uncounted_by_bucket: list[list[ObjectFacts]] = []
        for bucket, objects in wanted.items():
            reader = self.bucket_reader(bucket)
            if reader is _NO_PROFILE:
                continue
            s3 = self.client(reader, "s3")
            counted = [f for f in objects if f.head.value and f.head.value.tag_count]
            uncounted = [f for f in objects if not (f.head.value and f.head.value.tag_count)]
            # The first object without a count is read too: its answer says whether the
            # reader may read tags at all.
            for facts in counted + uncounted[:1]:
                reads.append((facts, heads.submit(read_object_tags, s3, bucket, facts.key)))
            if uncounted:
                uncounted_by_bucket.append(uncounted)
        for facts, future in reads:
            _set_tags(facts, future.result())
        for uncounted in uncounted_by_bucket:
            confirmed = uncounted[0].head.value
            assert confirmed is not None and confirmed.tags is not None
            rest: Fetched[dict[str, str]] = (
                Fetched.ok({}) if confirmed.tags.is_ok else confirmed.tags
            )
            for facts in uncounted[1:]:
                _set_tags(facts, rest)

    def _read_objects(self) -> dict[str, list[ObjectFacts]]:
        """Per bucket, the objects read questions ask about whose HeadObject answered."""
        wanted: dict[str, dict[str, None]] = {}
        for question in self.questions:
            if question.operation != "read":
                continue
            keys = wanted.setdefault(question.bucket, {})
            if question.key is not None:
                keys[question.key] = None
            elif question.prefix is not None:
                listing, _ = self.listing(question.bucket, question.prefix)
                keys.update(dict.fromkeys(listing.keys.value or []))
        found: dict[str, list[ObjectFacts]] = {}
        for bucket, keys in wanted.items():
            found[bucket] = []
            for key in keys:
                facts = self.object(bucket, key)
                if facts.head.is_ok and facts.head.value is not None:
                    found[bucket].append(facts)
        return found

    def _documents_in_play(self, bucket: str, operations: tuple[str, ...]) -> list[Any]:
        """The policy documents a request to `bucket` meets: its bucket policy, the identity
        policies and boundaries of the principals asking, and every SCP, RCP and S3 endpoint
        policy collected (a few more than strictly in play: reading tags that do not matter
        costs calls, missing some that do would cost the answer)."""
        documents: list[Any] = []
        policy = self.bucket(bucket).info.policy
        if policy.is_ok and policy.value is not None:
            documents.append(policy.value.document)
        for question in self.questions:
            if question.bucket == bucket and question.operation in operations:
                documents += principal_documents(self.principal(question.principal))
        for _, (_, levels) in self.organizations.items():
            documents += level_documents(levels)
        for _, endpoints in self.vpc_endpoints.items():
            for endpoint in endpoints.value or []:
                if endpoint.policy is not None:
                    documents.append(endpoint.policy.document)
        return documents

    def _snapshot(self) -> Snapshot:
        accounts: dict[str, AccountFacts] = {}

        def account_facts(account: str, profile: Any) -> AccountFacts:
            if account not in accounts:
                accounts[account] = AccountFacts(
                    account_id=Fetched.ok(account),
                    profile=profile,
                    caller=Fetched.ok(self.identity(profile)),
                )
            return accounts[account]

        for (account, policy_type), (org, levels) in self.organizations.items():
            reader = self.profile_of_account(account)
            if reader is _NO_PROFILE:
                continue  # read ahead for an account the questions turned out not to name
            facts = account_facts(account, reader)
            facts.organization = org
            if policy_type == "SERVICE_CONTROL_POLICY":
                facts.scps = levels
            else:
                facts.rcps = levels
        for account, endpoints in self.vpc_endpoints.items():
            reader = self.profile_of_account(account)
            if reader is not _NO_PROFILE:
                account_facts(account, reader).vpc_endpoints = endpoints

        caller_account = None
        if self.plan.pair is not None:
            caller_account = self.identity(self.plan.pair.caller).account
        return Snapshot(
            region=self.region,
            questions=self.questions,
            accounts=accounts,
            buckets=dict(self.buckets.items()),
            objects=dict(self.objects.items()),
            keys=dict(self.keys.items()),
            principals=dict(self.principals.items()),
            listings={name: listing for name, (listing, _) in self.listings.items()},
            tool_version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            caller_account=caller_account,
            kms_key=self.plan.kms_key,
        )


def _set_tags(facts: ObjectFacts, tags: Fetched[dict[str, str]]) -> None:
    assert facts.head.value is not None
    facts.head = Fetched.ok(dataclasses.replace(facts.head.value, tags=tags))


def _principal_ref(principal: str) -> PrincipalRef:
    if is_role_arn(principal):
        return PrincipalRef("role", role_name_of(principal, "principal"), principal, "role_arn")
    parsed = parse_arn(principal)
    if parsed is not None and parsed.service == "iam" and parsed.resource.startswith("user/"):
        return PrincipalRef("user", parsed.name, principal, "role_arn")
    return PrincipalRef(
        "role",
        principal,
        principal,
        "role_arn",
        unsupported=f"{principal} is not an IAM role or user ARN",
    )
