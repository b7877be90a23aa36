"""`kmsdoctor collect` against moto accounts A and B, through the real CLI entry point.

Each test is named after the incident it prevents.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import botocore.session
import pytest

from bench.depth import DepthTracer
from kmsdoctor import aws
from kmsdoctor.snapshot import Snapshot
from moto_fixtures.builder import load_scenario, scenario_names

DEMO = "key-policy-missing-principal"
OBJECT_KEY = "sales/2026/q1/regions.parquet"


def collect(box, run_cli, tmp_path: Path, *extra: str, command: str = "collect"):
    output = tmp_path / "snapshot.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    result = run_cli(*box.cli_args(command, "--output", str(output), *extra))
    assert result.exit_code == 0, result.stderr
    text = output.read_text(encoding="utf-8")
    # The shorthand's questions (one per principal, same object) as one view: the resource
    # account's `source` side and the caller account's `target` side with every principal.
    return Snapshot.from_json(text).combined_view(), text, result


def one_line_error(result) -> str:
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- what a snapshot must hold -------------------------------------------------------------


def test_snapshot_holds_every_lock_input_so_the_shut_key_policy_is_visible(
    sandbox, run_cli, tmp_path
):
    box = sandbox(DEMO)
    snapshot, text, result = collect(box, run_cli, tmp_path)
    source, target = snapshot.source, snapshot.target
    key_arn = box.key_arns["data"]

    assert source.account_id.value == "111111111111"
    assert target.account_id.value == "222222222222"
    # key policy: only A's root, the BI role is missing (the incident)
    assert source.key is not None and source.key.arn == key_arn
    assert source.key.found_on == "object"
    sids = [s["Sid"] for s in source.key.policy.value.document["Statement"]]
    assert sids == ["EnableRootOfAccountA"]
    assert source.key.aliases.value == ["alias/datalake"]
    assert source.key.metadata.value.key_state == "Enabled"
    # bucket policy and default encryption
    statement = source.bucket.policy.value.document["Statement"][0]
    assert statement["Principal"] == {"AWS": box.role_arns["BIAnalyticsRole"]}
    assert source.bucket.encryption.value.kms_master_key_id == key_arn
    assert source.bucket.ownership_controls.value == "BucketOwnerEnforced"
    assert source.bucket.public_access_block.value.restrict_public_buckets is True
    # the object's own key
    assert source.object.value.sse_algorithm == "aws:kms"
    assert source.object.value.kms_key_id == key_arn
    # the caller's role and its policies
    (principal,) = target.principals
    assert principal.source == "caller"
    assert principal.arn == box.role_arns["BIAnalyticsRole"]
    assert principal.session_arn.startswith("arn:aws:sts::222222222222:assumed-role/BIAnalytics")
    assert principal.entity.value.unique_id == box.role_ids["BIAnalyticsRole"]
    assert [p.name for p in principal.inline_policies.value] == ["ReadCuratedLake"]
    decrypt = principal.inline_policies.value[0].document["Statement"][1]
    assert decrypt["Resource"] == key_arn
    assert principal.session_policy.status == "unknown"
    # no credential anywhere: snapshot, stdout, stderr
    assert box.secrets
    for secret in box.secrets:
        assert secret not in text
        assert secret not in result.stdout + result.stderr


def test_key_policy_the_profile_cannot_read_is_unknown_with_aws_error_code(
    sandbox, aws_faults, run_cli, tmp_path
):
    box = sandbox(DEMO)
    aws_faults.add(
        "kms",
        "GetKeyPolicy",
        "AccessDeniedException",
        "User: arn:aws:sts::111111111111:assumed-role/ReadOnly/x is not authorized to perform: "
        "kms:GetKeyPolicy on resource: " + box.key_arns["data"],
    )
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    key = snapshot.source.key
    assert key.metadata.is_ok  # the rest of the key is still read
    assert key.policy.status == "unknown"
    assert key.policy.error.operation == "kms:GetKeyPolicy"
    assert key.policy.error.code == "AccessDeniedException"
    assert "not authorized to perform: kms:GetKeyPolicy" in key.policy.error.message


def test_collect_json_lists_what_the_profiles_could_not_read(
    sandbox, aws_faults, run_cli, tmp_path
):
    # A smoke-test script after a policy change: which facts went unknown, without opening the
    # snapshot.
    box = sandbox(DEMO)
    aws_faults.add("kms", "GetKeyPolicy", "AccessDeniedException", "not authorized")
    _, _, result = collect(box, run_cli, tmp_path, "--format", "json")
    report = json.loads(result.stdout)
    assert report["schema_version"] == 2  # the snapshot written is schema v2
    assert report["output"] == str(tmp_path / "snapshot.json")
    assert {
        "where": "source.key.policy",
        "operation": "kms:GetKeyPolicy",
        "code": "AccessDeniedException",
    } in report["unknown"]
    _, _, text = collect(box, run_cli, tmp_path)
    assert "unknown: source.key.policy (kms:GetKeyPolicy AccessDeniedException)" in text.stdout


def test_bucket_without_policy_is_absent_not_unknown(sandbox, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    bucket = scenario["source"]["bucket"]
    bucket["policy"] = None
    del bucket["ownership"], bucket["public_access_block"]
    snapshot, _, _ = collect(sandbox(scenario), run_cli, tmp_path)
    collected = snapshot.source.bucket
    assert collected.policy.status == "absent"
    assert collected.policy.error.code == "NoSuchBucketPolicy"
    assert collected.ownership_controls.status == "absent"
    assert collected.public_access_block.status == "absent"


def test_role_with_no_inline_policies_is_an_empty_list_and_managed_ones_are_read(
    sandbox, run_cli, tmp_path
):
    scenario = load_scenario(DEMO)
    role = scenario["target"]["roles"]["BIAnalyticsRole"]
    document = role.pop("inline")["ReadCuratedLake"]
    role["managed"] = {"ReadCuratedLakeManaged": document}
    role["boundary"] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}],
    }
    snapshot, _, _ = collect(sandbox(scenario), run_cli, tmp_path)
    (principal,) = snapshot.target.principals
    assert principal.inline_policies.status == "ok"
    assert principal.inline_policies.value == []
    (managed,) = principal.attached_policies.value
    assert managed.name == "ReadCuratedLakeManaged"
    assert managed.version_id == "v1"
    assert managed.document["Statement"][1]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert principal.permissions_boundary.value.document["Statement"][0]["Action"] == [
        "s3:*",
        "kms:*",
    ]


def test_missing_object_is_absent_and_the_bucket_default_key_is_used(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    snapshot, _, _ = collect(box, run_cli, tmp_path, "--key", "sales/nope.parquet")
    assert snapshot.source.object.status == "absent"
    assert snapshot.source.object.error.code == "404"
    assert snapshot.source.key.found_on == "bucket_default"
    assert snapshot.source.key.arn == box.key_arns["data"]


def test_sse_s3_object_has_no_key_even_though_the_bucket_default_names_one(
    sandbox, run_cli, tmp_path
):
    snapshot, _, _ = collect(sandbox("sse-s3-object"), run_cli, tmp_path)
    assert snapshot.source.object.value.sse_algorithm == "AES256"
    assert snapshot.source.key is None


def test_bucket_default_given_as_alias_resolves_to_the_key_in_its_region(
    sandbox, run_cli, tmp_path
):
    scenario = load_scenario(DEMO)
    scenario["source"]["keys"]["data"]["region"] = "us-east-2"
    scenario["source"]["keys"]["data"]["state"] = "Disabled"
    alias_arn = "arn:aws:kms:us-east-2:111111111111:alias/datalake"
    scenario["source"]["bucket"]["encryption"]["kms_key"] = alias_arn
    scenario["source"]["bucket"]["encryption"]["bucket_key_enabled"] = True
    scenario["command"]["key"] = None
    box = sandbox(scenario)
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    key = snapshot.source.key
    assert snapshot.source.object is None
    assert key.reference == alias_arn and key.found_on == "bucket_default"
    assert key.arn == box.key_arns["data"] and ":us-east-2:" in key.arn
    assert key.metadata.value.key_state == "Disabled"
    assert snapshot.source.bucket.encryption.value.bucket_key_enabled is True


def test_role_arn_principal_is_read_from_iam_without_a_session(sandbox, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    scenario["target"]["roles"]["DeployRole"] = {"path": "/pipeline/", "recreated": True}
    box = sandbox(scenario)
    deploy_arn = box.role_arns["DeployRole"]
    assert deploy_arn == "arn:aws:iam::222222222222:role/pipeline/DeployRole"
    snapshot, _, _ = collect(box, run_cli, tmp_path, "--role-arn", deploy_arn)
    (principal,) = snapshot.target.principals
    assert principal.source == "role_arn" and principal.session_arn is None
    assert principal.entity.value.path == "/pipeline/"
    assert principal.entity.value.unique_id == box.role_ids["DeployRole"]
    assert box.stale_role_ids["DeployRole"] != box.role_ids["DeployRole"]
    assert principal.session_policy.status == "absent"
    assert snapshot.request.role_arns == [deploy_arn]


# --- organizations -------------------------------------------------------------------------

RCP = {
    "name": "DenyKmsToOutsiders",
    "type": "RESOURCE_CONTROL_POLICY",
    "target": "Data",
    "document": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyOutsideOrg",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-example"}},
            }
        ],
    },
}


def test_rcps_over_the_key_owner_are_collected_root_first(sandbox, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    scenario["organization"] = {
        "management_account": "source",
        "units": {"Data": "root"},
        "account_unit": "Data",
        "policies": [RCP],
    }
    snapshot, _, _ = collect(sandbox(scenario), run_cli, tmp_path)
    source, target = snapshot.source, snapshot.target
    assert source.organization.value.management_account_id == "111111111111"
    levels = source.rcps.value
    assert [level.target_type for level in levels] == ["ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"]
    assert levels[1].name == "Data"
    # moto attaches AWS's default RCPFullAWSAccess to every new OU, as AWS does.
    assert sorted(p.name for p in levels[1].policies) == ["DenyKmsToOutsiders", "RCPFullAWSAccess"]
    (ours,) = [p for p in levels[1].policies if p.name == "DenyKmsToOutsiders"]
    assert ours.document["Statement"][0]["Sid"] == "DenyOutsideOrg"
    assert ours.arn.startswith("arn:aws:organizations::111111111111:policy/")
    # B is outside any organization in this sandbox: no SCP can apply, and it says why.
    assert target.scps.status == "absent"
    assert target.scps.error.code == "AWSOrganizationsNotInUseException"


def test_scps_a_member_account_may_not_read_are_unknown(sandbox, aws_faults, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    scenario["organization"] = {"management_account": "target", "policies": []}
    box = sandbox(scenario)
    aws_faults.add(
        "organizations",
        "ListPoliciesForTarget",
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    )
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    assert snapshot.target.organization.is_ok
    assert snapshot.target.scps.status == "unknown"
    assert snapshot.target.scps.error.code == "AccessDeniedException"


# --- bad input: one line, exit 2 -----------------------------------------------------------


def test_unknown_profile_exits_2_with_one_line(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    args = box.cli_args("collect", "--output", str(tmp_path / "s.json"))
    args[args.index("--source-profile") + 1] = "prod-typo"
    line = one_line_error(run_cli(*args))
    assert line == "kmsdoctor: profile 'prod-typo' is not in your AWS config files"


def test_missing_bucket_exits_2_naming_bucket_and_profile(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    args = box.cli_args("collect", "--output", str(tmp_path / "s.json"))
    args[args.index("--bucket") + 1] = "datalake-curated-typo"
    line = one_line_error(run_cli(*args))
    assert "bucket datalake-curated-typo does not exist or is not visible to profile a" in line
    assert not (tmp_path / "s.json").exists()


def test_nonexistent_kms_key_given_explicitly_exits_2(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    missing = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000000"
    result = run_cli(
        *box.cli_args("collect", "--output", str(tmp_path / "s.json"), "--kms-key", missing)
    )
    assert f"KMS key {missing} does not exist or is not visible to profile a" in one_line_error(
        result
    )


def test_explicit_kms_key_is_used_when_no_object_is_given(sandbox, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    scenario["command"]["key"] = None
    box = sandbox(scenario)
    snapshot, _, _ = collect(box, run_cli, tmp_path, "--kms-key", "alias/datalake")
    assert snapshot.source.key.found_on == "request"
    assert snapshot.source.key.arn == box.key_arns["data"]
    assert snapshot.source.key.policy.is_ok


def test_expired_session_token_exits_2_without_the_token(sandbox, aws_faults, run_cli, tmp_path):
    box = sandbox(DEMO)
    aws_faults.add(
        "sts",
        "GetCallerIdentity",
        "ExpiredToken",
        "The security token included in the request is expired",
        status=403,
    )
    result = run_cli(*box.cli_args("collect", "--output", str(tmp_path / "s.json")))
    line = one_line_error(result)
    assert "AWS rejected the credentials of profile 'a' (ExpiredToken)" in line
    for secret in box.secrets:
        assert secret not in result.stderr


def test_malformed_role_arn_exits_2(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    result = run_cli(
        *box.cli_args("collect", "--output", str(tmp_path / "s.json"), "--role-arn", "BIRole")
    )
    assert "is not an IAM role ARN" in one_line_error(result)


def test_user_arn_given_as_role_arn_stops_diagnose_before_any_aws_call(
    sandbox, run_cli, read_only_guard, request
):
    """diagnose assumes the --role-arn roles while it collects: a wrong ARN must not reach STS."""
    box = sandbox(DEMO)
    user_arn = "arn:aws:iam::222222222222:user/BIAnalyticsRole"
    result = run_cli(*box.cli_args("diagnose", "--role-arn", user_arn))
    assert result.exit_code == 2
    assert f"--role-arn {user_arn!r} is not an IAM role ARN" in one_line_error(result)
    read_only_guard.settle()  # workers still running after the error would show here
    assert read_only_guard.operations_in(request.node.nodeid) == []


# --- resilience and speed --------------------------------------------------------------------


def test_throttled_calls_are_retried_instead_of_recorded_unknown(
    sandbox, aws_faults, run_cli, tmp_path, fast_retries
):
    box = sandbox(DEMO)
    aws_faults.calls.clear()  # count only the collector's calls, not the builder's
    aws_faults.add("kms", "GetKeyPolicy", "ThrottlingException", "Rate exceeded", times=2)
    aws_faults.add("s3", "GetBucketPolicy", "SlowDown", "Please reduce your request rate.", 503, 1)
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    assert snapshot.source.key.policy.is_ok
    assert snapshot.source.bucket.policy.is_ok
    assert aws_faults.calls.count("kms:GetKeyPolicy") == 3
    assert aws_faults.calls.count("s3:GetBucketPolicy") == 2


def test_persistent_server_errors_end_as_unknown_after_bounded_retries(
    sandbox, aws_faults, run_cli, tmp_path, fast_retries
):
    box = sandbox(DEMO)
    aws_faults.calls.clear()
    aws_faults.add("kms", "ListGrants", "KMSInternalException", "internal", status=500)
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    assert snapshot.source.key.grants.status == "unknown"
    assert snapshot.source.key.grants.error.code == "KMSInternalException"
    assert aws_faults.calls.count("kms:ListGrants") == aws.ATTEMPTS


def test_independent_calls_run_concurrently_not_one_after_another(
    sandbox, aws_faults, run_cli, tmp_path
):
    """Collection must cost about its longest chain of dependent calls (3-4 here), not the sum
    of all calls (more than 20). Counted, not timed: the chain's length (dependency depth), and
    whether the first independent calls are all in flight at once — each call is held at the
    network until CONCURRENT calls are waiting together (a collector that made them one after
    another never gets there, however fast the machine), then everything is let through."""
    box = sandbox(DEMO)
    concurrent = 6
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}
    together = threading.Event()

    def held_network(_: str) -> None:
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            if in_flight["now"] >= concurrent:
                together.set()
        # A serial collector waits out the bound once, then the latch opens for everyone.
        if not together.wait(timeout=30):
            together.set()
        with lock:
            in_flight["now"] -= 1

    aws_faults.calls.clear()
    aws_faults.observers.append(held_network)
    with DepthTracer() as tracer:
        collect(box, run_cli, tmp_path)
    calls = len(aws_faults.calls)
    assert calls > 20
    assert in_flight["max"] >= concurrent, in_flight
    assert tracer.depth <= 4, " -> ".join(tracer.longest_chain)
    assert len(tracer.records) == calls  # the tracer saw every call the network did


# --- read-only and no secrets ----------------------------------------------------------------


def test_every_call_collect_makes_is_on_the_allow_list(sandbox, aws_faults, run_cli, tmp_path):
    scenario = load_scenario(DEMO)
    scenario["organization"] = {"management_account": "source", "policies": [RCP]}
    scenario["organization"]["units"] = {"Data": "root"}
    box = sandbox(scenario)
    aws_faults.calls.clear()
    collect(box, run_cli, tmp_path)
    made = set(aws_faults.calls)
    assert {"kms:GetKeyPolicy", "iam:GetRolePolicy", "organizations:DescribePolicy"} <= made
    assert made <= aws.ALLOWED_OPERATIONS


def test_an_operation_off_the_allow_list_is_refused_before_it_is_sent(sandbox, aws_faults, request):
    box = sandbox(DEMO)
    aws_faults.calls.clear()
    s3 = aws.client(aws.session_for("a", box.region), "s3")
    with pytest.raises(aws.OperationNotAllowed, match="s3:PutObject"):
        aws.call(s3, "PutObject", Bucket=box.bucket, Key="x", Body=b"x")
    assert "s3:PutObject" not in aws_faults.calls  # never reached the wire
    assert not hasattr(s3, "put_object")  # kmsdoctor's clients are made on slim models
    if "read_only_guard" in request.fixturenames:
        # Refused by name before botocore was asked: the suite-wide guard (tests/conftest.py),
        # which watches botocore's calls, saw no attempt at all.
        assert request.getfixturevalue("read_only_guard").take_off_list() == []


def test_allow_list_names_only_operations_that_exist():
    models = botocore.session.get_session()
    for entry in aws.ALLOWED_OPERATIONS:
        service, operation = entry.split(":")
        assert operation in models.get_service_model(service).operation_names, entry


def test_debug_log_names_each_call_but_never_credentials_or_policies(sandbox, run_cli, tmp_path):
    box = sandbox(DEMO)
    output = tmp_path / "s.json"
    result = run_cli(*box.cli_args("collect", "--output", str(output), "--debug"))
    assert result.exit_code == 0
    assert "aws kms:GetKeyPolicy ok" in result.stderr
    assert "aws s3:GetBucketPolicy ok" in result.stderr
    assert "EnableRootOfAccountA" not in result.stderr  # no bodies
    for secret in box.secrets:
        assert secret not in result.stderr


# One scenario per collection path (KMS object, SSE-S3 object, each failure trace). Every
# scenario file runs through `diagnose` in tests/analyze/test_scenarios.py.
COLLECTION_SCENARIOS = [
    "healthy-cross-account-read",
    "identity-missing-kms-decrypt",
    "bucket-policy-missing-principal",
    "key-policy-missing-principal",
    "sse-s3-object",
]


def test_collection_scenarios_exist():
    assert set(COLLECTION_SCENARIOS) <= set(scenario_names())


@pytest.mark.parametrize("name", COLLECTION_SCENARIOS)
def test_scenario_builds_and_collects_the_key_its_object_uses(name, sandbox, run_cli, tmp_path):
    box = sandbox(name)
    snapshot, _, _ = collect(box, run_cli, tmp_path)
    object_key = box.scenario["command"].get("key")
    written = [o for o in box.scenario["source"]["objects"] if o["key"] == object_key]
    if not object_key:
        assert snapshot.source.object is None
    elif not written:
        assert snapshot.source.object.status == "absent"
    else:
        collected = snapshot.source.object.value
        # omitted in the fixture = the bucket default's algorithm
        algorithm = written[0].get("sse_algorithm") or collected.sse_algorithm
        assert collected.sse_algorithm == algorithm
        key = snapshot.source.key
        if algorithm.startswith("aws:kms"):
            assert key is not None and key.found_on == "object" and key.metadata.is_ok
        else:
            assert key is None


def test_threads_paging_their_first_results_together_walk_the_service_models_once(monkeypatch):
    """At the start of a collection, many calls ask botocore's model loader at once which
    services it knows (a walk of its data directories, cached only once it finishes): the
    collection walked them once per thread, seconds of CPU on a pipeline of four accounts. The
    shared loader walks them once per model type however many threads ask together."""
    import botocore.loaders

    loader = botocore.session.get_session().get_component("data_loader")
    walks: list[str] = []
    real_listdir = botocore.loaders.os.listdir
    search_paths = [str(path) for path in loader.search_paths]

    def counting_listdir(path):
        if str(path) in search_paths:  # a walk lists each search path once
            walks.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(botocore.loaders.os, "listdir", counting_listdir)
    aws._list_services_once(loader)
    threads = 16
    together = threading.Barrier(threads)
    answers: list[list[str]] = []

    def ask() -> None:
        together.wait()
        answers.append(loader.list_available_services("paginators-1"))

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    existing = [path for path in search_paths if Path(path).is_dir()]
    assert len(walks) == len(existing)  # one walk, not one per thread
    assert len(answers) == threads and all(answer == answers[0] for answer in answers)
    assert "s3" in answers[0]
