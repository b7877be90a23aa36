"""`run_probes`: the real calls, made as each principal, concurrently.

    target profile ─┬─ (per --role-arn) AssumeRole ─> GetCallerIdentity | DescribeKey | HeadObject
                    │                                | GetObject (1 byte) ─> Decrypt (opt-in)
    source profile ─┴─ Encrypt a random value (opt-in) ──────────────────────┘

Each principal runs in its own worker, its four calls at once; A's Encrypt runs alongside and
the Decrypt waits only for it. A probe costs about its longest chain, however many principals.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmsdoctor.aws import AwsCallFailed, assume_role, session_for
from kmsdoctor.collect.fetch import parallel
from kmsdoctor.probe.calls import (
    describe_key,
    get_one_byte,
    head_object,
    skipped,
    who_am_i,
    write_not_probed,
)
from kmsdoctor.probe.decrypt import SealedValue, decrypt_as_caller, seal_random_value
from kmsdoctor.probe.target import ProbePrincipal, ProbeTarget, probe_principals, probe_target
from kmsdoctor.snapshot import CallError, ProbeCall, Snapshot

if TYPE_CHECKING:
    from kmsdoctor.collect import CollectRequest

PROBE_SESSION_NAME = "kmsdoctor-probe"  # shows in CloudTrail as the session of each probe call
_MAX_PRINCIPAL_WORKERS = 8


@dataclass(frozen=True)
class ProbeOptions:
    decrypt: bool = False  # --probe-decrypt: the kms:Decrypt round trip


Sealed = SealedValue | CallError | str


def run_probes(
    request: CollectRequest, snapshot: Snapshot, options: ProbeOptions
) -> list[ProbeCall]:
    """Probe as every principal of the snapshot; the calls in a stable order per principal."""
    target = probe_target(snapshot)
    principals = probe_principals(snapshot)
    if not principals:
        return []
    caller_session = session_for(request.target_profile, snapshot.request.region)
    source_session = (
        session_for(request.source_profile, snapshot.request.region) if options.decrypt else None
    )
    with ThreadPoolExecutor(max_workers=min(len(principals), _MAX_PRINCIPAL_WORKERS) + 1) as pool:
        sealed_f: Future[Sealed] | None = (
            pool.submit(seal_random_value, source_session, target)
            if source_session is not None
            else None
        )
        futures = [
            pool.submit(_probe_one, caller_session, principal, target, sealed_f, snapshot)
            for principal in principals
        ]
        calls: list[ProbeCall] = []
        for future in futures:
            calls.extend(future.result())
    return calls


def _probe_one(
    caller_session: Any,
    principal: ProbePrincipal,
    target: ProbeTarget,
    sealed_f: Future[Sealed] | None,
    snapshot: Snapshot,
) -> list[ProbeCall]:
    region = snapshot.request.region
    session = caller_session
    if principal.assume:
        try:
            session = assume_role(caller_session, principal.arn, PROBE_SESSION_NAME)
        except AwsCallFailed as failed:
            return _could_not_assume(principal, failed.error, target, sealed_f is not None)

    thunks = [
        lambda: who_am_i(session, principal.arn, region),
        lambda: describe_key(session, principal.arn, target),
        lambda: head_object(session, principal.arn, target),
    ]
    if target.operation == "read":
        thunks.append(lambda: get_one_byte(session, principal.arn, target))
    calls: list[ProbeCall] = parallel(*thunks)
    if target.operation == "write":
        calls.append(write_not_probed(principal.arn))
    if sealed_f is not None:
        calls.append(
            decrypt_as_caller(session, principal.arn, sealed_f.result(), target.key_region)
        )
    return calls


def _could_not_assume(
    principal: ProbePrincipal, error: CallError, target: ProbeTarget, decrypt: bool
) -> list[ProbeCall]:
    """The AssumeRole failure, then every planned call as skipped, so a replay shows the gap."""
    assume = ProbeCall(
        principal_arn=principal.arn,
        operation="sts:AssumeRole",
        outcome="error",
        error_code=error.code,
        error_message=error.message,
        detail="the target profile could not assume this role, so nothing was probed as it",
    )
    planned = ["sts:GetCallerIdentity", "kms:DescribeKey", "s3:HeadObject"]
    if target.operation == "read":
        planned.append("s3:GetObject")
    if decrypt:
        planned.append("kms:Decrypt")
    why = f"not run: sts:AssumeRole into {principal.arn} failed with {error.code}"
    return [assume, *(skipped(principal.arn, operation, why) for operation in planned)]
