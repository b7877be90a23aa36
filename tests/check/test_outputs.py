"""What a CI job reads from `kmsdoctor check`: the text lines, the JSON of DESIGN §4.1, the
JUnit file and the SARIF file, and the exit code — built on real diagnoses of the analysis."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from kmsdoctor.check.json_output import render_json
from kmsdoctor.check.junit import render_junit
from kmsdoctor.check.model import (
    CheckReport,
    access_results,
    expectation_exit_code,
    membership_results,
)
from kmsdoctor.check.sarif import report_to_sarif
from kmsdoctor.check.text import render_text
from tests.check.outcomes import (
    AUDIT,
    BI,
    ETL,
    allowed,
    check_file,
    key_policy_shut,
    key_policy_unreadable,
)


def lake_report(bi_key=allowed, bi_prefix=None, etl=key_policy_shut, others=None) -> CheckReport:
    """The four expectations of tests/check/outcomes.py's CHECKS, with the outcomes given."""
    checks = check_file()
    one, prefix, etl_exp, readers = checks.expectations
    if bi_prefix is None:
        bi_prefix = [allowed(key=f"sales/{n}.parquet") for n in range(3)]
    results = [
        *access_results(one, [bi_key()]),
        *access_results(prefix, bi_prefix),
        *access_results(etl_exp, [etl(ETL)]),
        *membership_results(readers, others or {BI: [allowed()], ETL: [key_policy_shut(ETL)]}),
    ]
    return CheckReport(checks, results)


def test_every_expectation_held_exits_0_and_says_so():
    report = lake_report()
    assert report.exit_code == 0
    text = render_text(report)
    assert "0 failed, 0 could not be decided" in text
    assert "FAIL" not in text


def test_a_shut_key_policy_is_a_failure_first_with_lock_code_and_fix():
    report = lake_report(bi_key=key_policy_shut)
    assert report.exit_code == 1
    lines = render_text(report).splitlines()
    assert lines[0].startswith("FAIL  checks/lake.toml:7  BI reads curated sales")
    assert "expected allow, got deny: key_policy shut [KD301]" in lines[0]
    assert lines[1].strip().startswith("fix: key policy of arn:aws:kms:eu-west-1:111111111111:")
    assert sum(1 for line in lines if line.startswith("FAIL")) == 1
    assert lines[-1] == "4 expectations, 5 results: 1 failed, 0 could not be decided, 4 passed"


def test_an_unreadable_key_policy_is_undecided_exit_3_with_the_reason():
    report = lake_report(bi_key=key_policy_unreadable)
    assert report.exit_code == 3
    first, why = render_text(report).splitlines()[:2]
    assert first.startswith("????  checks/lake.toml:7")
    assert "could not decide: key_policy unknown" in first
    assert why.strip().startswith("why: key_policy:")


def test_a_failure_wins_over_an_undecided_result():
    report = lake_report(bi_key=key_policy_unreadable, etl=allowed)
    assert report.exit_code == 1
    text = render_text(report)
    assert "ETL cannot read curated — EtlRole (222222222222) read" in text
    assert "expected deny, got allow" in text
    assert (
        "fix: to deny it, remove the grant from one of identity: ReadCuratedLake "
        "(inline policy ReadCuratedLake), DecryptWithPlatformKey (inline policy "
        "ReadCuratedLake); bucket_policy: AllowBIReadCrossAccount (bucket policy); "
        "key_policy: AllowBIRoleDecrypt (key policy)"
    ) in text


def test_a_prefix_of_ten_thousand_objects_under_two_outcomes_is_two_results():
    outcomes = []
    for n in range(10_000):
        make = allowed if n % 5 else key_policy_shut
        outcomes.append(make(key=f"sales/part-{n:05}.parquet"))
    report = lake_report(bi_prefix=outcomes)
    prefix_results = [r for r in report.results if r.expectation.prefix is not None]
    assert [(r.status, r.objects) for r in prefix_results] == [("fail", 2000), ("pass", 8000)]
    failing = prefix_results[0]
    assert failing.example_keys == [
        "sales/part-00000.parquet",
        "sales/part-00005.parquet",
        "sales/part-00010.parquet",
    ]
    text = render_text(report)
    assert "(2000 of 10000 objects, e.g. sales/part-00000.parquet" in text
    document = json.loads(render_json(report))
    as_json = [r for r in document["results"] if "prefix" in r]
    assert [(r["status"], r["objects"]) for r in as_json] == [("fail", 2000), ("pass", 8000)]
    assert len(as_json[0]["example_keys"]) == 3


def test_json_is_the_design_contract():
    report = lake_report(bi_key=key_policy_shut)
    document = json.loads(render_json(report))
    assert set(document) >= {
        "schema_version",
        "kmsdoctor_version",
        "generated_at",
        "results",
        "summary",
    }
    assert document["generated_at"].endswith("Z")
    assert document["summary"] == {"pass": 4, "fail": 1, "unknown": 0}
    first = document["results"][0]
    assert set(first) >= {
        "name",
        "principal",
        "bucket",
        "key",
        "operation",
        "expected",
        "verdict",
        "status",
        "locks_shut",
        "findings",
    }
    assert "prefix" not in first
    assert (first["principal"], first["expected"], first["verdict"], first["status"]) == (
        BI,
        "allow",
        "deny",
        "fail",
    )
    assert first["locks_shut"] == ["key_policy"]
    assert "KD301" in [finding["code"] for finding in first["findings"]]
    prefix = next(r for r in document["results"] if "prefix" in r)
    assert (prefix["prefix"], prefix["objects"]) == ("sales/", 3)
    assert "key" not in prefix


def test_readers_fail_when_someone_else_can_read():
    report = lake_report(
        others={BI: [allowed()], ETL: [key_policy_shut(ETL)], AUDIT: [allowed(AUDIT)]}
    )
    assert report.exit_code == 1
    failing = [r for r in report.results if r.status == "fail"]
    assert [(r.principal, r.expected, r.verdict) for r in failing] == [(AUDIT, "deny", "allow")]
    assert failing[0].name == "only BI reads curated: AuditRole"
    folded = report.results[-1]
    assert (folded.principal, folded.status, folded.principals) == (None, "pass", 1)


def test_readers_fail_when_a_listed_reader_cannot():
    report = lake_report(others={BI: [key_policy_shut()], ETL: [key_policy_shut(ETL)]})
    failing = [r for r in report.results if r.status == "fail"]
    assert [(r.principal, r.locks_shut) for r in failing] == [(BI, ["key_policy"])]


def test_junit_has_one_case_per_result_and_the_failure_names_lock_code_fix():
    report = lake_report(bi_key=key_policy_shut, etl=key_policy_unreadable)
    root = ET.fromstring(render_junit(report))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(report.results) == int(suite.get("tests"))
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    failed = [case for case in cases if case.find("failure") is not None]
    assert len(failed) == 1
    failure = failed[0].find("failure")
    message = failure.get("message")
    assert "key_policy shut" in message and "KD301" in message and "fix: key policy of" in message
    assert failure.get("type") == "KD301"
    assert (failed[0].get("file"), failed[0].get("line")) == ("checks/lake.toml", "7")
    errored = [case for case in cases if case.find("error") is not None]
    assert len(errored) == 1 and "ETL cannot read curated" in errored[0].get("name")
    names = [case.get("name") for case in cases]
    assert len(set(names)) == len(names)


def test_junit_survives_control_characters_in_a_name():
    checks = check_file(
        'region = "eu-west-1"\n[accounts]\n"222222222222" = "b"\n[[expect]]\n'
        f'name = "bell \\u0007 <&>"\nprincipal = "{BI}"\nbucket = "bucket-one"\n'
        'key = "k"\naccess = "allow"\n'
    )
    report = CheckReport(checks, access_results(checks.expectations[0], [key_policy_shut()]))
    case = ET.fromstring(render_junit(report)).find("testsuite/testcase")
    assert case is not None and "bell \ufffd <&>" in case.get("name")


def test_sarif_has_what_code_scanning_requires():
    report = lake_report(bi_key=key_policy_shut, etl=allowed)
    sarif = report_to_sarif(report)
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kmsdoctor"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == ["KD301", "CHECK-ALLOWED"]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["KD301", "CHECK-ALLOWED"]  # only the failures
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "checks/lake.toml"
        assert isinstance(physical["region"]["startLine"], int)
        assert result["partialFingerprints"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [
        7,
        21,
    ]
    assert "Fix: key policy of arn:aws:kms:" in results[0]["message"]["text"]


def test_sarif_of_a_passing_run_has_no_results():
    sarif = report_to_sarif(lake_report())
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["tool"]["driver"]["rules"] == []


def test_diagnose_expect_exit_codes():
    assert expectation_exit_code("allow", "allow") == 0
    assert expectation_exit_code("deny", "deny") == 0
    assert expectation_exit_code("allow", "deny") == 1
    assert expectation_exit_code("deny", "allow") == 1
    assert expectation_exit_code("deny", "unknown") == 3
