"""AWS failing in every way it does in an incident, injected at the botocore layer: each run ends
in a correct report with `unknown` where information is missing, or in exit 2 with one line
saying what the user must fix. Never a crash, never a traceback.

tests/collect already covers: throttling that recovers, a persistent 500 (bounded retries),
ExpiredToken on GetCallerIdentity, an unknown profile, a missing bucket or key, AccessDenied on
GetKeyPolicy and ListPoliciesForTarget (snapshot only). Here: AccessDenied on every call the
collectors make, through `diagnose`; persistent throttling and its backoff; timeouts; a dead
endpoint; credentials that expire mid-run or are missing; malformed policy JSON from AWS; and
lists that come in several pages.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from kmsdoctor import aws
from kmsdoctor.snapshot import Snapshot, SnapshotView
from tests.trust.aws_answers import (
    iam_response,
    json_params,
    json_response,
    query_params,
    text_response,
    xml_members,
)
from tests.trust.harness import UNATTACHED_POLICY, USER_PROFILE, run_kmsdoctor

LOCK_STATUSES = {"allow", "implicit_deny", "explicit_deny", "not_applicable", "unknown"}
EXIT_FOR_VERDICT = {"allow": 0, "deny": 1, "unknown": 3}
CALLER = "arn:aws:sts::222222222222:assumed-role/BIAnalyticsRole/kmsdoctor-sandbox"


def diagnose(sandbox, *extra: str, profile: str = "b") -> dict[str, Any]:
    """`diagnose --no-probe --format json`: must end in a report, never a crash."""
    run = run_kmsdoctor(
        *sandbox.args("diagnose", "--no-probe", "--format", "json", *extra, profile=profile)
    )
    assert run.stderr == "", run.stderr
    report = run.json()
    assert run.exit_code == EXIT_FOR_VERDICT[report["verdict"]], (run.exit_code, report["verdict"])
    assert {lock["status"] for lock in report["locks"].values()} <= LOCK_STATUSES
    return report


def collect(sandbox, tmp_path, profile: str = "b") -> SnapshotView:
    output = tmp_path / "snapshot.json"
    run = run_kmsdoctor(*sandbox.args("collect", "--output", str(output), profile=profile))
    assert run.exit_code == 0, run.stderr
    return Snapshot.from_json(output.read_text(encoding="utf-8")).combined_view()


def unknown_locks(report: dict[str, Any]) -> set[str]:
    # The caller is a role session made outside kmsdoctor: AWS never shows its session policy,
    # so that ceiling is unknown in every run and says nothing about the injected fault.
    return {
        name
        for name, lock in report["locks"].items()
        if lock["status"] == "unknown" and name != "session_policy"
    }


# --- AccessDenied on each collector call ------------------------------------------------------


@dataclass(frozen=True)
class DeniedCall:
    """What a report must say when the profile may not make `operation`."""

    operation: str  # "kms:GetKeyPolicy"
    unknown: frozenset[str]  # locks that become unknown (named with the failed call)
    verdict: str  # the verdict that follows
    profile: str = "b"  # b: the caller role's session; carol: an IAM user in a group
    why: str = ""  # for the cases where no lock needs the missing fact
    # The code the reason names: AWS's JSON and XML errors carry one (AccessDenied,
    # AccessDeniedException); a HEAD error has no body, so all S3 says is the status.
    code: str = "AccessDenied"

    def __str__(self) -> str:
        return f"{self.profile}-{self.operation}"


def denied(operation, unknown=(), verdict="unknown", profile="b", why="", code="AccessDenied"):
    return DeniedCall(operation, frozenset(unknown), verdict, profile, why, code)


NEEDS_NOTHING_HERE = "nothing in this configuration needs it; the snapshot records the gap"
CEILING = "an unreadable ceiling is unknown but does not decide the verdict (docs/analysis.md)"
MANAGEMENT = "A is its organization's management account: RCPs do not apply to it at all"

DENIED_CALLS = [
    # A: the bucket
    denied("s3:GetBucketPolicy", {"bucket_policy"}),
    denied("s3:GetBucketLocation", verdict="allow", why=NEEDS_NOTHING_HERE),
    denied("s3:GetBucketEncryption", verdict="allow", why="the object's own key is known"),
    denied("s3:GetBucketOwnershipControls", verdict="allow", why="the object's owner is known"),
    denied("s3:GetPublicAccessBlock", verdict="allow", why=NEEDS_NOTHING_HERE),
    denied("s3:GetBucketAcl", verdict="allow", why="ownership controls say ACLs are off"),
    # A: the object
    denied("s3:HeadObject", {"object"}, code="403"),
    denied("s3:GetObjectAcl", verdict="allow", why="ownership controls say ACLs are off"),
    # A: the key
    denied("kms:DescribeKey", {"key_policy", "key_state"}),
    denied("kms:GetKeyPolicy", {"key_policy"}),
    denied("kms:ListGrants", verdict="allow", why="the key policy itself lets the caller in"),
    denied("kms:ListAliases", verdict="allow", why="no policy names the key by an alias"),
    denied("kms:ListResourceTags", verdict="allow", why="no policy tests the key's tags"),
    # A: the organization (RCPs)
    denied("organizations:DescribeOrganization", {"rcp", "scp"}, "allow", why=CEILING),
    denied("organizations:ListParents", verdict="allow", why=MANAGEMENT),
    denied("organizations:ListPoliciesForTarget", verdict="allow", why=MANAGEMENT),
    denied("organizations:DescribePolicy", verdict="allow", why=MANAGEMENT),
    denied("organizations:DescribeOrganizationalUnit", verdict="allow", why=MANAGEMENT),
    # B: the caller role
    denied("iam:GetRole", {"identity", "permissions_boundary"}),
    denied("iam:ListRolePolicies", {"identity"}),
    denied("iam:GetRolePolicy", {"identity"}),
    denied("iam:ListAttachedRolePolicies", {"identity"}),
    denied("iam:GetPolicy", {"identity", "permissions_boundary"}),
    denied("iam:GetPolicyVersion", {"identity", "permissions_boundary"}),
    denied("ec2:DescribeVpcEndpoints", {"vpc_endpoint"}, "allow", why=CEILING),
    # B: an IAM user caller and her group
    denied("iam:GetUser", {"identity", "permissions_boundary"}, profile=USER_PROFILE),
    denied("iam:ListUserPolicies", {"identity"}, profile=USER_PROFILE),
    denied("iam:GetUserPolicy", {"identity"}, profile=USER_PROFILE),
    denied("iam:ListAttachedUserPolicies", {"identity"}, profile=USER_PROFILE),
    denied("iam:ListGroupsForUser", {"identity"}, profile=USER_PROFILE),
    denied("iam:ListGroupPolicies", {"identity"}, profile=USER_PROFILE),
    denied("iam:GetGroupPolicy", {"identity"}, profile=USER_PROFILE),
    denied("iam:ListAttachedGroupPolicies", {"identity"}, profile=USER_PROFILE),
]

# Where each gap that decides no lock here must still show: the snapshot field, read back.
SNAPSHOT_GAPS = {
    "s3:GetBucketLocation": lambda s: s.source.bucket.region,
    "s3:GetBucketEncryption": lambda s: s.source.bucket.encryption,
    "s3:GetBucketOwnershipControls": lambda s: s.source.bucket.ownership_controls,
    "s3:GetPublicAccessBlock": lambda s: s.source.bucket.public_access_block,
    "s3:GetBucketAcl": lambda s: s.source.bucket.acl_owner_id,
    "s3:GetObjectAcl": lambda s: s.source.object.value.acl_owner_id,
    "kms:ListGrants": lambda s: s.source.key.grants,
    "kms:ListAliases": lambda s: s.source.key.aliases,
    "kms:ListResourceTags": lambda s: s.source.key.tags,
    "organizations:ListParents": lambda s: s.source.rcps,
    "organizations:ListPoliciesForTarget": lambda s: s.source.rcps,
    "organizations:DescribePolicy": lambda s: s.source.rcps,
}


def test_the_denied_calls_are_every_call_the_collectors_make(trust_sandbox, aws_faults):
    """The parametrised list below cannot go stale: it is what collection really calls, for a
    role caller and for a user caller, minus sts:GetCallerIdentity (tested on its own)."""
    for profile in ("b", USER_PROFILE):
        diagnose(trust_sandbox, profile=profile)
    made = set(aws_faults.calls) - {"sts:GetCallerIdentity"}
    assert made == {case.operation for case in DENIED_CALLS}


@pytest.mark.parametrize("case", DENIED_CALLS, ids=str)
def test_access_denied_on_each_collector_call_ends_in_a_report(
    case: DeniedCall, trust_sandbox, aws_faults, tmp_path
):
    service, operation = case.operation.split(":")
    aws_faults.deny(service, operation, CALLER, "arn:aws:kms:eu-west-1:111111111111:key/x")
    report = diagnose(trust_sandbox, profile=case.profile)

    assert report["verdict"] == case.verdict
    assert unknown_locks(report) == case.unknown
    for lock in case.unknown:
        # The reason names the call that failed, so the reader knows which permission to add.
        assert f"{case.operation} failed with {case.code}" in report["locks"][lock]["reason"]
    if case.operation == "organizations:DescribeOrganizationalUnit":
        # Only the OU's display name is lost: the level is then named by its id.
        levels = collect(trust_sandbox, tmp_path).source.rcps.value
        (unit,) = [level for level in levels if level.target_type == "ORGANIZATIONAL_UNIT"]
        assert unit.name == unit.target_id
    elif case.operation in SNAPSHOT_GAPS:
        gap = SNAPSHOT_GAPS[case.operation](collect(trust_sandbox, tmp_path, case.profile))
        assert gap.status == "unknown"
        assert gap.error.operation == case.operation


def test_get_caller_identity_failing_is_one_line_naming_the_profile(trust_sandbox, aws_faults):
    aws_faults.add("sts", "GetCallerIdentity", "AccessDenied", "explicit deny", 403)
    run = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe"))
    assert run.one_line_error() == (
        "kmsdoctor: cannot identify profile a: sts:GetCallerIdentity failed with AccessDenied"
    )


# --- throttling, timeouts, unreachable endpoints ------------------------------------------------


def test_persistent_throttling_backs_off_then_reports_unknown(
    trust_sandbox, aws_faults, monkeypatch
):
    """Every attempt throttled: ATTEMPTS tries with growing waits, then the lock is unknown
    naming the throttle (not a crash, not a silent allow)."""
    waits: list[float] = []
    real_wait = aws.RETRY_WAIT

    def record_wait(retry_state: Any) -> float:
        waits.append(real_wait(retry_state))
        return 0.0  # the schedule is checked, not slept through

    monkeypatch.setattr(aws, "RETRY_WAIT", record_wait)
    aws_faults.add("kms", "GetKeyPolicy", "ThrottlingException", "Rate exceeded")
    report = diagnose(trust_sandbox)

    assert aws_faults.calls.count("kms:GetKeyPolicy") == aws.ATTEMPTS
    assert unknown_locks(report) == {"key_policy"}
    assert (
        "kms:GetKeyPolicy failed with ThrottlingException"
        in report["locks"]["key_policy"]["reason"]
    )
    # Only kms:GetKeyPolicy was retried, each wait longer than the one before (exponential).
    # (tenacity works out the next wait before it checks the attempt limit: one extra value.)
    slept = waits[: aws.ATTEMPTS - 1]
    assert len(slept) == aws.ATTEMPTS - 1 <= len(waits) <= aws.ATTEMPTS
    assert 0.25 <= slept[0] < slept[1] < slept[2] <= 1.25


def test_read_timeout_is_retried_then_unknown(trust_sandbox, aws_faults, aws_answers, fast_retries):
    aws_answers.on("kms:GetKeyPolicy", lambda request: ReadTimeoutError(endpoint_url=request.url))
    report = diagnose(trust_sandbox)
    assert aws_answers.answered["kms:GetKeyPolicy"] == aws.ATTEMPTS
    assert unknown_locks(report) == {"key_policy"}
    assert (
        "kms:GetKeyPolicy failed with ReadTimeoutError" in report["locks"]["key_policy"]["reason"]
    )


def test_connect_timeout_on_the_first_call_is_one_line_naming_the_profile(
    trust_sandbox, aws_answers, fast_retries
):
    aws_answers.on(
        "sts:GetCallerIdentity", lambda request: ConnectTimeoutError(endpoint_url=request.url)
    )
    line = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe")).one_line_error()
    assert line.startswith("kmsdoctor: cannot reach AWS with profile a: Connect timeout")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when this returns: nothing listens


def test_unreachable_endpoint_is_one_line_naming_the_profile(
    trust_sandbox, monkeypatch, fast_retries
):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    line = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe")).one_line_error()
    assert line.startswith("kmsdoctor: cannot reach AWS with profile a: ")
    assert endpoint in line


# --- credentials ---------------------------------------------------------------------------


def test_credentials_expiring_mid_collection_end_the_run_with_one_line(trust_sandbox, aws_faults):
    """Not an `unknown` in a report: nothing else the profile reads can succeed either."""
    aws_faults.add(
        "kms",
        "ListGrants",
        "ExpiredTokenException",
        "The security token included in the request is expired",
        400,
    )
    run = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe"))
    line = run.one_line_error()
    assert line.startswith("kmsdoctor: AWS rejected the credentials of profile 'a' (ExpiredToken")
    for secret in trust_sandbox.secrets:
        assert secret not in run.output


def test_profile_without_credentials_is_one_line(trust_sandbox, monkeypatch):
    config = trust_sandbox.box.config_path
    original = config.read_text(encoding="utf-8")
    config.write_text(original + "\n[profile empty]\nregion = eu-west-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role fallback
    try:
        run = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe", profile="empty"))
    finally:
        config.write_text(original, encoding="utf-8")
    assert run.one_line_error() == "kmsdoctor: no usable AWS credentials for profile 'empty'"


# --- malformed policy JSON from AWS ---------------------------------------------------------

TRUNCATED = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '


def _key_policy_answer(request):
    return json_response(request, {"Policy": TRUNCATED, "PolicyName": "default"})


def _bucket_policy_answer(request):
    return text_response(request, TRUNCATED)


def _role_policy_answer(request):
    result = (
        "<RoleName>BIAnalyticsRole</RoleName><PolicyName>ReadCuratedLake</PolicyName>"
        f"<PolicyDocument>{urllib.parse.quote(TRUNCATED)}</PolicyDocument>"
    )
    return iam_response(request, "GetRolePolicy", result)


@pytest.mark.parametrize(
    ("operation", "answer", "lock", "policy_name"),
    [
        ("kms:GetKeyPolicy", _key_policy_answer, "key_policy", "key policy"),
        ("s3:GetBucketPolicy", _bucket_policy_answer, "bucket_policy", "bucket policy"),
        ("iam:GetRolePolicy", _role_policy_answer, "identity", "inline policy ReadCuratedLake"),
    ],
    ids=["key-policy", "bucket-policy", "inline-policy"],
)
def test_malformed_policy_json_from_aws_makes_its_lock_unknown_naming_policy_and_place(
    operation, answer, lock, policy_name, trust_sandbox, aws_answers
):
    aws_answers.on(operation, answer)
    report = diagnose(trust_sandbox)
    assert aws_answers.answered[operation] >= 1
    assert report["verdict"] == "unknown"
    assert lock in unknown_locks(report)
    reason = report["locks"][lock]["reason"]
    # The policy engine's typed error, with where it is: "<policy> could not be read: <place>: ..."
    assert f"{policy_name} could not be read: " in reason, reason


# --- lists in several pages -----------------------------------------------------------------

ONLY_ROOT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EnableRootOfAccountA",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


def test_list_grants_in_three_pages_finds_the_grant_on_the_last(trust_sandbox, aws_answers):
    """The key policy does not name the caller; the only way in is a grant on page 3."""
    role = "arn:aws:iam::222222222222:role/BIAnalyticsRole"
    key_arn = trust_sandbox.box.key_arns["data"]

    def grant(number: int, grantee: str, operations: list[str]) -> dict[str, Any]:
        return {
            "KeyId": key_arn,
            "GrantId": f"{number:064x}",
            "Name": f"grant-{number}",
            "GranteePrincipal": grantee,
            "Operations": operations,
            "IssuingAccount": "arn:aws:iam::111111111111:root",
        }

    pages = {
        None: ([grant(1, "arn:aws:iam::222222222222:role/Other", ["Decrypt"])], "page-2"),
        "page-2": ([grant(2, role, ["Encrypt"])], "page-3"),
        "page-3": ([grant(3, role, ["Decrypt"])], None),
    }

    def list_grants(request):
        grants, next_marker = pages[json_params(request).get("Marker")]
        body: dict[str, Any] = {"Grants": grants, "Truncated": next_marker is not None}
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(request, body)

    aws_answers.on("kms:ListGrants", list_grants)
    aws_answers.on(
        "kms:GetKeyPolicy",
        lambda r: json_response(
            r, {"Policy": json.dumps(ONLY_ROOT_KEY_POLICY), "PolicyName": "default"}
        ),
    )
    report = diagnose(trust_sandbox)
    assert aws_answers.answered["kms:ListGrants"] == 3
    key_lock = report["locks"]["key_policy"]
    assert key_lock["status"] == "allow", key_lock["reason"]
    assert report["verdict"] == "allow"
    matching = [g["grant_id"] for g in key_lock["evidence"]["grants"] if g["matches"]]
    assert matching == [f"{3:064x}"]


def test_attached_role_policies_in_two_pages_are_all_read(trust_sandbox, aws_answers):
    """Inline policies are emptied; only the managed policy listed on page 2 (after a Marker)
    lets the caller in, so an identity `allow` proves page 2 was read and its policy fetched."""
    b = "arn:aws:iam::222222222222"
    # moto still sees every request (botocore calls all before-send handlers) and reads the
    # Marker as a list index: the marker must be a number, or moto raises inside botocore.
    pages = {
        None: ([UNATTACHED_POLICY], "1"),
        "1": (["ReadCuratedLakeManaged"], None),
    }

    def attached(request):
        names, marker = pages[query_params(request).get("Marker")]
        members = xml_members([{"PolicyName": n, "PolicyArn": f"{b}:policy/{n}"} for n in names])
        more = (
            f"<IsTruncated>true</IsTruncated><Marker>{marker}</Marker>"
            if marker
            else ("<IsTruncated>false</IsTruncated>")
        )
        result = f"<AttachedPolicies>{members}</AttachedPolicies>{more}"
        return iam_response(request, "ListAttachedRolePolicies", result)

    aws_answers.on("iam:ListAttachedRolePolicies", attached)
    aws_answers.on(
        "iam:ListRolePolicies",
        lambda r: iam_response(
            r, "ListRolePolicies", "<PolicyNames></PolicyNames><IsTruncated>false</IsTruncated>"
        ),
    )
    report = diagnose(trust_sandbox)
    assert aws_answers.answered["iam:ListAttachedRolePolicies"] == 2
    identity = report["locks"]["identity"]
    assert identity["status"] == "allow", identity["reason"]
    assert "managed policy ReadCuratedLakeManaged" in identity["reason"]
