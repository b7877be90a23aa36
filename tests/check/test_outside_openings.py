"""`readers`/`writers` against principals outside the `[accounts]`: the incidents where the
bucket or key policy was opened to another account (or to anyone) and "only BI reads the curated
data" can no longer be said — reported in the text, the JSON, the JUnit file and the SARIF file.

Each configuration is a factory snapshot; the outside principals are found by who-can's walk
of its policies (`kmsdoctor.analyze.whocan.outside_principals`), as `kmsdoctor check` finds them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from kmsdoctor.analyze.whocan import outside_principals
from kmsdoctor.check.json_output import render_json
from kmsdoctor.check.junit import render_junit
from kmsdoctor.check.model import CheckReport, OutsideOnObject, membership_results
from kmsdoctor.check.sarif import report_to_sarif
from kmsdoctor.check.text import render_text
from kmsdoctor.snapshot import Fetched, PublicAccessBlock
from tests.analyze.factories import (
    ABSENT,
    BUCKET_ARN,
    OBJECT_KEY,
    A,
    B,
    allow_role_decrypt_statement,
    allow_role_read_statement,
    bucket_policy,
    grant,
    key_policy,
    make_key,
    make_object,
    make_snapshot,
    unknown,
)
from tests.check.outcomes import BI, allowed, check_file

PARTNER = "333333333333"
PARTNER_ROOT = f"arn:aws:iam::{PARTNER}:root"
READERS_LINE = 28  # `[[expect]]` of "only BI reads curated" in tests/check/outcomes.py's CHECKS


def opened_to(principal, sid: str, action: str, resource: str, **extra) -> dict:
    """An Allow statement of a resource policy for `principal` ("*" or an AWS principal)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal if principal == "*" else {"AWS": principal},
        "Action": action,
        "Resource": resource,
        **extra,
    }


def partner_reads_sales(principal=PARTNER_ROOT, **extra):
    return opened_to(
        principal, "PartnerReadsSales", "s3:GetObject", f"{BUCKET_ARN}/sales/*", **extra
    )


def partner_decrypts(principal=PARTNER_ROOT, **extra):
    return opened_to(principal, "PartnerDecrypts", "kms:Decrypt", "*", **extra)


def readers_report(snapshot, readable=(A, B), unreadable=None) -> CheckReport:
    """The file's "only BI reads curated" expectation: BI gets through, and the outside
    principals of `snapshot` are walked with `readable` listed."""
    checks = check_file()
    readers = checks.expectations[3]
    outside, notes = outside_principals(snapshot, set(readable), dict(unreadable or {}))
    results = membership_results(
        readers,
        {BI: [allowed()]},
        outside=[OutsideOnObject(OBJECT_KEY, outside, notes)],
        accounts=[A, B],
    )
    return CheckReport(checks, results)


def by_name(report: CheckReport) -> dict:
    document = json.loads(render_json(report))
    return {result["name"]: result for result in document["results"]}


def partner_root_in_both_policies():
    """The partner onboarding: bucket and key policy both name the partner account's root."""
    return make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales()),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(), partner_decrypts())),
    )


def test_a_partner_root_in_both_policies_leaves_only_bi_reads_undecided():
    report = readers_report(partner_root_in_both_policies())
    assert report.exit_code == 3
    results = by_name(report)
    partner = results[f"only BI reads curated: account {PARTNER}"]
    assert (partner["principal"], partner["expected"], partner["verdict"], partner["status"]) == (
        PARTNER_ROOT,
        "deny",
        "unknown",
        "unknown",
    )
    assert partner["outside"]["account"] == PARTNER
    assert [o["statement"] for o in partner["outside"]["openings"]] == [
        "bucket policy PartnerReadsSales",
        "key policy PartnerDecrypts",
    ]
    assert results["only BI reads curated: every other principal"]["status"] == "pass"
    assert report.summary() == {"pass": 2, "fail": 0, "unknown": 1}


def test_the_text_says_who_opened_it_and_what_would_settle_it():
    lines = render_text(readers_report(partner_root_in_both_policies())).splitlines()
    assert lines[0].startswith(
        f"????  checks/lake.toml:{READERS_LINE}  only BI reads curated: account {PARTNER} — "
        f"account {PARTNER}, outside [accounts], read s3://datalake-curated-a/{OBJECT_KEY}: "
        "could not decide: opened on the resource account's side; their own account decides"
    )
    assert lines[1] == (
        f"      why: to decide it, add account {PARTNER} to [accounts] with a profile that can "
        "read it (its roles and users are then listed and checked), or remove or narrow bucket "
        "policy PartnerReadsSales, key policy PartnerDecrypts if it should not"
    )
    assert lines[2] == (
        "      note: opened by bucket policy PartnerReadsSales; key policy PartnerDecrypts"
    )
    assert "1 could not be decided" in render_text(readers_report(partner_root_in_both_policies()))


def test_junit_reports_the_partner_as_an_error_and_sarif_as_a_warning_on_the_readers_line():
    report = readers_report(partner_root_in_both_policies())
    suite = ET.fromstring(render_junit(report)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "1")
    errored = [case for case in suite if case.find("error") is not None]
    assert len(errored) == 1
    error = errored[0].find("error")
    assert PARTNER in errored[0].get("name") and f"add account {PARTNER}" in error.get("message")
    assert errored[0].get("line") == str(READERS_LINE)

    sarif = report_to_sarif(report)
    (result,) = sarif["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("CHECK-OUTSIDE", "warning")
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == READERS_LINE
    assert PARTNER in result["message"]["text"]
    (rule,) = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert (rule["id"], rule["defaultConfiguration"]["level"]) == ("CHECK-OUTSIDE", "warning")


def test_the_partner_account_checked_in_accounts_is_no_longer_outside():
    # Readable, its roles and users are listed and answered one by one like B's.
    report = readers_report(partner_root_in_both_policies(), readable=(A, B, PARTNER))
    assert report.exit_code == 0
    assert all(result.outside is None for result in report.results)


def test_an_account_in_accounts_that_could_not_be_listed_says_to_let_its_profile_list_it():
    snapshot = make_snapshot()  # the healthy policies name BIAnalyticsRole in B
    report = readers_report(snapshot, readable=(A,), unreadable={B: "AccessDenied"})
    results = by_name(report)
    role = results["only BI reads curated: BIAnalyticsRole (222222222222)"]
    assert role["status"] == "unknown"
    assert "let the profile of account 222222222222 list its roles and users" in (
        render_text(report)
    )


def test_bucket_and_key_open_to_anyone_fails_the_readers_expectation():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales("*")),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(), partner_decrypts("*"))),
    )
    report = readers_report(snapshot)
    assert report.exit_code == 1
    anyone = by_name(report)["only BI reads curated: anyone (*)"]
    assert (anyone["principal"], anyone["verdict"], anyone["status"]) == ("*", "allow", "fail")
    text = render_text(report)
    assert "expected deny, got allow: the resource policies open to anyone" in text
    assert "fix: to deny it, remove or narrow bucket policy PartnerReadsSales, key policy" in text
    (result,) = report_to_sarif(report)["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("CHECK-OUTSIDE", "error")


def open_to_anyone(public_access_block):
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales("*")),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(), partner_decrypts("*"))),
    )
    snapshot.source.bucket.public_access_block = public_access_block
    return snapshot


def test_restrict_public_buckets_keeps_anyone_out_of_a_public_bucket_policy():
    report = readers_report(open_to_anyone(Fetched.ok(PublicAccessBlock(True, True, True, True))))
    assert report.exit_code == 0
    assert "(RestrictPublicBuckets) keeps every other account out" in render_text(report)


def test_a_public_bucket_policy_with_an_unreadable_block_public_access_is_undecided():
    report = readers_report(open_to_anyone(unknown("s3:GetPublicAccessBlock")))
    anyone = by_name(report)["only BI reads curated: anyone (*)"]
    assert anyone["status"] == "unknown"
    assert anyone["outside"]["missing"].startswith(
        "the bucket policy is public and the bucket's S3 Block Public Access could not be read"
    )


def test_a_public_sse_s3_object_fails_with_the_bucket_policy_alone():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales("*")),
        key=ABSENT,
        obj=make_object(sse_algorithm="AES256"),
    )
    assert by_name(readers_report(snapshot))["only BI reads curated: anyone (*)"]["status"] == (
        "fail"
    )


def test_anyone_in_an_organization_is_undecided_and_names_the_condition():
    in_org = {"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-partnerorg"}}}
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(
            allow_role_read_statement(), partner_reads_sales("*", **in_org)
        ),
        key=make_key(
            policy=key_policy(allow_role_decrypt_statement(), partner_decrypts("*", **in_org))
        ),
    )
    anyone = by_name(readers_report(snapshot))["only BI reads curated: anyone (*)"]
    assert anyone["status"] == "unknown"
    assert any("StringEquals aws:PrincipalOrgID o-partnerorg" in note for note in anyone["notes"])


def test_a_key_policy_open_to_anyone_of_the_listed_accounts_opens_to_no_one_outside():
    # The AWS-managed-key pattern: Principal "*", kept to callers of A by kms:CallerAccount.
    callers_of_a = {"Condition": {"StringEquals": {"kms:CallerAccount": A}}}
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(partner_reads_sales("*", **callers_of_a)),
        key=make_key(policy=key_policy(partner_decrypts("*", **callers_of_a))),
    )
    report = readers_report(snapshot)
    assert report.exit_code == 0
    assert all(result.outside is None for result in report.results)


def test_a_partner_let_in_by_the_bucket_policy_alone_cannot_decrypt_and_is_said_so():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales())
    )
    report = readers_report(snapshot)
    assert report.exit_code == 0
    text = render_text(report)
    assert (
        "note: account 333333333333, opened by bucket policy PartnerReadsSales, cannot get "
        "through: neither the key policy nor a grant allows kms:Decrypt"
    ) in text


def test_a_partner_role_in_the_bucket_policy_and_the_partner_root_in_the_key_policy_get_through():
    # The key policy delegates to the partner account; its role is named in the bucket policy.
    partner_role = f"arn:aws:iam::{PARTNER}:role/PartnerLoader"
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(
            allow_role_read_statement(), partner_reads_sales(partner_role)
        ),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(), partner_decrypts())),
    )
    results = by_name(readers_report(snapshot))
    assert results[f"only BI reads curated: PartnerLoader ({PARTNER})"]["status"] == "unknown"


def test_a_grant_to_the_partner_opens_the_key_half():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales()),
        key=make_key(grants=[grant(grantee=PARTNER_ROOT, operations=["Decrypt"])]),
    )
    partner = by_name(readers_report(snapshot))[f"only BI reads curated: account {PARTNER}"]
    assert partner["status"] == "unknown"
    assert {o["where"] for o in partner["outside"]["openings"]} == {"bucket_policy", "grant"}


def test_a_deny_for_everyone_else_keeps_the_partner_out():
    deny_all = {
        **opened_to(PARTNER, "DenyPartnerForNow", "s3:*", f"{BUCKET_ARN}/*"),
        "Effect": "Deny",
    }
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(
            allow_role_read_statement(), partner_reads_sales(), deny_all
        ),
        key=make_key(policy=key_policy(allow_role_decrypt_statement(), partner_decrypts())),
    )
    report = readers_report(snapshot)
    assert report.exit_code == 0
    assert "is denied by bucket policy DenyPartnerForNow" in render_text(report)


def test_an_unreadable_key_policy_leaves_the_partner_and_every_other_principal_undecided():
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), partner_reads_sales()),
        key=make_key(policy=unknown("kms:GetKeyPolicy")),
    )
    report = readers_report(snapshot)
    results = by_name(report)
    partner = results[f"only BI reads curated: account {PARTNER}"]
    assert partner["status"] == "unknown"
    assert partner["outside"]["resource_side"] == "unknown"
    others = results["only BI reads curated: every other principal"]
    assert others["status"] == "unknown"
    assert others["notes"][0].startswith("the key policy could not be read")


def test_a_service_principal_is_noted_not_counted_as_a_reader():
    # CloudFront reads for a distribution: not a principal of an account, no result of its own.
    cloudfront = {
        **opened_to("*", "CloudFrontReads", "s3:GetObject", f"{BUCKET_ARN}/*"),
        "Principal": {"Service": "cloudfront.amazonaws.com"},
    }
    snapshot = make_snapshot(
        bucket_policy_doc=bucket_policy(allow_role_read_statement(), cloudfront),
    )
    report = readers_report(snapshot)
    assert report.exit_code == 0
    assert (
        "note: the AWS service cloudfront.amazonaws.com, opened by bucket policy "
        "CloudFrontReads, is a service, not a principal of an account"
    ) in render_text(report)
