"""The text report, whole, for the incidents an on-call engineer meets: compared line for line
with the golden files in tests/report/golden/, at 80 and 100 columns.

A change of the report shows up here as a diff to review. After an intended change, rewrite the
files and read the diff before committing it:

    make golden        # = KMSDOCTOR_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kmsdoctor.analyze.model import Diagnosis
from kmsdoctor.report import request_of
from kmsdoctor.report.fix_files import write_fix_files
from kmsdoctor.report.text_report import print_text
from tests.analyze.factories import diagnose, make_principal, make_snapshot, unknown
from tests.report import incidents

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KMSDOCTOR_UPDATE_GOLDEN") == "1"
WIDTHS = (80, 100)

Rendered = Callable[[int], str]


def render(snapshot, diagnosis: Diagnosis | None = None, fix_files=()) -> Rendered:
    diagnosis = diagnosis or diagnose(snapshot)

    def at(width: int) -> str:
        stream = io.StringIO()
        print_text(
            diagnosis, stream, request=request_of(snapshot), fix_files=fix_files, width=width
        )
        return stream.getvalue()

    return at


def key_policy_missing_the_role(_: Path) -> Rendered:
    """The BI incident: the key policy trusts only A's root."""
    return render(incidents.key_policy_missing_the_role())


def healthy_cross_account_read(_: Path) -> Rendered:
    return render(make_snapshot())


def no_key_given(_: Path) -> Rendered:
    """`--bucket` without `--key`: only the bucket default can be checked."""
    return render(make_snapshot(object_key=None))


def pipeline_execution_role_shut_out(_: Path) -> Rendered:
    snapshot, _arns = incidents.pipeline_with_the_execution_role_shut_out()
    return render(snapshot)


def identity_policies_unreadable(_: Path) -> Rendered:
    principal = make_principal(inline=unknown("iam:ListRolePolicies"))
    return render(make_snapshot(principals=[principal]))


def proven_fix_written_to_fix_dir(workdir: Path) -> Rendered:
    """KD301 with the whole patched key policy, written by --fix-dir fixes/."""
    snapshot = incidents.key_policy_missing_the_role()
    diagnosis = diagnose(snapshot)
    incidents.prove_the_key_policy_fix(diagnosis)
    written = write_fix_files(diagnosis, Path("fixes"))  # relative: the test runs in workdir
    assert (workdir / "fixes" / "key-policy.json").exists()
    return render(snapshot, diagnosis, written)


SCENARIOS = [
    key_policy_missing_the_role,
    healthy_cross_account_read,
    no_key_given,
    pipeline_execution_role_shut_out,
    identity_policies_unreadable,
    proven_fix_written_to_fix_dir,
]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_the_text_report_matches_its_golden_file(scenario, width, tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)
    text = scenario(tmp_path)(width)
    golden = GOLDEN / f"{scenario.__name__.replace('_', '-')}.{width}.txt"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}: run `make golden`"
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, f"{golden.name} differs: if intended, run `make golden`"
