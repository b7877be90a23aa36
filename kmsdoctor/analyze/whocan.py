"""Who can read (or write) this object: every role and user of the readable accounts, and the
principals outside them that the resource account's policies open to.

Pure analysis: no boto3, no CLI. Each principal is answered by the one analysis API
(`kmsdoctor.analyze.answer`, what `diagnose` runs); this module only lists, classifies and
summarises.

- For each principal that cannot, the *first shut lock*: an explicit Deny first (it wins however
  many other locks are open), else the first implicitly shut lock in report order (identity,
  bucket policy, key policy, then the ceilings and configuration checks), with the code of the
  error finding that explains it.
- Service-linked roles (path `/aws-service-role/`) and AWS-service roles (their trust policy lets
  only AWS services assume them) are listed apart: no person or workload of the account can
  become them.
- Principals outside the readable accounts (another account, `*` with conditions, an
  organization, a principal in an account whose principals could not be listed) are found by
  walking the bucket and key policy statements that allow the operation's requests, and the
  key's grants. The resource account's side opens to them; their own account's IAM decides the
  rest, and kmsdoctor cannot see it. A statement whose conditions keep the caller inside the
  listed accounts (`aws:PrincipalAccount`, `kms:CallerAccount`, `aws:PrincipalArn`) opens to
  no one outside them. `kmsdoctor check` folds these principals into its `readers`/`writers`
  results (kmsdoctor/check/model.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kmsdoctor.analyze.api import answer as answer_question
from kmsdoctor.analyze.context import PLACEHOLDER_SESSION_NAME, build_request_context
from kmsdoctor.analyze.model import PrincipalDiagnosis, Verdict
from kmsdoctor.arn import account_of
from kmsdoctor.lock_catalogue import CEILING_LOCKS, LOCK_NAMES
from kmsdoctor.policy import parse_policy
from kmsdoctor.policy.model import ConditionTrace, PolicyError, Request, RequestPrincipal
from kmsdoctor.questions import Operation, Question
from kmsdoctor.snapshot import (
    CallError,
    Fetched,
    NamedPolicy,
    PrincipalInfo,
    Snapshot,
    SnapshotView,
)

Category = Literal["principal", "service_linked", "aws_service"]
SERVICE_LINKED_PATH = "/aws-service-role/"
OUTSIDE_NOTE = "opened on the resource account's side; their own account decides"


@dataclass
class PrincipalAnswer:
    """One role or user of a readable account, and whether it can."""

    principal: str  # the IAM role or user ARN
    account: str
    kind: Literal["role", "user"]
    category: Category
    verdict: Verdict
    locks_shut: list[str]  # every shut lock, in report order
    first_shut_lock: str | None  # the one to open first (see the module docstring)
    code: str | None  # the error finding that explains the first shut lock
    reason: str  # that lock's reason; for an unknown verdict, what could not be read
    locks_unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "account": self.account,
            "kind": self.kind,
            "category": self.category,
            "verdict": self.verdict,
            "locks_shut": list(self.locks_shut),
            "first_shut_lock": self.first_shut_lock,
            "code": self.code,
            "reason": self.reason,
            "locks_unknown": list(self.locks_unknown),
        }


@dataclass
class Opening:
    """One statement (or grant) of the resource account that opens to an outside principal."""

    where: Literal["bucket_policy", "key_policy", "grant"]
    statement: str  # Sid, Statement[i], or the grant id
    conditions: list[str]  # as written: "StringEquals aws:PrincipalOrgID o-abc"
    # The accounts the statement's conditions keep the caller in (None: not kept to any).
    confined_to: frozenset[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "statement": self.statement, "conditions": self.conditions}


@dataclass
class OutsidePrincipal:
    """A principal the bucket or key policy opens to, outside the listed accounts."""

    principal: str  # as written: an ARN, an account id, "*", "Service:…"
    kind: Literal["account", "role", "user", "anyone", "service", "unique_id", "other"]
    account: str | None
    why_outside: str  # "account 333333333333 was not read", "anyone", ...
    openings: list[Opening]
    # Does the resource account's side open for the whole operation: the bucket policy, and
    # (when a KMS key is involved) the key policy or a grant? "partly" names the missing half;
    # "unknown": the policy of the missing half could not be read.
    resource_side: Literal["open", "partly", "unknown"]
    missing: str = ""  # what keeps the resource side partly shut (or unknown)
    denied_by: list[str] = field(default_factory=list)  # Deny statements that may apply
    denied_always: bool = False  # one of them has no condition: the resource side is shut

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "kind": self.kind,
            "account": self.account,
            "why_outside": self.why_outside,
            "resource_side": self.resource_side,
            "missing": self.missing,
            "openings": [o.to_dict() for o in self.openings],
            "denied_by": list(self.denied_by),
            "note": OUTSIDE_NOTE,
        }


@dataclass
class WhoCanResult:
    bucket: str
    key: str | None
    operation: Literal["read", "write"]
    region: str
    accounts: list[str]  # the accounts whose principals were listed
    unreadable_accounts: dict[str, str]  # account id -> why its principals are not listed
    principals: list[PrincipalAnswer]
    outside: list[OutsidePrincipal]
    notes: list[str] = field(default_factory=list)

    def allowed(self) -> list[str]:
        """The principals (ARNs) that can, service roles included."""
        return [p.principal for p in self.principals if p.verdict == "allow"]

    def undecided(self) -> list[str]:
        return [p.principal for p in self.principals if p.verdict == "unknown"]

    @property
    def complete(self) -> bool:
        """Every account was listed and every principal answered allow or deny."""
        return not self.unreadable_accounts and not self.undecided()

    def summary(self) -> dict[str, Any]:
        verdicts = {"allow": 0, "deny": 0, "unknown": 0}
        by_lock: dict[str, dict[str, Any]] = {}
        for answer in self.principals:
            verdicts[answer.verdict] += 1
            if answer.first_shut_lock is None:
                continue
            entry = by_lock.setdefault(answer.first_shut_lock, {"principals": 0, "codes": {}})
            entry["principals"] += 1
            code = answer.code or "none"
            entry["codes"][code] = entry["codes"].get(code, 0) + 1
        ordered = {lock: by_lock[lock] for lock in LOCK_NAMES if lock in by_lock}
        categories: dict[str, int] = {}
        for answer in self.principals:
            categories[answer.category] = categories.get(answer.category, 0) + 1
        return {
            **verdicts,
            "principals": len(self.principals),
            "by_category": categories,
            "by_first_shut_lock": ordered,
            "outside": len(self.outside),
            "unreadable_accounts": len(self.unreadable_accounts),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": {
                "bucket": self.bucket,
                "key": self.key,
                "operation": self.operation,
                "region": self.region,
                "accounts": list(self.accounts),
            },
            "principals": [p.to_dict() for p in self.principals],
            "outside": [o.to_dict() for o in self.outside],
            "unreadable_accounts": dict(self.unreadable_accounts),
            "summary": self.summary(),
            "notes": list(self.notes),
        }


# --- one principal -------------------------------------------------------------------------------


def category_of(principal: PrincipalInfo) -> Category:
    """Service-linked (AWS made it, only its service uses it), AWS-service (only AWS services
    may assume it), or a principal people and workloads of the account can become."""
    if principal.kind != "role" or not principal.entity.is_ok or principal.entity.value is None:
        return "principal"
    entity = principal.entity.value
    if entity.path.startswith(SERVICE_LINKED_PATH):
        return "service_linked"
    if _only_services_may_assume(entity.trust_policy):
        return "aws_service"
    return "principal"


def _only_services_may_assume(trust: Any) -> bool:
    if not isinstance(trust, dict):
        return False  # unreadable or absent: do not set it apart on a guess
    statements = trust.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    allowing = [s for s in statements if isinstance(s, dict) and s.get("Effect") == "Allow"]
    if not allowing:
        return False
    for statement in allowing:
        principal = statement.get("Principal")
        if not isinstance(principal, dict) or set(principal) != {"Service"}:
            return False
    return True


def first_shut_lock(diagnosis: PrincipalDiagnosis) -> str | None:
    """An explicit Deny first, else the first implicitly shut lock in report order."""
    shut = diagnosis.shut_locks()
    for name in shut:
        if diagnosis.locks[name].status == "explicit_deny":
            return name
    return shut[0] if shut else None


def _code_for(diagnosis: PrincipalDiagnosis, lock: str) -> str | None:
    fallback = None
    for finding in diagnosis.findings:
        if finding.lock != lock:
            continue
        if finding.severity == "error":
            return finding.code
        fallback = fallback or finding.code
    return fallback


def principal_answer(principal: PrincipalInfo, diagnosis: PrincipalDiagnosis) -> PrincipalAnswer:
    verdict = diagnosis.verdict
    first = first_shut_lock(diagnosis) if verdict == "deny" else None
    unknown = [
        name
        for name, lock in diagnosis.locks.items()
        if lock.status == "unknown" and name not in CEILING_LOCKS
    ]
    if first is not None:
        reason = diagnosis.locks[first].reason
    elif verdict == "unknown":
        reason = "; ".join(f"{name}: {diagnosis.locks[name].reason}" for name in unknown)
    else:
        reason = ""
    return PrincipalAnswer(
        principal=principal.arn,
        account=account_of(principal.arn),
        kind=principal.kind,
        category=category_of(principal),
        verdict=verdict,
        locks_shut=[name for name in diagnosis.shut_locks()],
        first_shut_lock=first,
        code=_code_for(diagnosis, first) if first else None,
        reason=reason,
        locks_unknown=unknown,
    )


# --- the whole listing ---------------------------------------------------------------------------


def who_can(
    snapshot: Snapshot,
    bucket: str,
    key: str | None,
    operation: Operation,
    listed: Mapping[str, Fetched[list[PrincipalInfo]]],
) -> WhoCanResult:
    """Who can do `operation` on `bucket`/`key`: every principal of each listed account
    (account id -> its roles and users, or why they could not be listed), each answered by
    `kmsdoctor.analyze.answer` against `snapshot`'s facts, and the outside principals of the
    bucket and key policies. `snapshot` holds the bucket, object and key facts and, for the
    organization, SCPs and VPC endpoints of each listed account, its account facts."""
    readable: list[str] = []
    unreadable: dict[str, str] = {}
    principals = dict(snapshot.principals)
    for account_id, fetched in listed.items():
        if not fetched.is_ok:
            unreadable[account_id] = fetched.reason()
            continue
        readable.append(account_id)
        for principal in fetched.value or []:
            principals[principal.arn] = principal
    # The same facts, with every listed principal held once by its ARN.
    facts = dataclasses.replace(snapshot, principals=principals)

    answers: list[PrincipalAnswer] = []
    notes: list[str] = []
    for account_id in readable:
        for principal in listed[account_id].value or []:
            question = Question(principal.arn, bucket, key, None, operation)
            # who-can shows the first shut lock and its code, never a fix: no proofs.
            for answered in answer_question(facts, question, prove=False):
                answers.append(principal_answer(principal, answered.diagnosis))
                _add_notes(notes, answered.notes)
    answers.sort(key=_listing_order)

    resource_view = facts.view(Question("", bucket, key, None, operation), key)
    outside, outside_notes = outside_principals(resource_view, set(readable), unreadable)
    region = resource_view.source.bucket.region
    return WhoCanResult(
        bucket=bucket,
        key=key,
        operation=operation,
        region=region.value if region.is_ok and region.value else snapshot.region,
        accounts=readable,
        unreadable_accounts=unreadable,
        principals=answers,
        outside=outside,
        notes=notes + outside_notes,
    )


# The analysis words its session assumption for --role-arn principals; who-can's principals
# are listed, not given, so it says the same thing in its own words.
_ROLE_ARN_NOTE = "principals given with --role-arn"
LISTED_SESSION_NOTE = (
    f"each listed role is analysed as a session of itself named '{PLACEHOLDER_SESSION_NAME}' "
    "(who-can observes no real session, so no session policy narrows it)"
)


def _add_notes(notes: list[str], more: list[str]) -> None:
    for note in more:
        if note.startswith(_ROLE_ARN_NOTE):
            note = LISTED_SESSION_NOTE
        if note not in notes:
            notes.append(note)


_CATEGORY_ORDER = {"principal": 0, "aws_service": 1, "service_linked": 2}
_VERDICT_ORDER = {"allow": 0, "unknown": 1, "deny": 2}


def _listing_order(answer: PrincipalAnswer) -> tuple[int, str, int, str]:
    return (
        _CATEGORY_ORDER[answer.category],
        answer.account,
        _VERDICT_ORDER[answer.verdict],
        answer.principal,
    )


# --- principals outside the readable accounts ----------------------------------------------------

_PROBE_ROLE = "kmsdoctor-who-can"


def _template_requests(snapshot: SnapshotView) -> tuple[Request | None, Request | None]:
    """The S3 and KMS requests of the operation (action, resource ARN), as the analysis builds
    them; the KMS one is None when no KMS key is involved."""
    account = snapshot.source.account_id.value if snapshot.source.account_id.is_ok else None
    stand_in = _stand_in_principal(account or "000000000000")
    ctx = build_request_context(snapshot, stand_in)
    s3 = ctx.authorization("s3")
    kms = ctx.authorization("kms")
    return (s3.request if s3 else None, kms.request if kms else None)


def _stand_in_principal(account: str) -> PrincipalInfo:
    nothing: Fetched[Any] = Fetched.absent()
    return PrincipalInfo(
        arn=f"arn:aws:iam::{account}:role/{_PROBE_ROLE}",
        kind="role",
        source="role_arn",
        session_arn=None,
        entity=nothing,
        inline_policies=nothing,
        attached_policies=nothing,
        group_policies=nothing,
        permissions_boundary=nothing,
        session_policy=nothing,
    )


@dataclass
class _Entry:
    principal: str
    kind: str
    account: str | None
    openings: list[Opening] = field(default_factory=list)
    denied_by: list[str] = field(default_factory=list)
    denied_always: bool = False


def outside_principals(
    snapshot: SnapshotView, readable: set[str], unreadable: dict[str, str]
) -> tuple[list[OutsidePrincipal], list[str]]:
    """The principals the bucket and key policies (and grants) open the operation to, that are
    not among the listed principals; and notes on what could not be walked."""
    notes: list[str] = []
    s3_request, kms_request = _template_requests(snapshot)
    entries: dict[str, _Entry] = {}
    unread: dict[str, str] = {}  # a half of the resource side -> why its policy is not known
    if s3_request is not None:
        why = _walk(
            snapshot.source.bucket.policy,
            "bucket_policy",
            "bucket policy",
            s3_request,
            entries,
            notes,
        )
        if why:
            unread["bucket"] = why
    key = snapshot.source.key
    if kms_request is not None and key is not None:
        why = _walk(key.policy, "key_policy", "key policy", kms_request, entries, notes)
        if why:
            unread["key"] = why
        _walk_grants(key.grants, kms_request.action, entries, notes)

    # An opening whose conditions keep the caller inside the listed accounts lets no one else in.
    for entry in entries.values():
        entry.openings = [
            o for o in entry.openings if o.confined_to is None or not o.confined_to <= readable
        ]
    public_block = _public_policy_block(snapshot, entries)
    outside: list[OutsidePrincipal] = []
    for entry in entries.values():
        if not entry.openings:
            continue
        why = _why_outside(entry, readable, unreadable)
        if why is None:
            continue
        # What opens to the entry's account, or to anyone, opens to the entry too: a bucket
        # policy naming a partner's role and a key policy naming the partner's root let that
        # role through on the resource account's side.
        opened = {o.where for o in _covering_openings(entry, entries)}
        missing = ""
        side: Literal["open", "partly", "unknown"] = "open"
        if "bucket_policy" not in opened:
            side, missing = _missing_half(
                unread.get("bucket"),
                f"the bucket policy does not allow {s3_request.action if s3_request else ''}",
            )
        elif kms_request is not None and not opened & {"key_policy", "grant"}:
            side, missing = _missing_half(
                unread.get("key"),
                f"neither the key policy nor a grant allows {kms_request.action}",
            )
        # Block Public Access shuts the bucket half (or leaves it unknown) over what the
        # statements say; a half already shut stays the reason.
        if public_block is not None and (
            side == "open" or (side == "unknown" and public_block[0] == "partly")
        ):
            side, missing = public_block
        outside.append(
            OutsidePrincipal(
                principal=entry.principal,
                kind=entry.kind,  # type: ignore[arg-type]
                account=entry.account,
                why_outside=why,
                openings=entry.openings,
                resource_side=side,
                missing=missing,
                denied_by=entry.denied_by,
                denied_always=entry.denied_always,
            )
        )
    order = {"open": 0, "unknown": 1, "partly": 2}
    outside.sort(key=lambda o: (order[o.resource_side], o.principal))
    return outside, notes


def _public_policy_block(
    snapshot: SnapshotView, entries: dict[str, _Entry]
) -> tuple[Literal["partly", "unknown"], str] | None:
    """S3 Block Public Access: while the bucket policy is public (an Allow to `*` with no
    condition), RestrictPublicBuckets lets no other account in through the bucket policy.
    Shut (partly) when it is on, unknown when it could not be read, None when it does not
    apply. (The account-level setting is not read.)"""
    anyone = entries.get("anyone")
    if anyone is None:
        return None
    if not any(o.where == "bucket_policy" and not o.conditions for o in anyone.openings):
        return None
    block = snapshot.source.bucket.public_access_block
    if block.status == "absent":
        return None
    if not block.is_ok or block.value is None:
        return "unknown", (
            "the bucket policy is public and the bucket's S3 Block Public Access could not be "
            f"read ({block.reason()}): RestrictPublicBuckets would keep every other account out"
        )
    if block.value.restrict_public_buckets:
        return "partly", (
            "the bucket policy is public, and the bucket's S3 Block Public Access "
            "(RestrictPublicBuckets) keeps every other account out while it is"
        )
    return None


def _missing_half(unread: str | None, shut: str) -> tuple[Literal["partly", "unknown"], str]:
    """A half of the resource side no statement opens: shut, or unknown when its policy could
    not be read (never a guess)."""
    if unread:
        return "unknown", unread
    return "partly", shut


def _covering_openings(entry: _Entry, entries: dict[str, _Entry]) -> list[Opening]:
    """The entry's openings, and those of its account (`:root`) and of anyone (`*`)."""
    covering = list(entry.openings)
    for key in (f"account:{entry.account}", "anyone"):
        other = entries.get(key)
        if other is not None and other is not entry:
            covering.extend(other.openings)
    return covering


def _walk(
    fetched: Fetched[NamedPolicy],
    where: Literal["bucket_policy", "key_policy"],
    label: str,
    request: Request,
    entries: dict[str, _Entry],
    notes: list[str],
) -> str | None:
    """Add the policy's openings to `entries`; return why it could not be walked, if it could
    not."""
    if fetched.status == "absent":
        return None
    if not fetched.is_ok or fetched.value is None:
        why = f"the {label} could not be read ({fetched.reason()})"
        notes.append(f"{why}: who else it opens to is unknown")
        return why
    try:
        policy = parse_policy(fetched.value.document, name=label, kind="resource")
    except PolicyError as exc:
        why = f"the {label} could not be parsed ({exc.message})"
        notes.append(f"{why}: who else it opens to is unknown")
        return why
    # Which statements match the action and resource does not depend on the principal: one
    # evaluation as a stand-in tells them all.
    stand_in = dataclasses.replace(
        request,
        principal=RequestPrincipal(arn="arn:aws:iam::000000000000:root", account="000000000000"),
    )
    denies: list[tuple[str, tuple[str, ...], list[str]]] = []
    for trace in policy.evaluate(stand_in).statements:
        if not (trace.action_matched and trace.resource_matched) or trace.text is None:
            continue
        if trace.text.principals_negated:
            continue  # NotPrincipal (Deny only) names who is exempt, not who is let in
        conditions = [
            f"{c.operator} {c.key} {', '.join(c.policy_values)}" for c in trace.conditions
        ]
        if trace.effect == "Deny":
            denies.append((trace.label, trace.text.principals, conditions))
            continue
        confined = _confined_accounts(trace.conditions)
        for written in trace.text.principals:
            _entry_for(written, entries).openings.append(
                Opening(where, f"{label} {trace.label}", conditions, confined)
            )
    for deny_label, principals, conditions in denies:
        named = {_identity_of(written)[0] for written in principals}
        for key, entry in entries.items():
            # A Deny naming an account applies to every principal of that account.
            if "anyone" in named or key in named or f"account:{entry.account}" in named:
                suffix = f" when {'; '.join(conditions)}" if conditions else ""
                entry.denied_by.append(f"{label} {deny_label}{suffix}")
                entry.denied_always = entry.denied_always or not conditions
    return None


# Conditions that keep the caller inside the accounts they name (exact values only).
_ACCOUNT_KEYS = ("aws:principalaccount", "kms:calleraccount")
_ACCOUNT_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase")
_ARN_OPERATORS = ("ArnEquals", "ArnLike", "StringEquals", "StringLike")


def _confined_accounts(conditions: tuple[ConditionTrace, ...]) -> frozenset[str] | None:
    """The accounts a statement's conditions keep the caller in; None when they keep it in
    none (no such condition, or a value with a wildcard in its account)."""
    confined: frozenset[str] | None = None
    for condition in conditions:
        key = condition.key.lower()
        accounts: set[str] = set()
        if key in _ACCOUNT_KEYS and condition.operator in _ACCOUNT_OPERATORS:
            accounts = set(condition.policy_values)
        elif key == "aws:principalarn" and condition.operator in _ARN_OPERATORS:
            accounts = {account_of(value) for value in condition.policy_values}
        else:
            continue
        if not all(a.isdigit() and len(a) == 12 for a in accounts):
            continue  # "*" or "" in an account: anyone's principals may match
        confined = frozenset(accounts) if confined is None else confined & accounts
    return confined


def _walk_grants(
    fetched: Fetched[Any], action: str, entries: dict[str, _Entry], notes: list[str]
) -> None:
    if fetched.is_unknown:
        notes.append(f"the key's grants could not be read ({fetched.reason()})")
        return
    operation = action.split(":", 1)[-1]
    for grant in fetched.value or []:
        if operation not in grant.operations:
            continue
        constraints = [f"{k} {v}" for k, v in (grant.constraints or {}).items()]
        _entry_for(f"AWS:{grant.grantee_principal}", entries).openings.append(
            Opening("grant", f"grant {grant.grant_id}", constraints)
        )


def _entry_for(written: str, entries: dict[str, _Entry]) -> _Entry:
    """The entry of one principal however it is written: an account id and its `:root` ARN
    are the same principal."""
    key, shown, kind, account = _identity_of(written)
    entry = entries.get(key)
    if entry is None:
        entry = entries[key] = _Entry(shown, kind, account)
    return entry


def _identity_of(written: str) -> tuple[str, str, str, str | None]:
    """(key, shown name, kind, account) of a principal as the engine writes it ("AWS:…")."""
    kind, account = _classify(written)
    if kind == "anyone":
        return "anyone", "*", kind, None
    if kind == "account" and account:
        root = f"arn:aws:iam::{account}:root"
        return f"account:{account}", root, kind, account
    shown = written.split(":", 1)[1] if ":" in written and kind != "other" else written
    return f"{kind}:{shown}", shown, kind, account


def _classify(written: str) -> tuple[str, str | None]:
    """(kind, account) of a principal as the policy engine writes it ("AWS:…", "*", …)."""
    if written in ("*", "AWS:*"):
        return "anyone", None
    kind, _, value = written.partition(":")
    if kind == "Service":
        return "service", None
    if kind != "AWS":
        return "other", None
    if value.isdigit() and len(value) == 12:
        return "account", value
    if value.startswith("arn:"):
        account = account_of(value)
        resource = value.split(":", 5)[-1]
        if resource == "root":
            return "account", account
        if resource.startswith("role/") or resource.startswith("assumed-role/"):
            return "role", account
        if resource.startswith("user/"):
            return "user", account
        return "other", account or None
    if value.startswith("A") and value.isalnum():
        return "unique_id", None
    return "other", None


def _why_outside(entry: _Entry, readable: set[str], unreadable: dict[str, str]) -> str | None:
    """Why this principal is not among the listed ones; None when it is (it was answered)."""
    if entry.kind == "anyone":
        return "anyone: principals of every account, conditions permitting"
    if entry.kind == "service":
        return "an AWS service principal, not a role or user"
    if entry.kind == "unique_id":
        return "a unique id: a principal that was deleted (and perhaps re-created)"
    if entry.account is None:
        return "not an IAM principal of a known account"
    if entry.account in readable:
        return None
    if entry.account in unreadable:
        return f"account {entry.account} could not be listed ({unreadable[entry.account]})"
    return f"account {entry.account} was not read (no profile for it)"


def not_collected(what: str) -> CallError:
    """A fact no call was made for (e.g. SCPs over the resource account seen as a caller)."""
    return CallError("", "NotCollected", what)
