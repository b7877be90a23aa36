"""`run_diagnosis`: collect → probe stage → analyze; the stage's calls reach the analysis."""

from __future__ import annotations

from kmsdoctor import diagnose as diagnose_module
from kmsdoctor.diagnose import DiagnoseOptions, run_diagnosis
from kmsdoctor.snapshot import ProbeCall, Snapshot
from tests.analyze.factories import ROLE_ARN, make_snapshot


def _patch_collect(monkeypatch, snapshot):
    import kmsdoctor.collect

    seen = []

    def fake_collect(request):
        seen.append(request)
        return Snapshot.from_view(snapshot)  # the same facts (and probe list) as schema v2

    monkeypatch.setattr(kmsdoctor.collect, "collect_snapshot", fake_collect)
    return seen


def _patch_probe(monkeypatch, calls=(), trail=()):
    """Replace the AWS-facing probe stage with canned ProbeCalls; record what it was asked."""
    import kmsdoctor.probe

    asked = []

    def fake_run_probes(request, snapshot, options):
        asked.append(("probe", options.decrypt))
        return list(calls)

    def fake_lookup(request, snapshot):
        asked.append(("cloudtrail", None))
        return list(trail)

    monkeypatch.setattr(kmsdoctor.probe, "run_probes", fake_run_probes)
    monkeypatch.setattr(kmsdoctor.probe, "lookup_denials", fake_lookup)
    return asked


def test_probe_stage_appends_its_calls_and_the_analysis_reconciles_them(monkeypatch):
    snapshot = make_snapshot()
    seen = _patch_collect(monkeypatch, snapshot)
    get = ProbeCall(principal_arn=ROLE_ARN, operation="s3:GetObject", outcome="ok")
    asked = _patch_probe(monkeypatch, calls=[get])
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=True, probe_decrypt=True))
    assert seen == ["request"]
    assert asked == [("probe", True)]
    assert snapshot.probes == [get]
    assert diagnosis.principals[0].probe["status"] == "agrees"
    assert diagnosis.verdict == "allow"


def test_no_probe_runs_no_probe_stage(monkeypatch):
    snapshot = make_snapshot()
    _patch_collect(monkeypatch, snapshot)
    asked = _patch_probe(monkeypatch)
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=False, probe_decrypt=True))
    assert asked == []
    assert snapshot.probes == []
    assert diagnosis.principals[0].probe is None
    assert any("--probe-decrypt was ignored" in note for note in diagnosis.notes)


def test_cloudtrail_option_runs_the_lookup_even_without_probe(monkeypatch):
    _patch_collect(monkeypatch, make_snapshot())
    asked = _patch_probe(monkeypatch)
    run_diagnosis("request", DiagnoseOptions(probe=False, cloudtrail=True))
    assert asked == [("cloudtrail", None)]


def test_probe_results_in_a_snapshot_are_reconciled_not_ignored(monkeypatch):
    snapshot = make_snapshot()
    snapshot.probes = [ProbeCall(principal_arn=ROLE_ARN, operation="s3:HeadObject", outcome="ok")]
    _patch_collect(monkeypatch, snapshot)
    diagnosis = run_diagnosis("request", DiagnoseOptions(probe=False))
    assert not any("does not reconcile" in note for note in diagnosis.notes)
    assert diagnosis.principals[0].probe["status"] == "partial"


def test_the_probe_hook_returns_nothing_when_nothing_is_asked():
    calls, notes = diagnose_module._run_probes("request", make_snapshot(), DiagnoseOptions(False))
    assert (calls, notes) == ([], [])
