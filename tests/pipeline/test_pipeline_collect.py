"""The pipeline collector against the reference-000 pipeline in moto: what it reads, what it
records as unknown when AWS refuses, and the one-line errors that end a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kmsdoctor import aws
from kmsdoctor.aws import Sessions
from kmsdoctor.collect.pipeline import PipelineUndecidable, collect_pipeline
from kmsdoctor.errors import EXIT_UNKNOWN, EXIT_USAGE, UsageError
from moto_fixtures.pipeline import ACCOUNTS, BUCKET, PIPELINE, PROJECT, pipeline_scenario

PERMISSIONS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
TOOLING = ACCOUNTS["tooling"]


def collect(execution: str | None = None):
    return collect_pipeline(Sessions(["tooling"], None), "tooling", PIPELINE, None, {}, execution)


def test_reads_the_stores_actions_and_build_project_of_the_reference_pipeline(
    pipeline_box, aws_faults
):
    box = pipeline_box("healthy-cross-account-pipeline")
    aws_faults.calls.clear()
    facts = collect()
    definition = facts.definition
    assert (definition.name, definition.account, definition.region) == (
        PIPELINE,
        TOOLING,
        "eu-west-1",
    )
    store = definition.stores["eu-west-1"]
    assert (store.bucket, store.encryption_key) == (BUCKET, box.key_arn)
    assert [a.stage for a in definition.actions] == [
        "Source",
        "Build",
        "DeployDev",
        "DeployStaging",
        "DeployProd",
    ]
    project = facts.projects[(PROJECT, TOOLING)]
    assert project.service_role == f"arn:aws:iam::{TOOLING}:role/CodeBuildRole"
    assert project.encryption_key == box.key_arn
    assert facts.execution is None
    assert sorted(aws_faults.calls) == ["codebuild:BatchGetProjects", "codepipeline:GetPipeline"]


def test_execution_latest_gives_the_real_artifact_objects(pipeline_box, aws_faults):
    box = pipeline_box("healthy-cross-account-pipeline")
    box.answer_action_executions(aws_faults)
    aws_faults.calls.clear()
    facts = collect(execution="latest")
    assert facts.execution is not None
    assert facts.execution.execution_id == box.execution_id
    build = facts.execution.artifact("BuildArtifact")
    assert (build.bucket, build.key) == (BUCKET, box.objects["BuildArtifact"])
    assert sorted(aws_faults.calls) == [
        "codebuild:BatchGetProjects",
        "codepipeline:GetPipeline",
        "codepipeline:ListActionExecutions",
        "codepipeline:ListPipelineExecutions",
    ]


def test_an_execution_id_is_read_without_listing_executions(pipeline_box, aws_faults):
    box = pipeline_box("healthy-cross-account-pipeline")
    box.answer_action_executions(aws_faults)
    aws_faults.calls.clear()
    facts = collect(execution=box.execution_id)
    assert facts.execution.execution_id == box.execution_id
    assert "codepipeline:ListPipelineExecutions" not in aws_faults.calls


def test_a_pipeline_that_does_not_exist_is_one_line_exit_2(pipeline_box):
    pipeline_box("healthy-cross-account-pipeline")
    with pytest.raises(UsageError) as raised:
        collect_pipeline(Sessions(["tooling"], None), "tooling", "no-such-pipeline", None, {})
    assert raised.value.exit_code == EXIT_USAGE
    assert str(raised.value) == (
        "no pipeline 'no-such-pipeline' in Region eu-west-1 of the account of profile 'tooling'"
    )


def test_a_pipeline_the_profile_may_not_read_is_one_line_exit_2(pipeline_box, aws_faults):
    pipeline_box("healthy-cross-account-pipeline")
    aws_faults.deny(
        "codepipeline",
        "GetPipeline",
        f"arn:aws:sts::{TOOLING}:assumed-role/ReadOnly/s",
        f"arn:aws:codepipeline:eu-west-1:{TOOLING}:{PIPELINE}",
    )
    with pytest.raises(UsageError) as raised:
        collect()
    assert raised.value.exit_code == EXIT_USAGE
    assert "may not read pipeline 'service-pipeline'" in str(raised.value)
    assert "docs/permissions.md" in str(raised.value)


def test_a_throttled_pipeline_read_is_undecidable_exit_3(pipeline_box, aws_faults, fast_retries):
    pipeline_box("healthy-cross-account-pipeline")
    aws_faults.add("codepipeline", "GetPipeline", "ThrottlingException", "Rate exceeded")
    with pytest.raises(PipelineUndecidable) as raised:
        collect()
    assert raised.value.exit_code == EXIT_UNKNOWN
    assert aws_faults.calls.count("codepipeline:GetPipeline") == aws.ATTEMPTS


def test_an_unreadable_build_project_is_unknown_with_the_reason(pipeline_box, aws_faults):
    pipeline_box("healthy-cross-account-pipeline")
    aws_faults.add("codebuild", "BatchGetProjects", "AccessDeniedException", "not authorized")
    facts = collect()
    assert facts.projects[(PROJECT, TOOLING)] == (
        "CodeBuild project 'build-app' could not be read in 111111111111 "
        "(codebuild:BatchGetProjects failed with AccessDeniedException)"
    )


def test_a_cross_account_build_project_without_a_profile_names_the_profile_to_add(pipeline_box):
    scenario = pipeline_scenario("healthy-cross-account-pipeline")
    build = scenario["pipeline"]["stages"][1]["actions"][0]
    build["roleArn"] = f"arn:aws:iam::{ACCOUNTS['dev']}:role/DevDeployRole"  # runs in dev
    pipeline_box(scenario)
    facts = collect()
    assert facts.projects[(PROJECT, ACCOUNTS["dev"])] == (
        "CodeBuild project(s) build-app live in account 222222222222, which no profile reads: "
        "pass --account-profile 222222222222=PROFILE"
    )


def test_execution_objects_that_cannot_be_listed_are_unknown_not_a_crash(pipeline_box, aws_faults):
    pipeline_box("healthy-cross-account-pipeline")
    aws_faults.add("codepipeline", "ListActionExecutions", "AccessDeniedException", "denied")
    facts = collect(execution="latest")
    assert facts.execution is None
    assert facts.execution_error.startswith("the artifacts of execution ")
    assert facts.execution_error.endswith(
        "could not be read (codepipeline:ListActionExecutions failed with AccessDeniedException)"
    )


def test_an_execution_id_that_does_not_exist_is_one_line_exit_2(pipeline_box, aws_faults):
    pipeline_box("healthy-cross-account-pipeline")
    aws_faults.add(
        "codepipeline",
        "ListActionExecutions",
        "PipelineExecutionNotFoundException",
        "Pipeline execution not found",
    )
    with pytest.raises(UsageError) as raised:
        collect(execution="0000-no-such-run")
    assert str(raised.value) == "pipeline 'service-pipeline' has no execution '0000-no-such-run'"


def test_every_pipeline_read_is_on_the_allow_list_and_granted_on_the_permissions_page(
    pipeline_box, aws_faults
):
    box = pipeline_box("healthy-cross-account-pipeline")
    box.answer_action_executions(aws_faults)
    aws_faults.calls.clear()
    collect(execution="latest")
    made = set(aws_faults.calls)
    assert made <= aws.ALLOWED_OPERATIONS
    text = PERMISSIONS.read_text(encoding="utf-8")
    section = text.split("## Pipeline profile", 1)[1].split("\n## ", 1)[0]
    policy = json.loads(re.search(r"```json\n(.*?)\n```", section, re.DOTALL).group(1))
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert made <= granted
    pipeline_operations = {
        op for op in aws.ALLOWED_OPERATIONS if op.split(":")[0] in ("codepipeline", "codebuild")
    }
    assert pipeline_operations == granted
