"""`kmsdoctor diagnose`: collect → probe → analyze, in one call.

Collection is the planner's (`collect_facts` on the shorthand's plan), the analysis the one API
(`analyze_snapshot`); the probe reads the question's view of the snapshot.

The probe stage (`kmsdoctor.probe`) makes the real calls as the caller — GetCallerIdentity,
DescribeKey, HeadObject, a one-byte GetObject, and with `--probe-decrypt` a Decrypt round trip —
and `--cloudtrail` looks up recent denied KMS events in both accounts. Both only append
`ProbeCall`s to `snapshot.probes`; the analysis reconciles them with the policies, so the same
diagnosis comes out of `analyze` on a saved snapshot.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmsdoctor.concurrency import worker_pool
from kmsdoctor.snapshot import ProbeCall, Snapshot, SnapshotView

if TYPE_CHECKING:  # the collectors import boto3; keep it out of `import kmsdoctor.diagnose`
    from kmsdoctor.analyze.model import Diagnosis
    from kmsdoctor.analyze.whatif import WhatIf
    from kmsdoctor.collect import CollectRequest
    from kmsdoctor.probe.callers import ProbeCallers


@dataclass(frozen=True)
class DiagnoseOptions:
    probe: bool = True  # make the real calls as the caller (--no-probe turns it off)
    probe_decrypt: bool = False  # also a kms:Decrypt round trip (A encrypts a random value)
    cloudtrail: bool = False  # look up recent denied KMS events in A's and B's trails
    what_if: WhatIf | None = None  # proposed policies, put in place after collection


def _run_probes(
    request: CollectRequest,
    snapshot: Snapshot | SnapshotView,
    options: DiagnoseOptions,
    prepared: Future[ProbeCallers] | None = None,
) -> tuple[list[ProbeCall], list[str]]:
    """The probe stage: the calls as the caller and the CloudTrail lookup, side by side (they
    depend only on the snapshot). `prepared`: the probe's sessions and clients, made while the
    snapshot was collected. Returns the recorded calls and notes for the reader."""
    notes: list[str] = []
    if not options.probe:
        if options.probe_decrypt:
            notes.append("--probe-decrypt was ignored: --no-probe makes no call as the caller")
        if not options.cloudtrail:
            return [], notes
    from kmsdoctor.probe import ProbeOptions, lookup_denials, run_probes

    probe_options = ProbeOptions(options.probe_decrypt, prepared)
    with worker_pool(2) as pool:
        probe_f = (
            pool.submit(run_probes, request, snapshot, probe_options) if options.probe else None
        )
        trail_f = pool.submit(lookup_denials, request, snapshot) if options.cloudtrail else None
        calls = [
            *(probe_f.result() if probe_f else []),
            *(trail_f.result() if trail_f else []),
        ]
    return calls, notes


def run_diagnosis(request: CollectRequest, options: DiagnoseOptions) -> Diagnosis:
    """Collect both accounts' configuration for `request`, probe as the caller, and analyse."""
    return run_diagnosis_with_snapshot(request, options)[1]


def run_diagnosis_with_snapshot(
    request: CollectRequest, options: DiagnoseOptions
) -> tuple[Snapshot, Diagnosis]:
    """`run_diagnosis`, also returning the snapshot it analysed (the report names the request
    from it: the Region the calls were made in, the principals checked)."""
    # collect_snapshot: collect_facts on the shorthand's plan (boto3 only when diagnosing)
    from kmsdoctor.collect import collect_snapshot
    from kmsdoctor.probe.callers import prepare_callers

    with worker_pool(1) as pool:
        # Who the probe calls as (sessions, clients, AssumeRole) depends on nothing collected:
        # made while the snapshot is collected. The probe calls still wait for the snapshot.
        prepared = (
            pool.submit(prepare_callers, request, options.probe_decrypt) if options.probe else None
        )
        snapshot = collect_snapshot(request)
    calls, notes = _run_probes(request, snapshot, options, prepared)
    snapshot.probes.extend(calls)
    from kmsdoctor.analyze import analyze_snapshot

    if options.what_if is not None:
        from kmsdoctor.analyze.whatif import apply_what_if

        snapshot, what_if_notes = apply_what_if(snapshot, options.what_if)
        notes = [*what_if_notes, *notes]

    diagnosis = analyze_snapshot(snapshot)
    diagnosis.notes.extend(notes)
    return snapshot, diagnosis
