"""`kmsdoctor check` through the real CLI against moto: a data lake with several roles in B,
two keys in A, and a sales/ prefix where one object was left under the finance key — the
incident a smoke test exists to catch before the BI dashboards go blank."""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from typer.testing import CliRunner

from kmsdoctor.cli import app
from tests.helpers.sandbox_roles import add_role

# `kmsdoctor check` runs on the fact store (issue 10); until it is in the build, nothing here can
# run. Who-can's account listing (issue 11) decides who "every other principal" is.
pytest.importorskip("kmsdoctor.collect.plan", reason="the fact store (collect/plan.py) is needed")
LISTING = importlib.util.find_spec("kmsdoctor.collect.account_principals") is not None

A = "111111111111"
B = "222222222222"
SCENARIO = "check-datalake-several-roles"


def role(name: str) -> str:
    return f"arn:aws:iam::{B}:role/{name}"


LAKE_CHECKS = f"""\
region = "eu-west-1"

[accounts]
"{A}" = "a"
"{B}" = "b"

[[expect]]
name = "BI reads the sales prefix"
principal = "{role("BIAnalyticsRole")}"
bucket = "datalake-curated-a"
prefix = "sales/"
access = "allow"

[[expect]]
name = "ETL cannot read the ledger"
principal = "{role("EtlRole")}"
bucket = "datalake-curated-a"
key = "finance/ledger/2026-q1.parquet"
access = "deny"

[[expect]]
name = "pipeline writes its artifacts"
principal = "{role("PipelineRole")}"
bucket = "datalake-curated-a"
prefix = "artifacts/"
operation = "write"
access = "allow"

[[expect]]
name = "only BI reads q1"
bucket = "datalake-curated-a"
key = "sales/2026/q1.parquet"
readers = ["{role("BIAnalyticsRole")}"]
"""


def run_check(tmp_path, *extra: str, checks: str = LAKE_CHECKS):
    path = tmp_path / "lake.toml"
    path.write_text(checks, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path), *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result, str(path)


def by_name(document):
    found: dict[str, list[dict]] = {}
    for result in document["results"]:
        found.setdefault(result["name"], []).append(result)
    return found


def test_the_object_left_under_the_finance_key_fails_and_the_rest_pass(sandbox, tmp_path):
    sandbox(SCENARIO)
    result, _ = run_check(tmp_path, "--no-probe", "--format", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    results = by_name(document)

    sales = results["BI reads the sales prefix"]
    assert [(r["status"], r["objects"]) for r in sales] == [("fail", 1), ("pass", 3)]
    assert sales[0]["example_keys"] == ["sales/2026/restated.parquet"]
    assert sales[0]["locks_shut"] == ["key_policy"]
    assert "KD301" in [f["code"] for f in sales[0]["findings"]]
    assert sales[1]["example_keys"] == [
        "sales/2026/q1.parquet",
        "sales/2026/q2.parquet",
        "sales/2026/q3.parquet",
    ]

    (ledger,) = results["ETL cannot read the ledger"]
    assert (ledger["status"], ledger["verdict"]) == ("pass", "deny")

    (artifacts,) = results["pipeline writes its artifacts"]
    assert (artifacts["status"], artifacts["operation"], artifacts["objects"]) == (
        "pass",
        "write",
        1,
    )

    # ETL and the pipeline can read q1 too: two unexpected readers. FinanceRole and AuditRole
    # cannot: folded into one passing result (without who-can's listing, only the principals
    # the file names are compared, and the result says so).
    q1 = results["only BI reads q1: EtlRole"] + results["only BI reads q1: PipelineRole"]
    assert [(r["expected"], r["verdict"], r["status"]) for r in q1] == [
        ("deny", "allow", "fail"),
        ("deny", "allow", "fail"),
    ]
    (bi,) = results["only BI reads q1: BIAnalyticsRole"]
    assert bi["status"] == "pass"
    (others,) = results["only BI reads q1: every other principal"]
    assert (others["principal"], others["status"]) == (None, "pass")
    if LISTING:
        assert others["principals"] == 2
    else:
        assert others["principals"] == 0
        assert any(
            n.startswith("only the principals this check file names") for n in others["notes"]
        )
    assert document["summary"] == {"pass": 5, "fail": 3, "unknown": 0}


def test_text_report_puts_failures_first_with_lock_code_and_fix(sandbox, tmp_path):
    sandbox(SCENARIO)
    result, path = run_check(tmp_path, "--no-probe")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert len(failures) == 3
    assert lines[0].startswith(f"FAIL  {path}:7  BI reads the sales prefix")
    assert "key_policy shut [KD301]" in lines[0]
    assert "(1 of 4 objects, e.g. sales/2026/restated.parquet)" in lines[0]
    assert lines[1].strip().startswith("fix: key policy of arn:aws:kms:eu-west-1:111111111111:")
    assert "4 expectations, 8 results: 3 failed, 0 could not be decided, 5 passed" in lines
    assert lines[-1] == "note: --no-probe: every result is analysed from the policies alone"


def test_each_fact_is_read_once_for_every_expectation(sandbox, aws_faults, tmp_path):
    sandbox(SCENARIO)
    built = Counter(aws_faults.calls)  # the scenario builder's own calls
    result, _ = run_check(tmp_path, "--no-probe", "--format", "json")
    assert result.exit_code == 1
    calls = Counter(aws_faults.calls) - built
    assert calls["kms:GetKeyPolicy"] == 2  # two keys, whatever the number of objects and roles
    # Each object once: four under sales/, one artifact, the ledger (q1 is one of sales/).
    assert calls["s3:HeadObject"] == 6
    if LISTING:  # both accounts listed once for the readers expectation
        assert calls["iam:GetAccountAuthorizationDetails"] == 2


def test_junit_and_sarif_files_for_ci(sandbox, tmp_path, monkeypatch):
    sandbox(SCENARIO)
    monkeypatch.chdir(tmp_path)  # CI runs from the repository root, with a relative path
    (tmp_path / "lake.toml").write_text(LAKE_CHECKS, encoding="utf-8")
    junit, sarif = tmp_path / "junit.xml", tmp_path / "check.sarif"
    args = ["check", "lake.toml", "--no-probe", "--junit", "junit.xml", "--sarif", "check.sarif"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("8", "3", "0")
    failure = next(case for case in suite if case.find("failure") is not None).find("failure")
    assert "key_policy shut" in failure.get("message") and "KD301" in failure.get("message")

    document = json.loads(sarif.read_text(encoding="utf-8"))
    results = document["runs"][0]["results"]
    assert len(results) == 3
    starts = sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results)
    assert starts == [7, 29, 29]  # the sales expectation, and the readers one twice
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"lake.toml"}


def test_more_objects_than_max_objects_says_so(sandbox, tmp_path):
    sandbox(SCENARIO)
    result, _ = run_check(tmp_path, "--no-probe", "--format", "json", "--max-objects", "2")
    document = json.loads(result.stdout)
    sales = by_name(document)["BI reads the sales prefix"]
    assert sum(r["objects"] for r in sales) == 2
    assert any(
        "only the first 2 objects under s3://datalake-curated-a/sales/*" in note
        for note in sales[0]["notes"]
    )


@pytest.mark.skipif(not LISTING, reason="who-can's account listing is not in this build")
def test_unlisted_account_makes_the_readers_check_undecided(sandbox, aws_faults, tmp_path):
    sandbox(SCENARIO)
    aws_faults.add(
        "iam", "GetAccountAuthorizationDetails", "AccessDenied", "not allowed", 403, account=A
    )
    result, _ = run_check(tmp_path, "--no-probe", "--format", "json")
    others = by_name(json.loads(result.stdout))["only BI reads q1: every other principal"]
    assert others[0]["status"] == "unknown"
    assert f"the principals of account {A} could not be listed" in others[0]["notes"][0]


@pytest.mark.parametrize("probe", [True, False])
def test_probes_run_as_each_role_assumed_from_its_accounts_profile(
    sandbox, aws_faults, tmp_path, probe
):
    box = sandbox(SCENARIO)
    aws_faults.answer_probes(box)
    checks = f"""\
[accounts]
"{A}" = "a"
"{B}" = "b"

[[expect]]
principal = "{role("PipelineRole")}"
bucket = "datalake-curated-a"
key = "artifacts/build-1.zip"
access = "allow"

[[expect]]
principal = "{role("BIAnalyticsRole")}"
bucket = "datalake-curated-a"
prefix = "sales/2026/q"
access = "allow"
"""
    extra = [] if probe else ["--no-probe"]
    built = Counter(aws_faults.calls)  # the scenario builder's own calls
    result, _ = run_check(tmp_path, "--format", "json", *extra, checks=checks)
    document = json.loads(result.stdout)
    assert result.exit_code == 0, result.stdout
    calls = Counter(aws_faults.calls) - built
    if not probe:
        assert calls["sts:AssumeRole"] == 0
        assert calls["s3:GetObject"] == 0
        assert "--no-probe: every result is analysed from the policies alone" in document["notes"]
        return
    # One AssumeRole per role, one one-byte GET per group (3 objects under sales/2026/q, one
    # outcome: one probe), never per object.
    assert calls["sts:AssumeRole"] == 2
    assert calls["s3:GetObject"] == 2
    notes = [note for r in document["results"] for note in r["notes"]]
    assert "probed as the principal on sales/2026/q1.parquet" in notes


def test_a_role_that_cannot_be_assumed_is_analysed_without_a_probe(sandbox, aws_faults, tmp_path):
    box = sandbox(SCENARIO)
    aws_faults.answer_probes(box)
    aws_faults.add("sts", "AssumeRole", "AccessDenied", "not authorized to assume", 403)
    result, _ = run_check(tmp_path, "--format", "json")
    sales = by_name(json.loads(result.stdout))["BI reads the sales prefix"]
    assert sales[0]["status"] == "fail"  # the analysis still decides
    assert any(
        note.startswith(f"not probed: could not assume {role('BIAnalyticsRole')}")
        and "analysed from its policies alone" in note
        for note in sales[0]["notes"]
    )


# --- the bucket and key policies opened outside the [accounts] ---------------------------------

PARTNER = "333333333333"
PARTNER_SCENARIO = "partner-account-root-opened-by-bucket-and-key-policy"
SALES_Q1 = "sales/2026/q1/regions.parquet"


def only_bi_reads_sales_q1(accounts: list[str], readers: list[str]) -> str:
    profiles = "\n".join(f'"{account}" = "{"a" if account == A else "b"}"' for account in accounts)
    listed = ", ".join(f'"{reader}"' for reader in readers)
    return f"""\
region = "eu-west-1"

[accounts]
{profiles}

[[expect]]
name = "only BI reads sales q1"
bucket = "datalake-curated-a"
key = "{SALES_Q1}"
readers = [{listed}]
"""


@pytest.mark.skipif(not LISTING, reason="who-can's account listing is not in this build")
def test_a_partner_root_opened_by_both_policies_makes_only_bi_reads_undecided(
    sandbox, tmp_path, monkeypatch
):
    sandbox(PARTNER_SCENARIO)
    monkeypatch.chdir(tmp_path)
    checks = only_bi_reads_sales_q1([A, B], [role("BIAnalyticsRole")])
    args = ["--no-probe", "--format", "json", "--junit", "j.xml", "--sarif", "c.sarif"]
    result, _ = run_check(tmp_path, *args, checks=checks)
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    results = by_name(document)
    (partner,) = results[f"only BI reads sales q1: account {PARTNER}"]
    assert (partner["principal"], partner["status"], partner["verdict"]) == (
        f"arn:aws:iam::{PARTNER}:root",
        "unknown",
        "unknown",
    )
    assert [o["statement"] for o in partner["outside"]["openings"]] == [
        "bucket policy PartnerReadsSales",
        "key policy PartnerDecrypts",
    ]
    assert f"account {PARTNER} was not read (no profile for it)" in " ".join(partner["notes"])
    (bi,) = results["only BI reads sales q1: BIAnalyticsRole"]
    assert bi["status"] == "pass"
    assert document["summary"] == {"pass": 2, "fail": 0, "unknown": 1}

    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    sarif = json.loads((tmp_path / "c.sarif").read_text(encoding="utf-8"))
    (warning,) = sarif["runs"][0]["results"]
    assert (warning["ruleId"], warning["level"]) == ("CHECK-OUTSIDE", "warning")
    assert warning["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    assert f"add account {PARTNER} to [accounts]" in warning["message"]["text"]


@pytest.mark.skipif(not LISTING, reason="who-can's account listing is not in this build")
def test_without_the_partner_opening_only_bi_reads_holds(sandbox, tmp_path):
    sandbox("healthy-cross-account-read")  # the same lake before the partner onboarding
    checks = only_bi_reads_sales_q1([A, B], [role("BIAnalyticsRole")])
    result, _ = run_check(tmp_path, "--no-probe", checks=checks)
    assert result.exit_code == 0, result.output
    assert PARTNER not in result.stdout


@pytest.mark.skipif(not LISTING, reason="who-can's account listing is not in this build")
def test_a_check_of_the_resource_account_alone_names_the_caller_account_it_left_out(
    sandbox, tmp_path
):
    # The data team's own smoke test lists only its account: its lake admin reads sales. B's
    # BIAnalyticsRole and the partner's root are let in by the policies but never read.
    box = sandbox(PARTNER_SCENARIO)
    lake_admin = add_lake_admin_in_a(box)
    result, _ = run_check(tmp_path, "--no-probe", checks=only_bi_reads_sales_q1([A], [lake_admin]))
    assert result.exit_code == 3, result.output
    undecided = [line for line in result.stdout.splitlines() if line.startswith("????")]
    assert len(undecided) == 2
    assert any("BIAnalyticsRole (222222222222), outside [accounts]," in line for line in undecided)
    assert any(f"account {PARTNER}, outside [accounts]," in line for line in undecided)
    assert f"why: to decide it, add account {B} to [accounts] with a profile" in result.stdout
    assert "pass  " in result.stdout and "CuratedLakeAdmin" in result.stdout


def add_lake_admin_in_a(box) -> str:
    """A role in the resource account that reads the lake through its own IAM policy (the key
    policy's root statement delegates to A's IAM)."""
    read = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}
        ],
    }
    return add_role(box, A, "CuratedLakeAdmin", read)


def test_a_role_probed_on_one_object_twice_reads_who_it_is_and_the_key_once(
    sandbox, aws_faults, tmp_path
):
    """BI reads the sales prefix and may write its first object: two probes as the role on
    sales/2026/q1.parquet (read and write). What they share as that identity — who it is, the
    key, the object's head — is asked once; each probe keeps its own answer."""
    box = sandbox(SCENARIO)
    aws_faults.answer_probes(box)
    checks = f"""\
[accounts]
"{A}" = "a"
"{B}" = "b"

[[expect]]
principal = "{role("BIAnalyticsRole")}"
bucket = "datalake-curated-a"
prefix = "sales/2026/q"
access = "allow"

[[expect]]
principal = "{role("BIAnalyticsRole")}"
bucket = "datalake-curated-a"
key = "sales/2026/q1.parquet"
operation = "write"
access = "deny"
"""
    built = Counter(aws_faults.calls)
    result, _ = run_check(tmp_path, "--format", "json", checks=checks)
    document = json.loads(result.stdout)
    calls = Counter(aws_faults.calls) - built
    notes = [note for r in document["results"] for note in r["notes"]]
    assert notes.count("probed as the principal on sales/2026/q1.parquet") == 1
    assert notes.count("probed as the principal") == 1  # the write, on its key
    assert calls["sts:AssumeRole"] == 1
    assert calls["s3:GetObject"] == 1  # the read's one byte; a write is never probed
    # The collection reads each object's head and the key once; the probes add one HEAD and
    # one DescribeKey as the role, not one per probe.
    assert calls["s3:HeadObject"] == 3 + 1
    assert calls["kms:DescribeKey"] == 1 + 1
