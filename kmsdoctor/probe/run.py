"""`run_probes`: the real calls, made as each principal, concurrently.

    target profile ─┬─ (per --role-arn) AssumeRole ─> GetCallerIdentity | DescribeKey | HeadObject
                    │                                | GetObject (1 byte) ─> Decrypt (opt-in)
    source profile ─┴─ Encrypt a random value (opt-in) ──────────────────────┘

The sessions, clients and AssumeRoles come from `prepare_callers` (`kmsdoctor diagnose` makes
them while collecting; see `ProbeOptions.prepared`). Each principal runs in its own worker, its
four calls at once; A's Encrypt runs alongside and the Decrypt waits only for it. A probe costs
about its longest chain, however many principals.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kmsdoctor.collect.fetch import parallel
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.probe.callers import (
    MAX_PRINCIPAL_WORKERS,
    Clients,
    ProbeCallers,
    prepare_callers,
)
from kmsdoctor.probe.calls import (
    describe_key,
    get_one_byte,
    head_object,
    skipped,
    who_am_i,
    write_not_probed,
)
from kmsdoctor.probe.decrypt import SealedValue, decrypt_as_caller, seal_random_value
from kmsdoctor.probe.subject import ProbePrincipal, ProbeSubject, probe_principals, probe_subject
from kmsdoctor.snapshot import CallError, ProbeCall, Snapshot, SnapshotView

if TYPE_CHECKING:
    from kmsdoctor.collect import CollectRequest


@dataclass(frozen=True)
class ProbeOptions:
    decrypt: bool = False  # --probe-decrypt: the kms:Decrypt round trip
    # `prepare_callers(request, decrypt)` started before the snapshot was ready; None: the
    # probe makes its sessions and clients itself.
    prepared: Future[ProbeCallers] | None = field(default=None, compare=False)


Sealed = SealedValue | CallError | str


def run_probes(
    request: CollectRequest, snapshot: Snapshot | SnapshotView, options: ProbeOptions
) -> list[ProbeCall]:
    """Probe as every principal of the snapshot; the calls in a stable order per principal.
    A schema v2 snapshot is probed through its combined view (the shorthand's object)."""
    if isinstance(snapshot, Snapshot):
        snapshot = snapshot.combined_view()
    subject = probe_subject(snapshot)
    principals = probe_principals(snapshot)
    if not principals:
        return []
    callers = _callers(request, snapshot, options)
    with worker_pool(min(len(principals), MAX_PRINCIPAL_WORKERS) + 1) as pool:
        sealed_f: Future[Sealed] | None = (
            pool.submit(seal_random_value, callers.source, subject)
            if callers.source is not None
            else None
        )
        futures = [
            pool.submit(
                _probe_one, callers.as_principal(principal), principal, subject, sealed_f, snapshot
            )
            for principal in principals
        ]
        calls: list[ProbeCall] = []
        for future in futures:
            calls.extend(future.result())
    return calls


def _callers(
    request: CollectRequest, snapshot: SnapshotView, options: ProbeOptions
) -> ProbeCallers:
    """The prepared callers when they were made for the snapshot's Region; else made now."""
    region = snapshot.request.region
    if options.prepared is not None:
        prepared = options.prepared.result()
        if prepared.region == region and prepared.covers(probe_principals(snapshot)):
            return prepared
    return prepare_callers(request, options.decrypt, region)


def _probe_one(
    clients: Clients | CallError,
    principal: ProbePrincipal,
    subject: ProbeSubject,
    sealed_f: Future[Sealed] | None,
    snapshot: SnapshotView,
) -> list[ProbeCall]:
    if isinstance(clients, CallError):  # the target profile could not assume this role
        return _could_not_assume(principal, clients, subject, sealed_f is not None)
    region = snapshot.request.region
    thunks = [
        lambda: who_am_i(clients, principal.arn, region),
        lambda: describe_key(clients, principal.arn, subject),
        lambda: head_object(clients, principal.arn, subject),
    ]
    if subject.operation == "read":
        thunks.append(lambda: get_one_byte(clients, principal.arn, subject))
    calls: list[ProbeCall] = parallel(*thunks)
    if subject.operation == "write":
        calls.append(write_not_probed(principal.arn))
    if sealed_f is not None:
        calls.append(
            decrypt_as_caller(clients, principal.arn, sealed_f.result(), subject.key_region)
        )
    return calls


def _could_not_assume(
    principal: ProbePrincipal, error: CallError, subject: ProbeSubject, decrypt: bool
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
    if subject.operation == "read":
        planned.append("s3:GetObject")
    if decrypt:
        planned.append("kms:Decrypt")
    why = f"not run: sts:AssumeRole into {principal.arn} failed with {error.code}"
    return [assume, *(skipped(principal.arn, operation, why) for operation in planned)]
