"""Whole snapshots, hand-edited, truncated or carrying any policy text at all, through the real
`kmsdoctor analyze FILE`: always exit 0/1/3 with a report, or 2 with one line naming the
problem — never a traceback, never an "internal error".

Together with tests/policy (1,400 property examples) and tests/snapshot (6,000 reader examples)
the suite generates over 10,000 policies and snapshots. This module adds 3,200: 2,000 policies
straight into the parser (errors must name the place; the encoding AWS used must not matter),
and 1,200 snapshots through the CLI, the analysis and both renderers.

Base snapshots are real ones: collected by kmsdoctor from the package's moto sandbox (a role
caller with an organization, a boundary, managed policies and a grant; a user caller in a
group), plus one built by the analysis tests' factory with SCP and RCP levels, a target
organization and VPC endpoint policies — so every place a policy can sit is fuzzed.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.policy import PolicyError, Request, RequestPrincipal, parse_policy
from tests.trust.harness import USER_PROFILE, CliRun, run_kmsdoctor

EXIT_FOR_VERDICT = {"allow": 0, "deny": 1, "unknown": 3}
# Mostly JSON, which the properties can read; the text renderer (slower) one run in six.
FORMATS = st.sampled_from(["json"] * 5 + ["text"])
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- base snapshots ----------------------------------------------------------------------------


def _factory_snapshot() -> dict[str, Any]:
    from kmsdoctor.snapshot import Organization
    from tests.analyze import factories as f

    deny_outside_vpce = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
        ],
    }
    snapshot = f.make_snapshot(
        target_org=Organization(id=f.ORG_ID, management_account_id="999999999999"),
        source_org=Organization(id=f.ORG_ID, management_account_id="999999999999"),
        scps=[
            f.level("ROOT", "Root", f.FULL_ACCESS_SCP),
            f.level("ACCOUNT", f.B, f.FULL_ACCESS_SCP),
        ],
        rcps=[f.level("ROOT", "Root", f.FULL_ACCESS_SCP)],
        vpc_endpoints=[f.endpoint(deny_outside_vpce)],
        principals=[
            f.make_principal(
                boundary=f.allow_all_policy(), attached={"Extra": f.allow_all_policy()}
            )
        ],
    )
    return snapshot.to_dict()


@pytest.fixture(scope="module")
def base_snapshots(trust_sandbox, tmp_path_factory) -> list[dict[str, Any]]:
    bases = [_factory_snapshot()]
    for profile in ("b", USER_PROFILE):
        output = tmp_path_factory.mktemp("base") / "snapshot.json"
        run = run_kmsdoctor(
            *trust_sandbox.args("collect", "--output", str(output), profile=profile)
        )
        assert run.exit_code == 0, run.output
        bases.append(json.loads(output.read_text(encoding="utf-8")))
    return bases


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "snapshot.json"


# --- what every run must end in --------------------------------------------------------------


def analyze(path: Path, text: str, output_format: str) -> CliRun:
    path.write_text(text, encoding="utf-8")
    return run_kmsdoctor("analyze", str(path), "--format", output_format)


def assert_report_or_one_line(run: CliRun, output_format: str) -> dict[str, Any] | None:
    """Exit 0/1/3 with a report on stdout and nothing on stderr, or exit 2 with one line.
    Returns the JSON report when there is one."""
    assert "Traceback" not in run.output
    if run.exit_code == 2:
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kmsdoctor: "), run.stderr
        assert "internal error" not in lines[0], lines[0]
        assert run.stdout == ""
        return None
    assert run.exit_code in (0, 1, 3), (run.exit_code, run.stderr)
    assert run.stderr == "", run.stderr
    if output_format == "text":
        assert run.stdout.strip()
        return None
    report = json.loads(run.stdout)
    assert run.exit_code == EXIT_FOR_VERDICT[report["verdict"]]
    return report


# --- whole-snapshot fuzz: structure -------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["ok", "absent", "unknown", "Enabled", "aws:kms", "*", "ROOT", "role"])
)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def edited_snapshots(draw: st.DrawFn, bases: list[dict[str, Any]]) -> str:
    """A base snapshot after 1-4 hand edits: a value replaced by any JSON, a field deleted, a
    list item duplicated or dropped; sometimes the file is also cut short."""
    data = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent, last = _parent(data, path), path[-1]
        edit = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
        if edit == "replace":
            parent[last] = draw(json_values)
        elif edit == "delete":
            del parent[last]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = [copy.deepcopy(parent[last])]
    text = json.dumps(data)
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@settings(FUZZ, max_examples=600)
@given(data=st.data(), output_format=FORMATS)
def test_any_hand_edited_snapshot_gives_a_report_or_one_line(
    data, output_format, base_snapshots, snapshot_file
):
    text = data.draw(edited_snapshots(base_snapshots))
    assert_report_or_one_line(analyze(snapshot_file, text, output_format), output_format)


# --- whole-snapshot fuzz: any policy, anywhere ---------------------------------------------------

KEY_ARN_LIKE = "arn:aws:kms:eu-west-1:111111111111:key/*"
VOCABULARY = [
    "2012-10-17",
    "Allow",
    "Deny",
    "*",
    "s3:GetObject",
    "s3:*",
    "kms:Decrypt",
    "kms:*",
    "kms:GenerateDataKey",
    "arn:aws:s3:::datalake-curated-a/*",
    "arn:aws:s3:::datalake-curated-a",
    KEY_ARN_LIKE,
    "arn:aws:iam::222222222222:role/BIAnalyticsRole",
    "arn:aws:iam::222222222222:root",
    "222222222222",
    "AROAEXAMPLECURRENT001",
    "o-exampleorg",
    "s3.eu-west-1.amazonaws.com",
    "${aws:PrincipalTag/team}",
    "10.0.0.0/8",
    "vpce-0b1a2c3d",
    "true",
    "",
]
CONDITION_KEYS = [
    "aws:PrincipalOrgID",
    "aws:PrincipalArn",
    "aws:SourceVpce",
    "aws:SecureTransport",
    "kms:ViaService",
    "kms:CallerAccount",
    "kms:EncryptionContext:aws:s3:arn",
    "s3:x-amz-server-side-encryption",
    "aws:username",
]
OPERATORS = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLikeIfExists",
    "ArnLike",
    "ArnNotEquals",
    "Bool",
    "Null",
    "IpAddress",
    "NumericLessThan",
    "DateGreaterThan",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringLike",
    "BinaryEquals",
    "Bogus",
]
words = st.sampled_from(VOCABULARY) | st.text(max_size=10)
one_or_many = words | st.lists(words, max_size=3)
principals = st.sampled_from(["*"]) | st.dictionaries(
    st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser", "Bogus"]),
    one_or_many,
    max_size=2,
)
conditions = st.dictionaries(
    st.sampled_from(OPERATORS),
    st.dictionaries(st.sampled_from(CONDITION_KEYS), one_or_many | st.integers(), max_size=2),
    max_size=2,
)
statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "allow", "Maybe"])},
    optional={
        "Sid": words,
        "Principal": principals,
        "NotPrincipal": principals,
        "Action": one_or_many,
        "NotAction": one_or_many,
        "Resource": one_or_many,
        "NotResource": one_or_many,
        "Condition": conditions,
    },
)
policies = (
    st.fixed_dictionaries(
        {"Statement": st.lists(statements, max_size=4) | statements},
        optional={
            "Version": st.sampled_from(["2012-10-17", "2008-10-17", "yesterday"]),
            "Id": words,
        },
    )
    | json_values  # not a policy at all
    | st.text(max_size=60)  # raw text AWS handed over that is not JSON
)
# Where a policy document sits in a snapshot, by the lock that reads it, and its policy kind.
PLACES = [
    (("source", "bucket", "policy"), "bucket_policy", "resource"),
    (("source", "key", "policy"), "key_policy", "resource"),
    (("inline_policies",), "identity", "identity"),
    (("attached_policies",), "identity", "identity"),
    (("group_policies",), "identity", "identity"),
    (("permissions_boundary",), "permissions_boundary", "permissions_boundary"),
    (("source", "rcps"), "rcp", "rcp"),
    (("target", "scps"), "scp", "scp"),
    (("target", "vpc_endpoints"), "vpc_endpoint", "vpc_endpoint"),
]
NEEDED_LOCKS = {"identity", "bucket_policy", "key_policy"}


_DOCUMENTS: dict[int, list[tuple[tuple[Any, ...], str, str]]] = {}


def _documents(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    """(path to a `document`, its lock, its policy kind) for every policy in a base snapshot."""
    if id(data) not in _DOCUMENTS:
        _DOCUMENTS[id(data)] = _find_documents(data)
    return _DOCUMENTS[id(data)]


def _find_documents(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    found = []
    for path in _paths(data):
        if path[-1] != "document":
            continue
        for marker, lock, kind in PLACES:
            if all(part in path for part in marker) and "trust_policy" not in path:
                found.append((path, lock, kind))
                break
    return found


def _readable(document: Any, kind: str) -> bool:
    try:
        parse_policy(document, name="fuzz", kind=kind)  # type: ignore[arg-type]
    except PolicyError:
        return False
    return True


@settings(FUZZ, max_examples=600)
@given(data=st.data(), output_format=FORMATS)
def test_any_policy_anywhere_gives_a_report_and_an_unreadable_one_never_allows(
    data, output_format, base_snapshots, snapshot_file
):
    base = data.draw(st.sampled_from(base_snapshots))
    path, lock, kind = data.draw(st.sampled_from(_documents(base)))
    snapshot = copy.deepcopy(base)
    document = data.draw(policies)
    _parent(snapshot, path)[path[-1]] = document

    run = analyze(snapshot_file, json.dumps(snapshot), output_format)
    report = assert_report_or_one_line(run, output_format)
    assert run.exit_code != 2, run.stderr  # the snapshot itself is well-formed
    if report is None or _readable(document, kind):
        return
    # A policy that cannot be read could hold the deciding Deny: its lock may not say allow,
    # and a needed lock that is not known may not let the verdict say allow either.
    status = report["locks"][lock]["status"]
    assert status != "allow", report["locks"][lock]["reason"]
    if lock in NEEDED_LOCKS:
        assert report["verdict"] != "allow"


def test_the_fuzzed_places_cover_every_kind_of_policy(base_snapshots):
    locks = {lock for base in base_snapshots for _, lock, _ in _documents(base)}
    assert locks == {place[1] for place in PLACES}


# --- the policy parser alone: any policy, in any of AWS's encodings ----------------------------

KINDS = ["identity", "resource", "permissions_boundary", "session", "scp", "rcp", "vpc_endpoint"]
CALLER = RequestPrincipal(
    "arn:aws:sts::222222222222:assumed-role/BIAnalyticsRole/oncall",
    "222222222222",
    entity_arn="arn:aws:iam::222222222222:role/BIAnalyticsRole",
)
CONTEXT = {
    "aws:PrincipalOrgID": "o-exampleorg",
    "aws:PrincipalArn": "arn:aws:iam::222222222222:role/BIAnalyticsRole",
    "aws:SecureTransport": "true",
    "kms:ViaService": "s3.eu-west-1.amazonaws.com",
    "kms:CallerAccount": "222222222222",
    "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::datalake-curated-a/sales/q1.parquet",
}
DIAGNOSIS_REQUESTS = [
    Request("s3:GetObject", "arn:aws:s3:::datalake-curated-a/sales/q1.parquet", CALLER, CONTEXT),
    Request("kms:Decrypt", "arn:aws:kms:eu-west-1:111111111111:key/abcd", CALLER, CONTEXT),
]


def _outcome(document: Any, kind: str) -> tuple[str, str]:
    """("ok", "") or ("error", place): what the parser makes of one encoding."""
    try:
        policy = parse_policy(document, name="fuzzed policy", kind=kind)  # type: ignore[arg-type]
    except PolicyError as error:
        assert error.policy_name == "fuzzed policy"
        assert error.message  # the location is "" for the document itself (its top level)
        assert "\n" not in error.message, error.message  # one line in the report's reason
        return "error", error.location
    for request in DIAGNOSIS_REQUESTS:
        result = policy.evaluate(request, principal_has_boundary=True)
        assert len(result.statements) == len(policy.statements)
    return "ok", ""


@settings(FUZZ, max_examples=2000)
@given(document=policies, kind=st.sampled_from(KINDS))
def test_any_policy_parses_or_names_the_place_whatever_encoding_aws_used(document, kind):
    """As parsed JSON (botocore decodes IAM's), as JSON text (S3, KMS, Organizations) and as
    URL-encoded text (IAM's raw form): the same outcome, and an error says where."""
    outcome = _outcome(document, kind)
    if isinstance(document, dict):
        text = json.dumps(document)
        assert _outcome(text, kind) == outcome
        assert _outcome(urllib.parse.quote(text), kind) == outcome
    kind_of_outcome, place = outcome
    statement = re.match(r"Statement\[(\d+)\]", place)
    if kind_of_outcome == "error" and statement and isinstance(document, dict):
        listed = document.get("Statement")
        count = len(listed) if isinstance(listed, list) else 1
        assert int(statement.group(1)) < count, place  # the place exists in the document
