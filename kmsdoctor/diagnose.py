"""`kmsdoctor diagnose`: collect → (probe) → analyze, in one call.

The probe stage (calls made as the caller: HeadObject, a one-byte GetObject, DescribeKey, an
optional Decrypt round trip) comes in a later version. Its hook is `_run_probes`: it receives the
snapshot and returns it with `snapshot.probes` filled. Until then no probe is run, and the
diagnosis says so instead of pretending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmsdoctor.analyze import analyze_snapshot
from kmsdoctor.analyze.model import Diagnosis
from kmsdoctor.snapshot import Snapshot

if TYPE_CHECKING:  # the collectors import boto3; keep it out of `import kmsdoctor.diagnose`
    from kmsdoctor.collect import CollectRequest


@dataclass(frozen=True)
class DiagnoseOptions:
    probe: bool = True  # make the real calls as the caller (not implemented yet)
    probe_decrypt: bool = False  # also a kms:Decrypt round trip (not implemented yet)
    cloudtrail: bool = False  # look up recent denied events (not implemented yet)


def _run_probes(snapshot: Snapshot, options: DiagnoseOptions) -> tuple[Snapshot, list[str]]:
    """The probe hook: returns the snapshot (with `probes` filled once probing exists) and notes.

    Today it runs nothing. It must never invent probe results: an empty `probes` list is the
    honest answer, and the note tells the reader the verdict rests on the policies alone.
    """
    notes: list[str] = []
    if options.probe:
        notes.append(
            "no probe was run: probing as the caller is not implemented in this version, so the "
            "verdict rests on the collected policies alone"
        )
    if options.probe_decrypt:
        notes.append("--probe-decrypt was ignored: probing is not implemented in this version")
    return snapshot, notes


def run_diagnosis(request: CollectRequest, options: DiagnoseOptions) -> Diagnosis:
    """Collect both accounts' configuration for `request` and analyse it."""
    from kmsdoctor.collect import collect_snapshot  # boto3 is imported only when diagnosing

    snapshot = collect_snapshot(request)
    snapshot, probe_notes = _run_probes(snapshot, options)
    diagnosis = analyze_snapshot(snapshot)
    diagnosis.notes.extend(probe_notes)
    if options.cloudtrail:
        diagnosis.notes.append(
            "--cloudtrail: looking up events is not implemented in this version; each shut lock's "
            "evidence says which account's trail records the denial and how to look it up"
        )
    return diagnosis
