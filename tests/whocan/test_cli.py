"""`kmsdoctor who-can` end to end against moto: the JSON contract of DESIGN §4, the text table,
the exit codes of a listing, and bad input as one line."""

from __future__ import annotations

from tests.trust.harness import run_kmsdoctor
from tests.whocan.conftest import BUCKET, OBJECT_KEY, B, role_arn, user_arn


def who_can(*extra: str, address: str = f"s3://{BUCKET}/{OBJECT_KEY}"):
    return run_kmsdoctor(
        "who-can", "--source-profile", "a", "--target-profile", "b", "--bucket", address, *extra
    )


def test_json_lists_every_principal_with_verdict_and_shut_locks(many_roles):
    run = who_can("--format", "json")
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["schema_version"] == 1
    assert document["kmsdoctor_version"] and document["generated_at"].endswith("Z")
    assert document["request"] == {
        "bucket": BUCKET,
        "key": OBJECT_KEY,
        "operation": "read",
        "region": many_roles.region,
        "accounts": ["111111111111", B],
    }
    by_arn = {p["principal"]: p for p in document["principals"]}
    assert by_arn[role_arn("BIAnalyticsRole")]["verdict"] == "allow"
    assert by_arn[role_arn("NotInKeyPolicyRole")]["locks_shut"] == ["key_policy"]
    assert by_arn[user_arn("dave")]["code"] == "KD101"
    assert document["summary"]["allow"] == 4
    assert document["summary"]["by_first_shut_lock"]["key_policy"]["codes"] == {"KD301": 1}
    assert [o["principal"] for o in document["outside"]] == [
        "arn:aws:iam::333333333333:root",
        "*",
    ]


def test_text_shows_the_table_the_outside_principals_and_the_summary(many_roles):
    run = who_can("--key", OBJECT_KEY, address=BUCKET)
    assert run.exit_code == 0, run.stderr
    out = " ".join(run.stdout.split())  # rich wraps at 80 columns
    assert f"Who can read s3://{BUCKET}/{OBJECT_KEY}? 4 of 10 principals of 111111111111" in out
    assert "NotInKeyPolicyRole" in out and "key_policy (KD301)" in out
    assert "Service-linked roles" in out and "AWS-service roles" in out
    assert "arn:aws:iam::333333333333:root [open]" in out
    assert out.index("Roles and users") < out.index("Outside the listed accounts")
    assert out.index("Outside the listed accounts") < out.index("Summary by first shut lock")
    assert "key_policy: 1 principal (KD301 x1)" in out


def test_an_account_that_cannot_be_listed_makes_the_listing_undecided(many_roles, aws_faults):
    aws_faults.know_sandbox(many_roles)
    aws_faults.add(
        "iam", "GetAccountAuthorizationDetails", "AccessDenied", "not authorized", 403, account=B
    )
    run = who_can("--format", "json")
    assert run.exit_code == 3
    document = run.json()
    assert document["complete"] is False
    assert (
        "iam:GetAccountAuthorizationDetails failed with AccessDenied"
        in (document["unreadable_accounts"][B])
    )


def test_a_key_that_contradicts_the_address_is_one_line_and_exit_2(many_roles):
    run = who_can("--key", "other/key.parquet")
    assert "differs from the key" in run.one_line_error()


def test_an_unknown_profile_is_one_line_and_exit_2(many_roles):
    run = run_kmsdoctor(
        "who-can", "--source-profile", "nope", "--target-profile", "b", "--bucket", BUCKET
    )
    assert "profile 'nope'" in run.one_line_error()


def test_a_missing_bucket_is_one_line_and_exit_2(many_roles):
    run = who_can(address="s3://no-such-bucket-anywhere/x")
    assert "no-such-bucket-anywhere" in run.one_line_error()


def test_an_address_that_is_not_s3_is_one_line_and_exit_2(many_roles):
    run = who_can(address="arn:aws:kms:eu-west-1:111111111111:key/abcd")
    assert "is not an S3 bucket" in run.one_line_error()
