"""`kmsdoctor pipeline` end to end against the reference pipeline in moto: one test per incident
of reference 000, each saying which stage, action and principal breaks and which lock says so."""

from __future__ import annotations

import json
import threading

import pytest

from moto_fixtures.pipeline import ACCOUNTS, PIPELINE, PIPELINE_SCENARIOS

# GetPipeline -> BatchGetProjects -> (the fact store) ListObjectsV2 of the artifact prefix ->
# HeadObject -> DescribeKey with GetKeyPolicy, ListGrants, ListAliases, ListResourceTags (the head
# names the key by its ARN: the key's reads go out together; read ahead from the bucket default,
# they sit beside the heads instead). What each profile's account needs whatever the pipeline
# says (identity, bucket list, SCPs, VPC endpoints) is read beside GetPipeline, off this chain.
PIPELINE_DEPTH = 5


def args(box, *extra: str, accounts: tuple[str, ...] = ("dev", "staging", "prod")) -> list[str]:
    return [
        "pipeline",
        "--source-profile",
        "tooling",
        "--name",
        PIPELINE,
        *box.account_profiles(*accounts),
        *extra,
    ]


def rows_of(result) -> list[dict]:
    return json.loads(result.stdout)["actions"]


def failing_required(rows: list[dict]) -> set[tuple[str, str, str]]:
    return {
        (row["stage"], row["action"], row["principal"])
        for row in rows
        if row["need"] == "required" and row["verdict"] != "allow"
    }


@pytest.mark.parametrize("name", sorted(PIPELINE_SCENARIOS))
def test_each_incident_names_the_stage_action_principal_and_lock(name, pipeline_box, run_cli):
    box = pipeline_box(name)
    expect = box.scenario["expect"]
    result = run_cli(*args(box, "--no-probe", "--format", "json"))
    assert result.exit_code == expect["exit_code"], result.stderr
    rows = rows_of(result)
    expected = {(stage, action, principal) for stage, action, principal, _, _ in expect["failing"]}
    assert failing_required(rows) >= expected
    for stage, action, principal, operation, lock in expect["failing"]:
        row = next(
            r
            for r in rows
            if (r["stage"], r["action"], r["principal"], r["operation"])
            == (stage, action, principal, operation)
        )
        assert row["verdict"] == "deny"
        assert lock in row["locks_shut"], (row["locks_shut"], row["reasons"])
    codes = {f["code"] for row in rows for f in row["findings"]}
    assert set(expect.get("codes", [])) <= codes


def test_healthy_pipeline_every_principal_of_every_stage_is_checked(pipeline_box, run_cli):
    box = pipeline_box("healthy-cross-account-pipeline")
    result = run_cli(*args(box, "--no-probe", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "allow"
    assert document["pipeline"]["account"] == ACCOUNTS["tooling"]
    assert document["artifact_stores"] == [
        {
            "region": "eu-west-1",
            "bucket": "tooling-pipeline-artefacts",
            "encryption_key": box.key_arn,
            "key_form": "arn",
        }
    ]
    kinds = {(row["stage"], row["role_kind"], row["operation"]) for row in document["actions"]}
    assert kinds == {
        ("Source", "pipeline_role", "write"),
        ("Build", "codebuild_service_role", "read"),
        ("Build", "codebuild_service_role", "write"),
        *{(f"Deploy{s}", "action_role", "read") for s in ("Dev", "Staging", "Prod")},
        *{
            (f"Deploy{s}", "cloudformation_execution_role", "read")
            for s in ("Dev", "Staging", "Prod")
        },
    }
    dev_exec = next(
        r for r in document["actions"] if r["principal"].endswith(":role/DevCfnExecutionRole")
    )
    assert dev_exec["need"] == "if_template_reads_artifacts"
    for key in ("schema_version", "kmsdoctor_version", "generated_at", "request"):
        assert key in document


def test_text_report_is_a_stage_table_then_the_failures_only(pipeline_box, run_cli):
    box = pipeline_box("deploy-role-lacks-kms-decrypt")
    result = run_cli(*args(box, "--no-probe"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    staging = next(
        line for line in lines if line.startswith("DeployStaging") and "StagingDeployRole" in line
    )
    assert "✗" in staging and "identity" in staging and "KD101" in staging
    prod = next(
        line for line in lines if line.startswith("DeployProd") and "ProdDeployRole" in line
    )
    assert prod.rstrip().endswith("✓")
    details = result.stdout.split("Failures and unknowns", 1)[1]
    assert "StagingDeployRole (333333333333) cannot read BuildArtifact" in details
    assert "ProdDeployRole" not in details


def test_an_account_without_a_profile_is_unknown_and_names_the_profile_to_add(
    pipeline_box, run_cli
):
    box = pipeline_box("healthy-cross-account-pipeline")
    result = run_cli(*args(box, "--no-probe", "--format", "json", accounts=("dev", "staging")))
    assert result.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    prod_rows = [r for r in document["actions"] if r["stage"] == "DeployProd"]
    assert {r["verdict"] for r in prod_rows} == {"unknown"}
    others = [r for r in document["actions"] if r["stage"] != "DeployProd"]
    assert {r["verdict"] for r in others} == {"allow"}
    assert any("--account-profile 444444444444=PROFILE" in note for note in document["notes"])


def test_bad_input_is_one_line_and_exit_2_never_a_traceback(pipeline_box, run_cli):
    box = pipeline_box("healthy-cross-account-pipeline")
    cases = [
        ["pipeline", "--source-profile", "tooling", "--name", "no-such-pipeline"],
        [*args(box), "--account-profile", "prod"],
        ["pipeline", "--source-profile", "no-such-profile", "--name", PIPELINE],
    ]
    for case in cases:
        result = run_cli(*case)
        assert result.exit_code == 2, (case, result.stderr)
        assert result.stderr.startswith("kmsdoctor: ")
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_a_pipeline_that_does_not_exist_starts_no_more_reads_ahead(
    pipeline_box, run_cli, aws_faults, monkeypatch
):
    """The profiles' identities are asked beside GetPipeline; held here until the run has
    ended on its one-line error, they find it ended and walk no organization: an error is not
    followed by reads nobody will use."""
    import time

    from kmsdoctor.collect.plan import FactCollection

    pipeline_box("healthy-cross-account-pipeline")
    ended = threading.Event()
    real_close = FactCollection.close

    def close(self, failed: bool = False) -> None:
        real_close(self, failed)
        if failed:
            ended.set()

    monkeypatch.setattr(FactCollection, "close", close)

    def hold_identities(operation: str) -> None:
        if operation == "sts:GetCallerIdentity":
            ended.wait(timeout=10)

    aws_faults.observers.append(hold_identities)
    aws_faults.calls.clear()
    result = run_cli("pipeline", "--source-profile", "tooling", "--name", "no-such-pipeline")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert ended.is_set()
    deadline = time.monotonic() + 10  # the held reads finish in the background
    while time.monotonic() < deadline and any(
        t.name.startswith("kmsdoctor-ahead") for t in threading.enumerate()
    ):
        time.sleep(0.01)
    assert aws_faults.calls.count("sts:GetCallerIdentity") == 1  # tooling, the one profile
    assert not [call for call in aws_faults.calls if call.startswith("organizations:")]
    assert "ec2:DescribeVpcEndpoints" not in aws_faults.calls


def test_execution_latest_checks_the_real_objects_and_probes_them(
    pipeline_box, run_cli, aws_faults
):
    box = pipeline_box("deploy-role-lacks-kms-decrypt")
    box.answer_action_executions(aws_faults)
    staging_deploy = "arn:aws:sts::333333333333:assumed-role/StagingDeployRole/kmsdoctor-pipeline"
    key_message = (
        f"User: {staging_deploy} is not authorized to perform: kms:Decrypt on resource: "
        f"{box.key_arn} because no identity-based policy allows the kms:Decrypt action"
    )
    aws_faults.add("s3", "GetObject", "AccessDenied", key_message, 403, role="StagingDeployRole")
    result = run_cli(*args(box, "--execution", "latest", "--format", "json"))
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["request"]["execution_id"] == box.execution_id
    staging = next(
        r
        for r in document["actions"]
        if r["principal"].endswith(":role/StagingDeployRole") and r["operation"] == "read"
    )
    build_object = f"s3://tooling-pipeline-artefacts/{box.objects['BuildArtifact']}"
    assert staging["objects"] == [build_object]
    assert staging["verdict"] == "deny" and "identity" in staging["locks_shut"]
    gets = [p for p in staging["probe"] if p["operation"] == "s3:GetObject"]
    assert [g["error_code"] for g in gets] == ["AccessDenied"]
    for secret in box.secrets:
        assert secret not in result.stdout and secret not in result.stderr


def _calls_of_one_run(box, run_cli, monkeypatch) -> list[str]:
    """(operation, parameters, access key) of every AWS call of one `pipeline --no-probe` run."""
    import botocore.client

    made: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(client_self, operation_name, api_params):
        credentials = client_self._request_signer._credentials
        signer = credentials.access_key if credentials is not None else ""
        service = client_self.meta.service_model.service_name
        made.append(json.dumps([f"{service}:{operation_name}", api_params, signer], default=str))
        return original(client_self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    result = run_cli(*args(box, "--no-probe", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    return made


def _repeated(made: list[str]) -> list[str]:
    return sorted({json.loads(call)[0] for call in made if made.count(call) > 1})


def test_every_fact_is_read_once_for_all_four_accounts(pipeline_box, run_cli, monkeypatch):
    """Eight principals in four accounts share one bucket, one key, one project and each role's
    policies: each is read once, however many rows need it."""
    made = _calls_of_one_run(pipeline_box("healthy-cross-account-pipeline"), run_cli, monkeypatch)
    assert _repeated(made) == []
    operations = [json.loads(call)[0] for call in made]
    assert operations.count("codepipeline:GetPipeline") == 1
    assert operations.count("codebuild:BatchGetProjects") == 1
    assert operations.count("kms:GetKeyPolicy") == 1
    assert operations.count("s3:GetBucketPolicy") == 1
    assert operations.count("iam:GetRole") == 8  # eight principals (nine rows), each read once


def test_the_organization_of_an_account_on_both_sides_is_read_once(
    pipeline_box, run_cli, monkeypatch
):
    """Tooling owns the artifact bucket (its RCPs) and holds the pipeline role (its SCPs): the
    organization and the walk up from tooling are read once, each type's policies once."""
    made = _calls_of_one_run(pipeline_box("healthy-cross-account-pipeline"), run_cli, monkeypatch)
    calls = [json.loads(call) for call in made]
    tooling = ACCOUNTS["tooling"]
    walks = [
        p for op, p, _ in calls if op == "organizations:ListParents" and p["ChildId"] == tooling
    ]
    assert len(walks) == 1
    policy_reads = [
        p["Filter"]
        for op, p, _ in calls
        if op == "organizations:ListPoliciesForTarget" and p["TargetId"] == tooling
    ]
    assert sorted(policy_reads) == ["RESOURCE_CONTROL_POLICY", "SERVICE_CONTROL_POLICY"]


def test_the_aws_phase_is_as_deep_as_its_longest_chain(pipeline_box, run_cli):
    """Reading the pipeline, then its projects, then every fact: concurrency is counted as the
    dependency depth of the calls (bench/depth.py), never in seconds."""
    from bench.depth import DepthTracer

    box = pipeline_box("healthy-cross-account-pipeline")
    with DepthTracer() as tracer:
        result = run_cli(*args(box, "--no-probe", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    chain = tracer.longest_chain
    assert chain[:2] == ("codepipeline:GetPipeline", "codebuild:BatchGetProjects")
    assert tracer.depth <= PIPELINE_DEPTH, chain


def depths_holding(box, run_cli, aws_faults, held: str, ready) -> dict[str, list[int]]:
    """Run the pipeline (`--no-probe`) with operation `held` held until `ready(asked)` holds for
    the operations asked so far, as the round trip to AWS would hold it (moto answers at once):
    a run that asked them only after `held` answered would sit out the bound, then count them
    deeper. Returns the dependency depths of each operation's calls (bench/depth.py), sorted."""
    from bench.depth import DepthTracer

    asked: list[str] = []
    all_asked = threading.Event()

    def hold(operation: str) -> None:
        if operation == held:
            all_asked.wait(timeout=10)
            return
        asked.append(operation)
        if ready(asked):
            all_asked.set()

    aws_faults.observers.append(hold)
    with DepthTracer() as tracer:
        result = run_cli(*args(box, "--no-probe", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    assert all_asked.is_set(), asked
    depths: dict[str, list[int]] = {}
    for operation, depth, _ in tracer.records:
        depths.setdefault(operation, []).append(depth)
    return {operation: sorted(found) for operation, found in depths.items()}


def test_each_profiles_identity_and_bucket_list_are_read_beside_get_pipeline(
    pipeline_box, run_cli, aws_faults
):
    """The profiles (tooling, dev, staging, prod) are known before the first call: their
    identities and bucket lists, and each account's SCP walk once its identity answers, do not
    wait for the pipeline definition."""
    per_profile = ("sts:GetCallerIdentity", "s3:ListBuckets", "organizations:DescribeOrganization")
    depths = depths_holding(
        pipeline_box("healthy-cross-account-pipeline"),
        run_cli,
        aws_faults,
        "codepipeline:GetPipeline",
        lambda asked: all(asked.count(operation) >= 4 for operation in per_profile),
    )
    assert depths["codepipeline:GetPipeline"] == [1]
    assert depths["sts:GetCallerIdentity"] == [1, 1, 1, 1]
    assert depths["s3:ListBuckets"] == [1, 1, 1, 1]
    assert depths["organizations:DescribeOrganization"] == [2, 2, 2, 2]


def test_what_the_definition_names_is_read_while_the_build_projects_are(
    pipeline_box, run_cli, aws_faults
):
    """Seven of the eight roles (all but the CodeBuild project's service role) and the artifact
    prefix are named by the definition: they are read while BatchGetProjects is in flight; only
    the CodeBuild role waits for it."""
    depths = depths_holding(
        pipeline_box("healthy-cross-account-pipeline"),
        run_cli,
        aws_faults,
        "codebuild:BatchGetProjects",
        lambda asked: asked.count("iam:GetRole") >= 7 and "s3:ListObjectsV2" in asked,
    )
    assert depths["iam:GetRole"] == [2] * 7 + [3]
    assert set(depths["s3:ListObjectsV2"]) == {2}


def test_healthy_execution_each_reading_role_gets_one_byte_of_its_real_artifact(
    pipeline_box, run_cli, aws_faults
):
    box = pipeline_box("healthy-cross-account-pipeline")
    box.answer_action_executions(aws_faults)
    result = run_cli(*args(box, "--execution", "latest", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    for row in json.loads(result.stdout)["actions"]:
        gets = [p for p in row["probe"] if p["operation"] == "s3:GetObject"]
        if row["operation"] == "write":
            assert gets == []  # read-only: writes are never probed
        else:
            assert [(g["outcome"], g["facts"]["bytes_read"]) for g in gets] == [("ok", "1")]
            assert gets[0]["facts"]["object_key"] == box.objects[row["artifacts"][0]]
