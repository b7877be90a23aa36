"""One small evaluator per lock, ceiling and configuration check of the lock catalogue.

Each reads a `PrincipalEvaluation` (the engine's decisions plus what the snapshot could and could
not read) and returns a `LockResult` with typed evidence (evidence.py). Which engine layer decides
a lock and which requests it covers come from `kmsdoctor.lock_catalogue`; the five ceilings are
one `CeilingLock` class with five data instances. The rules that explain *why* a lock is shut
live in `rules/`; here we only decide the status and give the deciding evidence.

Status mapping from an engine layer decision:

- layer does not take part (no boundary, not in an organization) → `not_applicable`
- `allow` / `explicit_deny` → the same
- `implicit_deny` → `implicit_deny`, unless the authorization as a whole is allowed (a same-account
  bucket policy that says nothing, an identity policy not needed because a grant opens the key):
  then the layer was not needed and the status is `not_applicable`
- any policy of the layer unreadable → `unknown`, except that a known explicit Deny still decides
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.evaluation import PolicyLayer, PrincipalEvaluation
from kmsdoctor.analyze.evidence import (
    ConditionEvidence,
    GrantEvidence,
    KeyEvidence,
    LockEvidence,
    ObjectEvidence,
    RequestEvidence,
    StatementEvidence,
)
from kmsdoctor.analyze.model import LockName, LockResult, LockStatus
from kmsdoctor.analyze.show_current import show_current
from kmsdoctor.arn import alias_name_of, is_alias_reference
from kmsdoctor.lock_catalogue import lock_spec
from kmsdoctor.policy import describe_statement
from kmsdoctor.policy.model import AccessDecision, Decision, PolicyResult, StatementTrace

# "Worst first" when one lock covers several requests (identity covers S3 and KMS).
_STATUS_RANK: dict[str, int] = {
    "explicit_deny": 4,
    "implicit_deny": 3,
    "unknown": 2,
    "allow": 1,
    "not_applicable": 0,
}

# How many statements of evidence to keep per request; the rest are counted.
MAX_EVIDENCE_STATEMENTS = 5


def worst_status(statuses: list[LockStatus]) -> LockStatus:
    worst: LockStatus = "not_applicable"
    for status in statuses:
        if _STATUS_RANK[status] > _STATUS_RANK[worst]:
            worst = status
    return worst


# --- evidence --------------------------------------------------------------------------------


def condition_evidence(trace: StatementTrace) -> list[ConditionEvidence]:
    conditions = []
    for condition in trace.conditions:
        conditions.append(
            ConditionEvidence(
                operator=condition.operator,
                key=condition.key,
                policy_values=list(condition.policy_values),
                request_values=(
                    list(condition.request_values) if condition.request_values is not None else None
                ),
                matched=condition.matched,
            )
        )
    return conditions


def statement_evidence(trace: StatementTrace) -> StatementEvidence:
    return StatementEvidence(
        policy=trace.policy_name,
        statement=trace.label,
        effect=trace.effect,
        applies=trace.applies,
        summary=describe_statement(trace),
        conditions=condition_evidence(trace),
    )


def relevant_statements(
    results: tuple[PolicyResult, ...], decision: Decision
) -> list[StatementTrace]:
    """The statements worth showing for a layer decision.

    Allowed or explicitly denied: the statements that decided — only those of the policies
    whose own decision is the layer's (an explicit deny is the Deny statements, never another
    policy's Allow). Implicitly denied: the near misses — Allow statements whose action
    matched, so the reader sees what almost worked.
    """
    shown: list[StatementTrace] = []
    for result in results:
        if decision is Decision.IMPLICIT_DENY:
            for trace in result.statements:
                if trace.effect == "Allow" and trace.action_matched:
                    shown.append(trace)
        elif result.decision is decision:
            shown.extend(result.deciding)
    # Closest first: statements that name the caller (a condition or the resource failed) before
    # those about someone else, such as the key policy's statement for A's own root.
    shown.sort(key=lambda t: (t.principal_matched is False, not t.resource_matched))
    return shown


def closest_miss(trace: StatementTrace) -> str:
    """Why an Allow statement whose action matched still did not apply, in a few words."""
    if not trace.resource_matched:
        return "resource did not match"
    if trace.principal_matched is False:
        return "principal did not match"
    failed = [c for c in trace.conditions if not c.matched]
    if failed:
        parts = []
        for condition in failed:
            request = (
                "absent"
                if condition.request_values is None
                else ", ".join(condition.request_values)
            )
            wanted = ", ".join(condition.policy_values)
            parts.append(
                f"{condition.operator} {condition.key} wants {wanted}, request has {request}"
            )
        return "; ".join(parts)
    return "did not apply"


# --- the generic policy-layer evaluator -------------------------------------------------------


@dataclass
class _RequestOutcome:
    status: LockStatus
    sentence: str
    evidence: RequestEvidence


def undecided_condition(statements: Iterable[StatementTrace], undecided: Mapping[str, str]) -> str:
    """Why a statement that would take part tests a context key whose value is not known (tags
    that could not be read), or "" when none does. `undecided` maps a lower-case key prefix
    ("aws:principaltag/") to the reason its values are not known."""
    for statement in statements:
        if not statement.action_matched or not statement.resource_matched:
            continue
        if statement.principal_matched is False:
            continue
        for condition in statement.conditions:
            written = condition.key.lower()
            for prefix, reason in undecided.items():
                if written.startswith(prefix):
                    return (
                        f"{statement.label} in {statement.policy_name} tests {condition.key}, "
                        f"but {reason}"
                    )
    return ""


def _layer_outcome(
    decision: AccessDecision,
    engine_layer: str,
    action: str,
    resource: str,
    what: str,
    undecided: Mapping[str, str],
) -> _RequestOutcome:
    layer = decision.layers.get(engine_layer)
    if layer is None or layer.decision is None:
        reason = (
            layer.reason if layer is not None and layer.reason else f"{what} does not take part"
        )
        return _RequestOutcome(
            "not_applicable",
            f"{action}: {reason}",
            RequestEvidence(action, resource, decision="not_applicable"),
        )

    shown = relevant_statements(layer.results, layer.decision)
    evidence = RequestEvidence(
        action,
        resource,
        statements=[statement_evidence(t) for t in shown[:MAX_EVIDENCE_STATEMENTS]],
        more_statements=max(0, len(shown) - MAX_EVIDENCE_STATEMENTS),
    )

    if layer.decision is Decision.ALLOW:
        first = shown[0] if shown else None
        by = f" by {first.label} in {first.policy_name}" if first else ""
        evidence.decision = "allow"
        return _RequestOutcome("allow", f"{action} on {resource} is allowed{by}", evidence)
    if undecided:
        denies = [
            t for r in layer.results for t in r.statements if t.effect == "Deny" and t.applies
        ]
        # A Deny that applies without testing an unknown value decides whatever the value is.
        firm_deny = any(not undecided_condition([t], undecided) for t in denies)
        why = (
            ""
            if firm_deny
            else undecided_condition([t for r in layer.results for t in r.statements], undecided)
        )
        if why:
            evidence.decision = "unknown"
            return _RequestOutcome("unknown", f"{action} on {resource}: {why}", evidence)
    if layer.decision is Decision.EXPLICIT_DENY:
        first = shown[0] if shown else None
        by = f" by {first.label} in {first.policy_name}" if first else ""
        evidence.decision = "explicit_deny"
        return _RequestOutcome(
            "explicit_deny", f"{action} on {resource} is explicitly denied{by}", evidence
        )

    if decision.decision is Decision.ALLOW:
        evidence.decision = "not_applicable"
        return _RequestOutcome(
            "not_applicable",
            f"{action}: {what} does not allow it, but the request is allowed without it",
            evidence,
        )
    evidence.decision = "implicit_deny"
    sentence = f"{action} on {resource}: no statement in {what} allows it"
    if shown and shown[0].principal_matched is not False:
        closest = shown[0]
        sentence += (
            f" (closest: {closest.label} in {closest.policy_name} — {closest_miss(closest)})"
        )
    return _RequestOutcome("implicit_deny", sentence, evidence)


def evaluate_policy_layer(
    ev: PrincipalEvaluation,
    lock: LockName,
    layer: PolicyLayer,
    what: str,
    unknown_note: Callable[[], str] | str = "",
) -> LockResult:
    """A lock decided by one policy layer, over the requests the catalogue says it decides."""
    if not layer.takes_part:
        return LockResult("not_applicable", layer.not_part_reason)

    spec = lock_spec(lock)
    engine_layer = spec.policy_layer or ""
    outcomes: list[_RequestOutcome] = []
    for name in spec.requests:
        auth = ev.ctx.authorization(name)
        decision = ev.decision(name)
        if auth is None or decision is None or not auth.required:
            continue
        outcomes.append(
            _layer_outcome(decision, engine_layer, auth.action, auth.resource, what, auth.undecided)
        )

    status = worst_status([o.status for o in outcomes])
    evidence = LockEvidence(requests=[o.evidence for o in outcomes])
    if layer.is_unknown and status != "explicit_deny":
        reason = "; ".join(layer.unknown_reasons)
        # The note (with its show commands) is only worded when it is said: a callable.
        note = unknown_note() if callable(unknown_note) else unknown_note
        if note:
            reason += f". {note}"
        return LockResult("unknown", reason, evidence)

    deciding = [o.sentence for o in outcomes if o.status == status]
    reason = "; ".join(deciding) if deciding else f"{what} does not take part"
    return LockResult(status, reason, evidence)


# --- the locks -------------------------------------------------------------------------------


class Lock:
    name: ClassVar[LockName]

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        raise NotImplementedError


class IdentityLock(Lock):
    """Caller account: may the caller ask for the S3 action on the object and the KMS action on
    the key?"""

    name = "identity"

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        layer = ev.policies.identity
        if not layer.takes_part:
            # The role or user itself is gone: nothing in the caller account can allow anything.
            return LockResult("implicit_deny", layer.not_part_reason)
        return evaluate_policy_layer(
            ev, self.name, layer, f"the identity policies of {ev.ctx.entity_name}"
        )


class BucketPolicyLock(Lock):
    """Resource account: does the bucket policy let this principal do the S3 action?"""

    name = "bucket_policy"

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        ctx = ev.ctx
        layer = ev.policies.bucket_policy
        if not layer.takes_part:
            if ctx.cross_account:
                return LockResult(
                    "implicit_deny",
                    f"{layer.not_part_reason}: a caller in another account needs a bucket policy "
                    f"that allows {ctx.s3_action}",
                    LockEvidence(requests=[RequestEvidence(ctx.s3_action, ctx.object_arn)]),
                )
            return LockResult(
                "not_applicable",
                f"{layer.not_part_reason}; the caller is in the bucket's account, so its "
                "identity policy is enough",
            )
        return evaluate_policy_layer(
            ev, self.name, layer, f"the bucket policy of {ctx.bucket_name}"
        )


class KeyPolicyLock(Lock):
    """Resource account: does the key policy (or a grant) let this principal use the key?"""

    name = "key_policy"

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        ctx = ev.ctx
        if not ctx.kms_involved:
            return LockResult("not_applicable", no_kms_reason(ctx))
        if not ctx.key_arn:
            reference = ctx.key.reference if ctx.key else "(none)"
            return LockResult(
                "unknown",
                f"the key {reference} could not be resolved to a key ARN, so its policy cannot be "
                "checked",
            )
        layer = ev.policies.key_policy
        result = evaluate_policy_layer(ev, self.name, layer, "the key policy")
        grants = ev.matching_grants("kms")
        evidence = result.evidence
        evidence.grants = [
            GrantEvidence(
                grant_id=m.grant.grant_id,
                grantee=m.grant.grantee_principal,
                matches=m.matches,
                reason=m.reason,
            )
            for m in ev.grant_matches.get("kms", [])
        ]
        if result.status == "explicit_deny":
            return result
        key_policy_allows = any(
            trace.effect == "Allow" and trace.applies
            for policy_result in ev.results("kms", "resource")
            for trace in policy_result.statements
        )
        if grants and not key_policy_allows and result.status != "unknown":
            grant = grants[0]
            return LockResult(
                "allow",
                f"{ctx.kms_action} is allowed by grant {grant.grant_id} to "
                f"{grant.grantee_principal} (the key policy itself does not allow it)",
                evidence,
            )
        if result.status == "implicit_deny" and ev.grants_unknown_reason:
            return LockResult(
                "unknown",
                f"{result.reason}; a grant could still allow it, but {ev.grants_unknown_reason}",
                evidence,
            )
        return result


_CEILING_NOTE = (
    "{what} can only take permission away, so kmsdoctor does not let this alone make the verdict "
    "unknown; {how}"
)


@dataclass(frozen=True)
class CeilingLock(Lock):
    """SCPs, RCPs, the permissions boundary, the session policy and the S3 endpoint policies:
    one policy layer each that can only take permission away. They differ only in data: the
    catalogue gives each its engine layer, its requests and its show commands; here each has the
    words of its sentences."""

    name: LockName  # type: ignore[misc]  # an instance field here, a class constant elsewhere
    # "the SCPs over the caller account (222…)": the layer, in the lock's reason
    describe: Callable[[RequestContext], str]
    noun: str  # "SCPs": the subject of the note on an unreadable ceiling
    how: str  # how to look at it yourself; the catalogue's show commands follow

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        layer = ev.policies.by_lock()[self.name]
        if not layer.takes_part:
            return LockResult("not_applicable", layer.not_part_reason)

        def note() -> str:
            commands = show_current(ev.ctx, self.name)
            how = self.how + (": " + " and ".join(commands) if commands else "")
            return _CEILING_NOTE.format(what=self.noun, how=how)

        return evaluate_policy_layer(ev, self.name, layer, self.describe(ev.ctx), note)


SCP_LOCK = CeilingLock(
    name="scp",
    describe=lambda ctx: f"the SCPs over the caller account ({ctx.caller_account})",
    noun="SCPs",
    how="check them from the management account",
)
RCP_LOCK = CeilingLock(
    name="rcp",
    describe=lambda ctx: (
        f"the RCPs over the resource account ({ctx.resource_account or 'not known'})"
    ),
    noun="RCPs",
    how="check them from the management account",
)
PERMISSIONS_BOUNDARY_LOCK = CeilingLock(
    name="permissions_boundary",
    describe=lambda ctx: "the permissions boundary",
    noun="A permissions boundary",
    how="see it with",
)
SESSION_POLICY_LOCK = CeilingLock(
    name="session_policy",
    describe=lambda ctx: "the session policy",
    noun="A session policy",
    how=(
        "check the Policy/PolicyArns given to sts:AssumeRole by whatever made the session "
        "(requestParameters of its AssumeRole event)"
    ),
)
# Only the S3 request goes through the caller's endpoint; S3 itself calls KMS (the catalogue
# gives vpc_endpoint the s3 request alone).
VPC_ENDPOINT_LOCK = CeilingLock(
    name="vpc_endpoint",
    describe=lambda ctx: "the S3 endpoint policies",
    noun="An endpoint policy",
    how="list them with",
)


class KeyStateLock(Lock):
    """Configuration no policy shows: the key must exist, be enabled, shareable, in the Region."""

    name = "key_state"

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        ctx = ev.ctx
        if not ctx.kms_involved or ctx.key is None:
            return LockResult("not_applicable", no_kms_reason(ctx))
        key = ctx.key
        metadata_fetched = key.metadata
        key_evidence = KeyEvidence(reference=key.reference, found_on=key.found_on)
        evidence = LockEvidence(key=key_evidence)
        if metadata_fetched.status == "absent":
            where = ctx.region
            return LockResult(
                "implicit_deny",
                f"the key {key.reference} was not found in {where} ({metadata_fetched.reason()})",
                evidence,
            )
        if metadata_fetched.is_unknown or metadata_fetched.value is None:
            return LockResult(
                "unknown",
                f"the key's metadata could not be read ({metadata_fetched.reason()})",
                evidence,
            )
        metadata = metadata_fetched.value
        key_evidence.metadata_read = True
        key_evidence.key_arn = metadata.arn
        key_evidence.key_state = metadata.key_state
        key_evidence.key_manager = metadata.key_manager
        key_evidence.region = metadata.region
        if is_aws_managed(ev) and ctx.cross_account:
            return LockResult(
                "implicit_deny",
                f"{metadata.arn} is an AWS managed key (aws/s3): its key policy cannot be changed, "
                "so no other account can ever use it",
                evidence,
            )
        if metadata.region and metadata.region != ctx.region:
            return LockResult(
                "implicit_deny",
                f"the key is in {metadata.region} but the bucket is in {ctx.region}; S3 only "
                "uses keys in the bucket's Region",
                evidence,
            )
        if metadata.key_state == "PendingDeletion":
            when = f" (deletion on {metadata.deletion_date})" if metadata.deletion_date else ""
            return LockResult(
                "implicit_deny",
                f"the key is pending deletion{when}; KMS refuses every cryptographic operation",
                evidence,
            )
        if metadata.key_state != "Enabled" or not metadata.enabled:
            return LockResult(
                "implicit_deny",
                f"the key is {metadata.key_state}; KMS refuses cryptographic operations on it",
                evidence,
            )
        return LockResult(
            "allow",
            f"{metadata.arn} is an enabled customer managed key in {metadata.region}",
            evidence,
        )


class ObjectLock(Lock):
    """The object itself: present, encrypted the way we think, owned by the bucket owner."""

    name = "object"

    def evaluate(self, ev: PrincipalEvaluation) -> LockResult:
        ctx = ev.ctx
        snapshot = ctx.snapshot
        if ctx.operation == "write":
            return LockResult("not_applicable", "a write creates the object")
        fetched = snapshot.source.object
        if fetched is None:
            return LockResult(
                "not_applicable",
                f"no object key given; checked against the bucket default and {ctx.object_arn}",
            )
        if fetched.status == "absent":
            return LockResult(
                "implicit_deny",
                f"{ctx.object_arn} does not exist ({fetched.reason()}); a caller without "
                "s3:ListBucket sees AccessDenied instead of NoSuchKey",
                LockEvidence(object=ObjectEvidence(ctx.object_arn)),
            )
        if fetched.is_unknown or fetched.value is None:
            return LockResult("unknown", f"the object could not be read ({fetched.reason()})")
        obj = fetched.value
        evidence = LockEvidence(
            object=ObjectEvidence(
                object_arn=obj.arn,
                sse_algorithm=obj.sse_algorithm,
                kms_key_id=obj.kms_key_id,
                bucket_key_enabled=obj.bucket_key_enabled,
                head_read=True,
            )
        )
        other_owner = object_owned_by_other_account(ctx)
        if other_owner:
            return LockResult("implicit_deny", other_owner, evidence)
        if ctx.kms_involved:
            bucket_key = " with an S3 Bucket Key" if obj.bucket_key_enabled else ""
            reason = (
                f"the object exists, encrypted with {obj.sse_algorithm} under "
                f"{obj.kms_key_id}{bucket_key}"
            )
        else:
            algorithm = obj.sse_algorithm or "no server-side encryption"
            reason = f"the object exists, encrypted with {algorithm}: no KMS key is involved"
        return LockResult("allow", reason, evidence)


def object_owned_by_other_account(ctx: RequestContext) -> str | None:
    """A sentence when the object's owner is not the bucket owner and ACLs still decide."""
    bucket = ctx.snapshot.source.bucket
    obj = ctx.object_info
    if obj is None:
        return None
    ownership = bucket.ownership_controls.value if bucket.ownership_controls.is_ok else None
    if ownership == "BucketOwnerEnforced":
        return None  # ACLs are off: the bucket owner owns every object
    if not (obj.acl_owner_id.is_ok and bucket.acl_owner_id.is_ok):
        return None
    if obj.acl_owner_id.value == bucket.acl_owner_id.value:
        return None
    return (
        f"the object is owned by canonical user {obj.acl_owner_id.value}, not by the bucket owner "
        f"{bucket.acl_owner_id.value}; the bucket policy does not apply to objects the bucket "
        "owner does not own, so only the object's ACL could allow the read"
    )


def is_aws_managed(ev: PrincipalEvaluation) -> bool:
    """AWS managed by KeyManager, or by an aws/ alias (moto reports aws/s3 as CUSTOMER)."""
    key = ev.ctx.key
    if key is None:
        return False
    if (
        key.metadata.is_ok
        and key.metadata.value is not None
        and key.metadata.value.key_manager == "AWS"
    ):
        return True
    aliases = key.aliases.value if key.aliases.is_ok and key.aliases.value else []
    names = [alias_name_of(a) for a in aliases]
    if key.reference and is_alias_reference(key.reference):
        names.append(alias_name_of(key.reference))
    return any(name.startswith("alias/aws/") for name in names)


def no_kms_reason(ctx: RequestContext) -> str:
    """Why no KMS key takes part (SSE-S3, no encryption, no key identified)."""
    return ctx.s3_request.no_key_reason


# One evaluator per lock of the catalogue, in its order (a test keeps them in step).
ALL_LOCKS: tuple[Lock, ...] = (
    IdentityLock(),
    BucketPolicyLock(),
    KeyPolicyLock(),
    SCP_LOCK,
    RCP_LOCK,
    PERMISSIONS_BOUNDARY_LOCK,
    SESSION_POLICY_LOCK,
    VPC_ENDPOINT_LOCK,
    KeyStateLock(),
    ObjectLock(),
)


def evaluate_locks(ev: PrincipalEvaluation) -> dict[str, LockResult]:
    results: dict[str, LockResult] = {}
    for lock in ALL_LOCKS:
        results[lock.name] = lock.evaluate(ev)
    return results
