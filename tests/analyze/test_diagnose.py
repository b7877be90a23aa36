"""`run_diagnosis`: collect → (probe hook) → analyze, with honest notes about what did not run."""

from __future__ import annotations

from kmsdoctor import diagnose as diagnose_module
from kmsdoctor.diagnose import DiagnoseOptions, run_diagnosis
from kmsdoctor.snapshot import ProbeCall
from tests.analyze.factories import ROLE_ARN, make_snapshot


def _patch_collect(monkeypatch, snapshot):
    import kmsdoctor.collect

    seen = []

    def fake_collect(request):
        seen.append(request)
        return snapshot

    monkeypatch.setattr(kmsdoctor.collect, "collect_snapshot", fake_collect)
    return seen


def test_probe_requested_but_not_implemented_is_said_not_faked(monkeypatch):
    snapshot = make_snapshot()
    seen = _patch_collect(monkeypatch, snapshot)
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=True))
    assert seen == ["request"]
    assert snapshot.probes == []
    assert any(note.startswith("no probe was run") for note in diagnosis.notes)
    assert diagnosis.verdict == "allow"


def test_no_probe_adds_no_probe_note(monkeypatch):
    _patch_collect(monkeypatch, make_snapshot())
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=False))
    assert not any("probe" in note for note in diagnosis.notes)


def test_cloudtrail_option_says_lookup_is_not_implemented(monkeypatch):
    _patch_collect(monkeypatch, make_snapshot())
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=False, cloudtrail=True))
    assert any(note.startswith("--cloudtrail") for note in diagnosis.notes)


def test_probe_results_in_a_snapshot_are_reported_as_not_reconciled(monkeypatch):
    snapshot = make_snapshot()
    snapshot.probes = [ProbeCall(principal_arn=ROLE_ARN, operation="s3:HeadObject", outcome="ok")]
    _patch_collect(monkeypatch, snapshot)
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=False))
    assert any("does not reconcile probes" in note for note in diagnosis.notes)


def test_the_probe_hook_is_the_one_place_probes_will_run():
    snapshot = make_snapshot()
    returned, notes = diagnose_module._run_probes(snapshot, DiagnoseOptions(probe=True))
    assert returned is snapshot
    assert len(notes) == 1
