"""Reconciliation: the probe's answers (AWS's own word) against the analysis (the policies).

For one principal, each `ProbeCall` of the snapshot is read for what it proves, then the read as
a whole is compared with the locks:

- the one-byte GET decides the read: it worked, or AWS denied it. Where it was denied comes from
  AWS's message when it names an action or a policy type (read with the `explain` tables), else
  from the HEAD: a HEAD that succeeds while the GET fails points at the KMS half;
- a denied HEAD decides the read too (HEAD needs the same s3:GetObject);
- the analysis side is the shut locks and the half each shut lock belongs to (from the requests
  in its evidence).

Outcome, per principal (docs/probe.md has the reasoning):

| probe         | analysis | status    | verdict                                     |
| ------------- | -------- | --------- | ------------------------------------------- |
| read works    | allow    | agrees    | allow                                       |
| read works    | unknown  | settles   | allow (the probe decides)                   |
| read works    | deny     | disagrees | allow (the probe decides), finding KD704    |
| read denied   | deny     | agrees    | deny (KD705 when AWS points elsewhere)      |
| read denied   | unknown  | settles   | deny (the probe decides)                    |
| read denied   | allow    | disagrees | deny (the probe decides), finding KD703     |
| not decisive  | any      | partial   | the analysis's, or unknown when a partial   |
|               |          |           | answer contradicts it (HEAD allowed while   |
|               |          |           | the analysis shuts the S3 half)             |

Writes are never probed (kmsdoctor does no PutObject): the read-only calls are explained, the
verdict stays the analysis's. DescribeKey never decides anything: denied cross-account is common
and says nothing about Decrypt. A direct Decrypt (`--probe-decrypt`) is not the S3 path: when the
statements that let the caller decrypt through S3 test `kms:ViaService`, its denial is expected.

CloudTrail lookups (`--cloudtrail`) are evidence, never the verdict: the events are recent, not
necessarily of this request. A denial in the key owner's trail (A) means the key policy, in the
caller's trail (B) the caller's identity policy (reference 002); when that contradicts the shut
KMS lock, finding KD709 says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import (
    DENY_STATUSES,
    LockResult,
    PrincipalDiagnosis,
    Verdict,
    verdict_of_locks,
)
from kmsdoctor.explain import explain_message
from kmsdoctor.snapshot import ProbeCall

Meaning = Literal["allowed", "denied", "missing", "key_state", "inconclusive", "not_run"]
Half = Literal["s3", "kms"]
Status = Literal["agrees", "settles", "disagrees", "partial"]
DisagreementKind = Literal["denied_allowed", "allowed_denied", "other_lock"]

DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException", "403", "Forbidden"}
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket", "NotFoundException"})
# What S3 answers when KMS refused for the key's sake, not a policy's (and KMS's own names).
KEY_STATE_CODES = frozenset(
    {
        "KMS.DisabledException",
        "KMS.KMSInvalidStateException",
        "KMS.NotFoundException",
        "KMS.InvalidKeyUsageException",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
    }
)
# Condition keys that only a request made through another service carries.
VIA_SERVICE_KEYS = frozenset(
    {
        "kms:viaservice",
        "aws:calledvia",
        "aws:calledviafirst",
        "aws:calledvialast",
        "aws:viaawsservice",
    }
)
# The lock a half's denial most likely sits in when AWS does not say.
HALF_LOCK: dict[str, str] = {"s3": "bucket_policy", "kms": "key_policy"}
HALF_WORDS: dict[str, str] = {"s3": "S3 half", "kms": "KMS half"}
# AWS names one lock; the analysis may shut a neighbour that means the same denial.
SAME_DENIAL: dict[str, frozenset[str]] = {
    "key_policy": frozenset({"key_policy", "key_state"}),  # aws/s3: its key policy is fixed
    "bucket_policy": frozenset({"bucket_policy", "object"}),  # another owner's object
    "key_state": frozenset({"key_state"}),
}


@dataclass(frozen=True)
class Answer:
    """One probe call, read: what it means, and what AWS's message names."""

    call: ProbeCall
    meaning: Meaning
    action: str | None = None  # the action AWS's message names (not the one the call implies)
    lock: str | None = None  # the lock or ceiling AWS's message names, None when not said
    deny_type: str | None = None

    @property
    def word(self) -> str:
        return {
            "allowed": "allowed",
            "denied": "denied",
            "missing": "not found",
            "key_state": "refused by KMS (key state)",
            "inconclusive": f"failed ({self.call.error_code})",
            "not_run": "not run",
        }[self.meaning]


@dataclass(frozen=True)
class Disagreement:
    kind: DisagreementKind
    lock: str  # the lock the finding is reported on
    detail: str


@dataclass
class ProbeReading:
    """One call and the sentence saying what it proves here."""

    call: ProbeCall
    meaning: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.call.operation,
            "outcome": self.call.outcome,
            "error_code": self.call.error_code,
            "error_message": self.call.error_message,
            "http_status": self.call.http_status,
            "detail": self.call.detail,
            "meaning": self.meaning,
        }


@dataclass
class Reconciliation:
    principal: str
    status: Status
    summary: str  # "probe agrees: GET denied, HEAD allowed → KMS half, as the analysis found"
    verdict: Verdict | None  # set when the probe decides the verdict; None: the locks decide
    readings: list[ProbeReading] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    unseen_layers: list[str] = field(default_factory=list)  # what could explain a difference
    # Evidence findings (see rules/probe.py): expected ViaService denial, DescribeKey denied, ...
    via_service_denial: str | None = None
    via_service_lock: str = "key_policy"
    describe_key_denied: str | None = None
    kms_half_evidence: str | None = None  # HEAD allowed, GET denied
    kms_half_lock: str = "key_policy"  # the lock AWS's message names, if it names one
    s3_half_evidence_lock: str = "bucket_policy"
    s3_half_evidence: str | None = None  # HEAD and GET denied
    assume_failure: str | None = None
    cloudtrail: list[dict[str, Any]] = field(default_factory=list)
    cloudtrail_contradiction: Disagreement | None = None
    # KMS refused the direct Decrypt for the key's state (KD710): what it said, and the step.
    decrypt_key_state: str | None = None
    decrypt_key_state_step: str = ""
    lock_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "summary": self.summary,
            "verdict": self.verdict,
            "calls": [r.to_dict() for r in self.readings],
            "unseen_layers": list(self.unseen_layers),
            "cloudtrail": list(self.cloudtrail),
        }


# --- reading one call ---------------------------------------------------------------------------


def read_answer(call: ProbeCall | None) -> Answer | None:
    if call is None:
        return None
    if call.outcome == "ok":
        return Answer(call, "allowed")
    if call.outcome == "skipped":
        return Answer(call, "not_run")
    code = call.error_code or ""
    operation = call.operation.split(":", 1)[-1]
    envelope = f"An error occurred ({code}) when calling the {operation} operation: "
    explained = explain_message(envelope + (call.error_message or ""))
    # The action only counts when the message itself names it, not when it comes from the call.
    named_action = explain_message(call.error_message or "").action
    lock = explained.lock if explained.lock != "unknown" else None
    if code in KEY_STATE_CODES and call.operation == "s3:GetObject":
        meaning: Meaning = "key_state"
        lock = "key_state"
    elif code in DENIED_CODES:
        meaning = "denied"
    elif code in MISSING_CODES:
        meaning = "missing"
    elif code in KEY_STATE_CODES:
        meaning = "key_state"
        lock = "key_state"
    else:
        meaning = "inconclusive"
    return Answer(call, meaning, named_action, lock, explained.deny_type)


def probes_of(ev: PrincipalEvaluation) -> list[ProbeCall]:
    return [c for c in ev.ctx.snapshot.probes if c.principal_arn == ev.ctx.principal.arn]


# --- the analysis side --------------------------------------------------------------------------


def shut_halves(locks: dict[str, LockResult]) -> dict[str, list[str]]:
    """{half: shut locks} from each shut lock's denied requests."""
    halves: dict[str, list[str]] = {}
    for name, lock in locks.items():
        if lock.status not in DENY_STATUSES:
            continue
        found: set[str] = set()
        for request in lock.evidence.requests or []:
            decision = request.decision or lock.status
            action = request.action
            if decision in DENY_STATUSES and ":" in action:
                found.add("kms" if action.startswith("kms:") else "s3")
        if not found:
            found.add("kms" if name in ("key_policy", "key_state") else "s3")
        for half in sorted(found):
            halves.setdefault(half, []).append(name)
    return halves


def via_service_statement(ev: PrincipalEvaluation) -> tuple[str, str] | None:
    """When every statement that lets the caller decrypt through S3 (in the key policy or in the
    identity policy) tests a via-service key, a direct Decrypt is denied by design: returns that
    statement, described, and its lock."""
    if ev.matching_grants("kms"):
        return None  # a grant lets the grantee call KMS directly
    for layer in ("resource", "identity"):
        allows = [
            trace
            for result in ev.results("kms", layer)
            for trace in result.statements
            if trace.effect == "Allow" and trace.applies
        ]
        if not allows:
            continue
        gated = [
            (trace, condition)
            for trace in allows
            for condition in trace.conditions
            if condition.key.lower() in VIA_SERVICE_KEYS
        ]
        if len({id(trace) for trace, _ in gated}) == len(allows):
            trace, condition = gated[0]
            values = ", ".join(condition.policy_values)
            text = f'statement "{trace.label}" of {trace.policy_name} ({condition.key} {values})'
            return text, "key_policy" if layer == "resource" else "identity"
    return None


def unseen_layers(ev: PrincipalEvaluation, half: str | None) -> list[str]:
    """Layers the analysis could not see (or had to assume) that could explain a difference."""
    ctx = ev.ctx
    locks = ev.locks
    layers: list[str] = []
    for name in ("scp", "rcp", "permissions_boundary", "session_policy", "vpc_endpoint"):
        lock = locks.get(name)
        if lock is None or lock.status != "unknown":
            continue
        if name == "vpc_endpoint" and half == "kms":
            continue  # endpoint policies take part only in the S3 request
        layers.append(f"{name}: {first_sentence(lock.reason)}")
    if half in (None, "s3"):
        layers.append(
            "vpc_endpoint: the probe ran from this machine's network, which may reach S3 through "
            "another VPC endpoint (or none) than the workload"
        )
        ownership = ctx.snapshot.source.bucket.ownership_controls
        if not (ownership.is_ok and ownership.value == "BucketOwnerEnforced"):
            layers.append("object ACLs: with ACLs enabled, an object's ACL can allow or deny alone")
    if half in (None, "kms"):
        if ev.grants_unknown_reason:
            layers.append(f"grants: {ev.grants_unknown_reason}")
        layers.append(
            "key_state: the key's state as KMS sees it at call time (disabled, pending deletion "
            "or in another Region; moto, for one, never refuses a disabled key)"
        )
    for assumption in ctx.assumptions:
        layers.append(f"assumed value: {assumption}")
    return layers


# --- the reconciliation -------------------------------------------------------------------------


def reconcile(ev: PrincipalEvaluation) -> Reconciliation | None:
    """Compare the probe calls of this principal with its locks; None when nothing was probed."""
    calls = probes_of(ev)
    if not calls:
        return None
    by_operation: dict[str, ProbeCall] = {}
    for call in calls:
        if call.operation != "cloudtrail:LookupEvents":
            by_operation[call.operation] = call
    lookups = [c for c in calls if c.operation == "cloudtrail:LookupEvents"]

    analysed = verdict_of_locks(ev.locks)
    shut = shut_halves(ev.locks)
    rec = Reconciliation(ev.ctx.principal.arn, "partial", "", None)

    assume = by_operation.get("sts:AssumeRole")
    if assume is not None and assume.outcome == "error":
        rec.assume_failure = (
            f"sts:AssumeRole into {ev.ctx.principal.arn} failed with {assume.error_code}: "
            f"{assume.error_message or '(no message)'}"
        )
    if by_operation:
        if ev.ctx.operation == "write":
            _reconcile_write(ev, by_operation, rec)
        else:
            _reconcile_read(ev, by_operation, rec, analysed, shut)
    if lookups:
        _reconcile_cloudtrail(ev, lookups, rec, shut)
        if not by_operation:
            rec.summary = "no call was made as the caller; CloudTrail lookups only"
    return rec


def _reconcile_write(
    ev: PrincipalEvaluation, by_operation: dict[str, ProbeCall], rec: Reconciliation
) -> None:
    rec.status = "partial"
    rec.summary = (
        "partial: the write itself is not probed (kmsdoctor never calls PutObject); the "
        "read-only calls below do not decide a write, so the verdict rests on the policies"
    )
    for operation, call in by_operation.items():
        answer = read_answer(call)
        assert answer is not None
        rec.readings.append(ProbeReading(call, _write_meaning(operation, answer)))
    _describe_key_evidence(by_operation, rec)


def _write_meaning(operation: str, answer: Answer) -> str:
    if operation == "s3:HeadObject":
        return (
            f"HEAD {answer.word}: HEAD needs s3:GetObject, a write needs s3:PutObject, so this "
            "says nothing about the write"
        )
    if operation == "s3:PutObject":
        return "not probed: kmsdoctor is read-only"
    return _general_meaning(operation, answer)


def _general_meaning(operation: str, answer: Answer) -> str:
    call = answer.call
    if answer.meaning == "not_run":
        return call.detail or "not run"
    if operation == "sts:GetCallerIdentity":
        return call.detail if answer.meaning == "allowed" else "the caller's identity failed"
    if operation == "kms:DescribeKey":
        if answer.meaning == "allowed":
            return call.detail or "the caller can see the key"
        if answer.meaning == "denied":
            return (
                "DescribeKey denied: common cross-account (key policies often grant only "
                "kms:Decrypt); it says nothing about Decrypt"
            )
        return f"DescribeKey {answer.word}"
    if operation == "sts:AssumeRole":
        return call.detail or "the role could not be assumed"
    return f"{operation} {answer.word}"


def _describe_key_evidence(by_operation: dict[str, ProbeCall], rec: Reconciliation) -> None:
    answer = read_answer(by_operation.get("kms:DescribeKey"))
    if answer is not None and answer.meaning == "denied":
        rec.describe_key_denied = (
            f"kms:DescribeKey answered {answer.call.error_code}: "
            f"{answer.call.error_message or '(no message)'}"
        )


def _reconcile_read(
    ev: PrincipalEvaluation,
    by_operation: dict[str, ProbeCall],
    rec: Reconciliation,
    analysed: Verdict,
    shut: dict[str, list[str]],
) -> None:
    get = read_answer(by_operation.get("s3:GetObject"))
    head = read_answer(by_operation.get("s3:HeadObject"))
    decrypt = read_answer(by_operation.get("kms:Decrypt"))
    via = via_service_statement(ev)
    via_service = via[0] if via else None

    state, half, decider = _read_state(get, head)
    seen = _probe_phrase(get, head, half)

    if state == "works":
        _read_works(ev, rec, analysed, shut, seen)
    elif state == "denied":
        assert decider is not None
        _read_denied(ev, rec, analysed, shut, seen, half, decider)
    else:
        _read_undecided(ev, rec, analysed, shut, seen, head)

    if get is not None and head is not None and get.meaning != "allowed":
        if head.meaning == "allowed" and half == "kms":
            rec.kms_half_lock = get.lock or "key_policy"
            rec.kms_half_evidence = (
                f"s3:HeadObject succeeded and s3:GetObject answered {get.call.error_code}: "
                f"{get.call.error_message or '(no message)'}. HEAD needs the same s3:GetObject "
                "permission but no KMS call, so the S3 half lets the caller through and the "
                "denial is in the KMS half"
            )
        elif head.meaning == "denied" and half == "s3":
            rec.s3_half_evidence_lock = get.lock or "bucket_policy"
            rec.s3_half_evidence = (
                f"s3:HeadObject answered {head.call.error_code} and s3:GetObject answered "
                f"{get.call.error_code}: {get.call.error_message or '(no message)'}. S3 refused "
                "before KMS was asked"
            )
    _describe_key_evidence(by_operation, rec)
    if decrypt is not None:
        _reconcile_decrypt(ev, rec, decrypt, shut, via, state)

    for operation, call in by_operation.items():
        answer = read_answer(call)
        assert answer is not None
        meaning = _read_meaning(operation, answer, half, state, via_service)
        rec.readings.append(ProbeReading(call, meaning))
    _compare_key_state(ev, by_operation.get("kms:DescribeKey"), rec)


def _compare_key_state(
    ev: PrincipalEvaluation, describe: ProbeCall | None, rec: Reconciliation
) -> None:
    """The key's state as the caller's DescribeKey saw it, against what the collector read."""
    seen_now = describe.facts.get("key_state") if describe is not None else None
    key = ev.ctx.key
    if not seen_now or key is None or not key.metadata.is_ok or key.metadata.value is None:
        return
    collected = key.metadata.value.key_state
    if seen_now == collected:
        return
    sentence = (
        f"DescribeKey as the caller reports the key {seen_now}; the collector read {collected}"
    )
    for reading in rec.readings:
        if reading.call is describe:
            reading.meaning += f" — {sentence}"
    rec.unseen_layers = _merge(rec.unseen_layers, [f"key_state: {sentence}"])


def _read_state(
    get: Answer | None, head: Answer | None
) -> tuple[Literal["works", "denied", "undecided"], str | None, Answer | None]:
    """(does the read work, in which half was it denied, the answer that decided)."""
    if get is not None and get.meaning == "allowed":
        return "works", None, get
    if get is not None and get.meaning in ("denied", "missing", "key_state"):
        return "denied", _half_of(get, head), get
    if head is not None and head.meaning in ("denied", "missing"):
        return "denied", "s3", head  # HEAD needs the same s3:GetObject: the GET fails too
    return "undecided", None, None


def _half_of(get: Answer, head: Answer | None) -> str | None:
    if get.meaning == "key_state":
        return "kms"
    if get.meaning == "missing":
        return "s3"
    if get.action:
        return "kms" if get.action.startswith("kms:") else "s3"
    if head is not None and head.meaning == "allowed":
        return "kms"
    if head is not None and head.meaning in ("denied", "missing"):
        return "s3"
    return None


def _probe_phrase(get: Answer | None, head: Answer | None, half: str | None) -> str:
    parts = []
    if get is not None:
        parts.append(f"GET {get.word}")
    if head is not None:
        parts.append(f"HEAD {head.word}")
    text = ", ".join(parts) or "no HEAD or GET"
    if half is not None:
        text += f" → {HALF_WORDS[half]}"
    return text


def _analysis_phrase(analysed: Verdict, shut: dict[str, list[str]]) -> str:
    if analysed == "allow":
        return "the analysis found every needed lock open"
    if analysed == "unknown":
        return "the analysis could not decide"
    parts = [f"{HALF_WORDS[half]} ({', '.join(locks)})" for half, locks in sorted(shut.items())]
    return "the analysis found the " + " and the ".join(parts) + " shut"


def _read_works(
    ev: PrincipalEvaluation,
    rec: Reconciliation,
    analysed: Verdict,
    shut: dict[str, list[str]],
    seen: str,
) -> None:
    if analysed == "allow":
        rec.status = "agrees"
        rec.summary = f"probe agrees: {seen} → the read works, as the analysis found"
        return
    rec.verdict = "allow"
    if analysed == "unknown":
        rec.status = "settles"
        rec.summary = (
            f"probe settles it: {seen} → the read works, which the analysis could not decide"
        )
        return
    rec.status = "disagrees"
    rec.summary = (
        f"probe disagrees: {seen} → the read works, but {_analysis_phrase(analysed, shut)}; "
        "the probe decides: allow"
    )
    for half, locks in sorted(shut.items()):
        for lock in locks:
            rec.disagreements.append(
                Disagreement(
                    "allowed_denied",
                    lock,
                    f"The one-byte GET as {ev.ctx.principal.arn} succeeded, but the analysis "
                    f"found {lock} shut ({ev.locks[lock].reason}).",
                )
            )
        rec.unseen_layers = _merge(rec.unseen_layers, unseen_layers(ev, half))


def _read_denied(
    ev: PrincipalEvaluation,
    rec: Reconciliation,
    analysed: Verdict,
    shut: dict[str, list[str]],
    seen: str,
    half: str | None,
    decider: Answer,
) -> None:
    call = decider.call
    aws_said = (
        f"{call.operation} answered {call.error_code}: {call.error_message or '(no message)'}"
    )
    named = decider.lock
    names = f"; AWS names the {named} lock" if named else ""
    if analysed == "deny":
        rec.status = "agrees"
        shut_locks = [lock for locks in shut.values() for lock in locks]
        same_half = half is None or half in shut
        named_shut = named is None or any(
            lock in SAME_DENIAL.get(named, frozenset({named})) for lock in shut_locks
        )
        if same_half and named_shut:
            rec.summary = f"probe agrees: {seen}{names}, as the analysis found"
            return
        rec.status = "disagrees"
        lock = named or HALF_LOCK.get(half or "", "object")
        rec.summary = (
            f"probe disagrees on the lock: {seen}{names}, but {_analysis_phrase(analysed, shut)}; "
            "both say denied"
        )
        rec.disagreements.append(
            Disagreement(
                "other_lock",
                lock,
                f"{aws_said}. The analysis found {', '.join(shut_locks)} shut; AWS's answer "
                f"points at the {HALF_WORDS.get(half or '', 'other')} ({lock}).",
            )
        )
        rec.unseen_layers = _merge(rec.unseen_layers, unseen_layers(ev, half))
        return

    rec.verdict = "deny"
    if analysed == "unknown":
        rec.status = "settles"
        rec.summary = f"probe settles it: {seen}{names} → the read is denied"
        return
    rec.status = "disagrees"
    lock = named or HALF_LOCK.get(half or "", "object")
    explained = ""
    if named and named in ev.locks and ev.locks[named].status == "unknown":
        explained = (
            f" The analysis could not read that layer, which explains the difference: "
            f"{first_sentence(ev.locks[named].reason)}."
        )
    rec.summary = (
        f"probe disagrees: {seen}{names}, but {_analysis_phrase(analysed, shut)}; the probe "
        "decides: deny"
    )
    rec.disagreements.append(
        Disagreement(
            "denied_allowed",
            lock,
            f"{aws_said}. The analysis found every needed lock open.{explained}",
        )
    )
    rec.unseen_layers = _merge(rec.unseen_layers, unseen_layers(ev, half))


def _read_undecided(
    ev: PrincipalEvaluation,
    rec: Reconciliation,
    analysed: Verdict,
    shut: dict[str, list[str]],
    seen: str,
    head: Answer | None,
) -> None:
    rec.status = "partial"
    rec.summary = (
        f"partial: {seen}; the probe does not decide the read, so the verdict rests on the policies"
    )
    if head is not None and head.meaning == "allowed" and "s3" in shut:
        # The S3 half let the caller through, yet the analysis shuts it; no GET to decide.
        rec.status = "disagrees"
        rec.verdict = "unknown"
        rec.summary = (
            f"probe disagrees: {seen} → the S3 half lets the caller through, but "
            f"{_analysis_phrase(analysed, shut)}; without a GET the probe cannot decide: unknown"
        )
        for lock in shut["s3"]:
            rec.disagreements.append(
                Disagreement(
                    "allowed_denied",
                    lock,
                    f"s3:HeadObject as {ev.ctx.principal.arn} succeeded (it needs s3:GetObject), "
                    f"but the analysis found {lock} shut for the S3 request.",
                )
            )
        rec.unseen_layers = _merge(rec.unseen_layers, unseen_layers(ev, "s3"))


def _reconcile_decrypt(
    ev: PrincipalEvaluation,
    rec: Reconciliation,
    decrypt: Answer,
    shut: dict[str, list[str]],
    via: tuple[str, str] | None,
    read_state: str,
) -> None:
    if decrypt.meaning == "key_state":
        _decrypt_key_state(ev, rec, decrypt, read_state)
        return
    if decrypt.meaning == "denied" and via and "kms" not in shut:
        rec.via_service_lock = via[1]
        rec.via_service_denial = (
            f"kms:Decrypt answered {decrypt.call.error_code}: "
            f"{decrypt.call.error_message or '(no message)'}. The caller is allowed to decrypt "
            f"only through S3 by {via[0]}; a direct call has no kms:ViaService, so this denial "
            "is expected and says nothing about reads through S3"
        )
        return
    if read_state == "works":
        return  # the read through S3 decided; a direct call's difference is in its meaning
    if decrypt.meaning == "allowed" and "kms" in shut:
        for lock in shut["kms"]:
            rec.disagreements.append(
                Disagreement(
                    "allowed_denied",
                    lock,
                    "A direct kms:Decrypt of A's test value under the S3 encryption context "
                    f"succeeded, but the analysis found {lock} shut for kms:Decrypt. A direct "
                    "call is not the S3 path (no kms:ViaService), so a condition on it can "
                    "explain this.",
                )
            )
    elif decrypt.meaning == "denied" and "kms" not in shut:
        lock = decrypt.lock or "key_policy"
        rec.disagreements.append(
            Disagreement(
                "denied_allowed",
                lock,
                f"kms:Decrypt answered {decrypt.call.error_code}: "
                f"{decrypt.call.error_message or '(no message)'}. The analysis allows the "
                "caller's Decrypt through S3 and found no kms:ViaService condition that would "
                "deny a direct call.",
            )
        )
    else:
        return
    if rec.status in ("agrees", "partial"):
        rec.status = "disagrees"
        if rec.verdict is None and read_state == "undecided":
            rec.verdict = "unknown"
        rec.summary += "; the direct Decrypt disagrees with the analysis"
    rec.unseen_layers = _merge(rec.unseen_layers, unseen_layers(ev, "kms"))


KEY_STATE_WORDS: dict[str, str] = {
    "DisabledException": "disabled",
    "KMS.DisabledException": "disabled",
    "NotFoundException": "not found",
    "KMS.NotFoundException": "not found",
    "InvalidKeyUsageException": "not usable for decryption",
    "KMS.InvalidKeyUsageException": "not usable for decryption",
}


def key_state_word(code: str, message: str) -> str:
    """What KMS's refusal says about the key: disabled, pending deletion, pending import, …"""
    if code in KEY_STATE_WORDS:
        return KEY_STATE_WORDS[code]
    text = message.lower().replace("_", " ")
    if "pendingdeletion" in text.replace(" ", "") or "pending deletion" in text:
        return "pending deletion"
    if "pendingimport" in text.replace(" ", "") or "pending import" in text:
        return "pending import"
    if "unavailable" in text:
        return "unavailable"
    return "in a state that cannot be used"


def _key_state_step(ev: PrincipalEvaluation, state: str) -> str:
    key = ev.ctx.key_arn or (ev.ctx.key.reference if ev.ctx.key else "KEY_ARN")
    if state == "pending deletion":
        return (
            f"In A, cancel the deletion and enable the key again: aws kms cancel-key-deletion "
            f"--key-id {key}, then aws kms enable-key --key-id {key} (steps, not run by kmsdoctor)."
        )
    if state == "disabled":
        return f"In A, enable the key: aws kms enable-key --key-id {key} (not run by kmsdoctor)."
    if state == "pending import":
        return (
            "In A, import the key material (aws kms get-parameters-for-import, then "
            "import-key-material); until then KMS refuses every use of the key."
        )
    return f"In A, check the key's state (aws kms describe-key --key-id {key}) and resolve it."


def _decrypt_key_state(
    ev: PrincipalEvaluation, rec: Reconciliation, decrypt: Answer, read_state: str
) -> None:
    """KMS refused the caller's direct Decrypt for the key's state: this reaches the key_state
    lock (evidence and KD710) whatever the GET did; the verdict follows docs/probe.md."""
    call = decrypt.call
    state = key_state_word(call.error_code or "", call.error_message or "")
    key_lock = ev.locks.get("key_state")
    analysed_shut = key_lock is not None and key_lock.status in DENY_STATUSES
    said = (
        f"kms:Decrypt as {ev.ctx.principal.arn} answered {call.error_code}: "
        f"{call.error_message or '(no message)'}. KMS refuses the key itself ({state}), "
        "whatever the policies say"
    )
    collected = _collected_key_state(ev)
    if read_state == "works":
        said += "; the GET through S3 worked, so reads work today"
        if state == "pending deletion":
            deletion = _deletion_date(ev)
            said += f" and stop when the key is deleted{deletion}"
        rec.summary += f"; but a direct Decrypt says the key is {state}"
        if not analysed_shut and rec.status == "agrees":
            rec.status = "disagrees"
            rec.summary = rec.summary.replace("probe agrees", "probe agrees on the read", 1)
    elif read_state == "denied":
        rec.summary += f"; a direct Decrypt says the key is {state}"
    elif analysed_shut:
        rec.summary += f"; a direct Decrypt says the key is {state}, as the analysis found"
    else:
        rec.status = "disagrees"
        rec.verdict = "unknown"
        was = f" (the collector read it {collected})" if collected else ""
        rec.summary = (
            f"probe disagrees: a direct Decrypt says the key is {state}{was}, and no decisive GET "
            "settles the read: unknown"
        )
        said += (
            f"; the collector read the key {collected or 'as usable'}, and without a decisive GET "
            "neither answer can be trusted alone, so the verdict is unknown"
        )
    rec.decrypt_key_state = said + "."
    rec.decrypt_key_state_step = _key_state_step(ev, state)
    rec.lock_evidence.setdefault("key_state", {})["probe_decrypt"] = said
    rec.unseen_layers = _merge(
        rec.unseen_layers, [f"key_state: KMS answered the direct Decrypt: the key is {state}"]
    )


def _collected_key_state(ev: PrincipalEvaluation) -> str | None:
    key = ev.ctx.key
    if key is None or not key.metadata.is_ok or key.metadata.value is None:
        return None
    return key.metadata.value.key_state


def _deletion_date(ev: PrincipalEvaluation) -> str:
    key = ev.ctx.key
    if key is None or not key.metadata.is_ok or key.metadata.value is None:
        return ""
    date = key.metadata.value.deletion_date
    return f" on {date}" if date else ""


def _read_meaning(
    operation: str, answer: Answer, half: str | None, state: str, via_service: str | None
) -> str:
    call = answer.call
    if answer.meaning == "not_run":
        return call.detail or "not run"
    if operation == "s3:HeadObject":
        if answer.meaning == "allowed":
            return "the S3 half lets the caller through (HEAD needs s3:GetObject, calls no KMS)"
        if answer.meaning == "denied":
            return "the S3 half refuses the caller (HEAD needs s3:GetObject)"
        return f"HEAD {answer.word}"
    if operation == "s3:GetObject":
        if answer.meaning == "allowed":
            return f"the read works ({call.detail or 'one byte read and discarded'})"
        where = f" in the {HALF_WORDS[half]}" if half else ""
        said = f"; AWS's message names the {answer.lock} lock" if answer.lock else ""
        return f"the read is {answer.word}{where}{said}"
    if operation == "kms:Decrypt":
        if answer.meaning == "allowed":
            return call.detail or "the caller can decrypt with the key directly"
        if answer.meaning == "denied" and via_service:
            return (
                f"denied, as expected: {via_service} allows the caller only through S3; this "
                "says nothing about reads through S3"
            )
        if answer.meaning == "denied" and state == "works":
            return (
                "a direct Decrypt is denied, but the read through S3 works: a condition that "
                "only the S3 path meets (kms:ViaService, aws:ViaAWSService) explains it"
            )
        if answer.meaning == "key_state":
            state = key_state_word(call.error_code or "", call.error_message or "")
            return f"KMS refuses the key itself: it is {state} (KD710)"
        said = f"; AWS's message names the {answer.lock} lock" if answer.lock else ""
        return f"a direct Decrypt is {answer.word}{said}"
    return _general_meaning(operation, answer)


# --- CloudTrail ---------------------------------------------------------------------------------


def _reconcile_cloudtrail(
    ev: PrincipalEvaluation,
    lookups: list[ProbeCall],
    rec: Reconciliation,
    shut: dict[str, list[str]],
) -> None:
    """Which account's trail recorded recent denials, against the KMS lock the analysis shut."""
    found_in: dict[str, ProbeCall] = {}
    for lookup in lookups:
        facts = lookup.facts
        side = facts.get("trail_side", "")
        entry: dict[str, Any] = {
            "account": facts.get("trail_account", ""),
            "trail": "A (key owner)" if side == "source" else "B (caller)",
            "outcome": lookup.outcome,
            "denied_events": int(facts.get("denied_events", "0") or 0),
            "detail": lookup.detail,
        }
        if lookup.outcome == "error":
            entry["error"] = f"{lookup.error_code}: {lookup.error_message or '(no message)'}"
        if facts.get("latest_event_id"):
            entry["latest"] = {
                "event_id": facts.get("latest_event_id"),
                "event_time": facts.get("latest_event_time"),
                "error_code": facts.get("latest_error_code"),
                "error_message": facts.get("latest_error_message"),
            }
        rec.cloudtrail.append(entry)
        if lookup.outcome == "ok" and entry["denied_events"] > 0:
            found_in[side] = lookup

    kms_shut = set(shut.get("kms", []))
    expected: set[str] = set()
    if "key_policy" in kms_shut:
        expected.add("source")
    if "identity" in kms_shut:
        expected.add("target")
    for side, lookup in found_in.items():
        lock = "key_policy" if side == "source" else "identity"
        rec.lock_evidence.setdefault(lock, {})["cloudtrail_lookup"] = lookup.detail
    if not found_in or not expected or set(found_in) & expected:
        return
    side = next(iter(sorted(found_in)))
    lookup = found_in[side]
    trail_lock = "key_policy" if side == "source" else "identity"
    who = "the key owner's (A)" if side == "source" else "the caller's (B)"
    message = lookup.facts.get("latest_error_message", "")
    rec.cloudtrail_contradiction = Disagreement(
        "other_lock",
        trail_lock,
        f"{lookup.detail}. A denial recorded in {who} trail points at the {trail_lock} lock, "
        f"but the analysis found {', '.join(sorted(kms_shut))} shut for the KMS request"
        + (f'. The latest event\'s message: "{message}"' if message else "")
        + ". The events are recent, not necessarily of this request: compare their time with the "
        "failing read.",
    )


# --- applying it ----------------------------------------------------------------------------------


def apply_reconciliation(diagnosis: PrincipalDiagnosis, rec: Reconciliation | None) -> None:
    """Put the reconciliation on the principal's diagnosis: the verdict the probe decided (if
    any), the JSON-ready record, and the evidence it adds to locks. Lock statuses stay as
    analysed: the probe says what AWS answered, the locks say what the policies say."""
    if rec is None:
        return
    diagnosis.probe_verdict = rec.verdict
    diagnosis.probe = rec.to_dict()
    for lock, evidence in rec.lock_evidence.items():
        if lock not in diagnosis.locks:
            continue
        if "cloudtrail_lookup" in evidence:
            diagnosis.locks[lock].evidence.cloudtrail_lookup = evidence["cloudtrail_lookup"]
        if "probe_decrypt" in evidence:
            diagnosis.locks[lock].evidence.probe_decrypt = evidence["probe_decrypt"]
    for disagreement in rec.disagreements:
        lock_result = diagnosis.locks.get(disagreement.lock)
        if lock_result is not None:
            lock_result.evidence.probe.append(disagreement.detail)


def first_sentence(text: str) -> str:
    """A lock reason's first sentence (reasons go on with advice the lock panel already shows)."""
    head, _, _ = text.partition(". ")
    return head.rstrip(".")


def _merge(first: list[str], second: list[str]) -> list[str]:
    merged = list(first)
    for item in second:
        if item not in merged:
            merged.append(item)
    return merged
