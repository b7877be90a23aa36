"""The pipeline model, pure: who reads and writes which artifact, under which key, for each
action of a CodePipeline definition — and the configuration findings only the definition shows.
No AWS here: definitions are GetPipeline answers written out."""

from __future__ import annotations

import json
from typing import Any

from kmsdoctor.pipeline.findings import configuration_findings
from kmsdoctor.pipeline.model import (
    CodeBuildProject,
    Execution,
    PipelineDefinition,
    key_form,
    plan_accesses,
    principals_by_account,
    questions_for,
    template_reads_artifacts,
)
from kmsdoctor.questions import Question

TOOLING, DEV, STAGING = "111111111111", "222222222222", "333333333333"
KEY_ARN = f"arn:aws:kms:eu-west-1:{TOOLING}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PIPELINE_ROLE = f"arn:aws:iam::{TOOLING}:role/CodePipelineRole"
BUILD_ROLE = f"arn:aws:iam::{TOOLING}:role/CodeBuildRole"
DEV_DEPLOY = f"arn:aws:iam::{DEV}:role/DevDeployRole"
DEV_EXEC = f"arn:aws:iam::{DEV}:role/DevCfnExecutionRole"
STAGING_DEPLOY = f"arn:aws:iam::{STAGING}:role/StagingDeployRole"
STAGING_EXEC = f"arn:aws:iam::{STAGING}:role/StagingCfnExecutionRole"
BUCKET = "tooling-pipeline-artefacts"


def _action(name: str, provider: str, category: str, **extra: Any) -> dict[str, Any]:
    action = {
        "name": name,
        "actionTypeId": {
            "category": category,
            "owner": "AWS",
            "provider": provider,
            "version": "1",
        },
        "configuration": extra.pop("configuration", {}),
        "inputArtifacts": [{"name": n} for n in extra.pop("inputs", [])],
        "outputArtifacts": [{"name": n} for n in extra.pop("outputs", [])],
    }
    action.update(extra)
    return action


def reference_response(
    store_key: str | None = KEY_ARN, staging_overrides: str | None = None, **store: Any
) -> dict[str, Any]:
    """Reference 000: source, build, and CloudFormation deploys to dev and staging."""
    artifact_store: dict[str, Any] = {"type": "S3", "location": BUCKET}
    if store_key:
        artifact_store["encryptionKey"] = {"id": store_key, "type": "KMS"}
    staging_config = {"StackName": "svc", "RoleArn": STAGING_EXEC}
    if staging_overrides:
        staging_config["ParameterOverrides"] = staging_overrides
    pipeline = {
        "name": "service-pipeline-with-a-long-name",
        "roleArn": PIPELINE_ROLE,
        "stages": [
            {
                "name": "Source",
                "actions": [
                    _action("Source", "CodeStarSourceConnection", "Source", outputs=["Src"])
                ],
            },
            {
                "name": "Build",
                "actions": [
                    _action(
                        "Build",
                        "CodeBuild",
                        "Build",
                        configuration={"ProjectName": "build-app"},
                        inputs=["Src"],
                        outputs=["Bld"],
                    )
                ],
            },
            {
                "name": "DeployDev",
                "actions": [
                    _action(
                        "Deploy",
                        "CloudFormation",
                        "Deploy",
                        roleArn=DEV_DEPLOY,
                        configuration={"StackName": "svc", "RoleArn": DEV_EXEC},
                        inputs=["Bld"],
                    )
                ],
            },
            {
                "name": "DeployStaging",
                "actions": [
                    _action(
                        "Deploy",
                        "CloudFormation",
                        "Deploy",
                        roleArn=STAGING_DEPLOY,
                        configuration=staging_config,
                        inputs=["Bld"],
                    )
                ],
            },
        ],
    }
    if store:
        pipeline["artifactStores"] = store["artifact_stores"]
    else:
        pipeline["artifactStore"] = artifact_store
    return {"pipeline": pipeline}


def definition(**kwargs: Any) -> PipelineDefinition:
    return PipelineDefinition.from_response(reference_response(**kwargs), TOOLING, "eu-west-1")


def project(key: str | None = KEY_ARN) -> dict[tuple[str, str], CodeBuildProject | str]:
    return {
        ("build-app", TOOLING): CodeBuildProject("build-app", TOOLING, "eu-west-1", BUILD_ROLE, key)
    }


def rows(accesses) -> list[tuple[str, str, str, str]]:
    return [(a.stage, a.principal, a.role_kind, a.operation) for a in accesses]


def test_four_principals_not_two_each_with_the_operations_its_action_needs():
    accesses = plan_accesses(definition(), project())
    assert rows(accesses) == [
        ("Source", PIPELINE_ROLE, "pipeline_role", "write"),
        ("Build", BUILD_ROLE, "codebuild_service_role", "read"),
        ("Build", BUILD_ROLE, "codebuild_service_role", "write"),
        ("DeployDev", DEV_DEPLOY, "action_role", "read"),
        ("DeployDev", DEV_EXEC, "cloudformation_execution_role", "read"),
        ("DeployStaging", STAGING_DEPLOY, "action_role", "read"),
        ("DeployStaging", STAGING_EXEC, "cloudformation_execution_role", "read"),
    ]
    assert principals_by_account(accesses) == {
        TOOLING: [PIPELINE_ROLE, BUILD_ROLE],
        DEV: [DEV_DEPLOY, DEV_EXEC],
        STAGING: [STAGING_DEPLOY, STAGING_EXEC],
    }


def test_without_an_execution_each_access_asks_about_its_artifacts_folder():
    accesses = plan_accesses(definition(), project())
    # CodePipeline's folders: the first 20 characters of the pipeline name, then the first 10
    # of the artifact name.
    assert {(a.artifact, a.prefix) for a in accesses} == {
        ("Src", "service-pipeline-wit/Src/"),
        ("Bld", "service-pipeline-wit/Bld/"),
    }
    assert questions_for(accesses)[0] == Question(
        principal=PIPELINE_ROLE,
        bucket=BUCKET,
        prefix="service-pipeline-wit/Src/",
        operation="write",
    )


def test_execution_role_is_needed_only_when_the_template_reads_artifacts():
    overrides = json.dumps({"CodeKey": {"Fn::GetArtifactAtt": ["Bld", "ObjectKey"]}})
    accesses = plan_accesses(definition(staging_overrides=overrides), project())
    needs = {
        a.principal: a.need for a in accesses if a.role_kind == "cloudformation_execution_role"
    }
    assert needs == {DEV_EXEC: "if_template_reads_artifacts", STAGING_EXEC: "required"}


def test_template_reads_artifacts_from_parameter_overrides_or_a_template_configuration():
    lambda_bundle = '{"Code": {"Fn::GetArtifactAtt" : ["LambdaZip", "ObjectKey"]}}'
    assert template_reads_artifacts({"ParameterOverrides": lambda_bundle}) == (True, ("LambdaZip",))
    assert template_reads_artifacts({"TemplateConfiguration": "Cfg::prod.json"}) == (True, ("Cfg",))
    assert template_reads_artifacts({"ParameterOverrides": '{"Env": "prod"}'}) == (False, ())


def test_a_build_output_is_under_the_projects_key_not_the_stores():
    # CodeBuild encrypts its output with the project's encryptionKey; CodeBuild reports
    # alias/aws/s3 for a project that has none.
    aws_s3 = f"arn:aws:kms:eu-west-1:{TOOLING}:alias/aws/s3"
    accesses = plan_accesses(definition(), project(key=aws_s3))
    dev_read = next(a for a in accesses if a.principal == DEV_DEPLOY)
    assert (dev_read.artifact, dev_read.encryption_key) == ("Bld", None)
    assert dev_read.key_source == "CodeBuild project build-app"
    codes = [f.code for f in configuration_findings(definition(), dev_read)]
    assert codes == ["KD903"]
    build_read = next(a for a in accesses if a.principal == BUILD_ROLE and a.operation == "read")
    assert build_read.encryption_key == KEY_ARN  # the source output: the store's key


def test_a_store_without_a_key_fails_every_other_account_and_no_access_in_its_own():
    pipeline = definition(store_key=None)
    aws_s3 = f"arn:aws:kms:eu-west-1:{TOOLING}:alias/aws/s3"
    accesses = plan_accesses(pipeline, project(key=aws_s3))
    failing = {
        (a.principal, f.code)
        for a in accesses
        for f in configuration_findings(pipeline, a)
        if f.severity == "error"
    }
    assert (PIPELINE_ROLE, "KD902") not in failing and (BUILD_ROLE, "KD902") not in failing
    assert {p for p, _ in failing} == {DEV_DEPLOY, DEV_EXEC, STAGING_DEPLOY, STAGING_EXEC}


def test_a_store_key_named_by_alias_fails_a_cross_account_write_only():
    response = reference_response(store_key="alias/codepipeline-crossaccounts")
    deploy = response["pipeline"]["stages"][2]["actions"][0]
    deploy["outputArtifacts"] = [{"name": "DevOutputs"}]
    pipeline = PipelineDefinition.from_response(response, TOOLING, "eu-west-1")
    accesses = plan_accesses(pipeline, project())
    found = {
        (a.principal, a.operation, f.code)
        for a in accesses
        for f in configuration_findings(pipeline, a)
    }
    # The pipeline role writes the source output in tooling, where the alias resolves.
    assert found == {(DEV_DEPLOY, "write", "KD901")}
    assert key_form("alias/x") == "alias" and key_form(KEY_ARN) == "arn"
    assert key_form(f"arn:aws:kms:eu-west-1:{TOOLING}:alias/x") == "alias"
    assert key_form("1234abcd-12ab-34cd-56ef-1234567890ab") == "key_id"


def test_a_cross_region_action_uses_its_regions_store():
    stores = {
        "eu-west-1": {"type": "S3", "location": BUCKET, "encryptionKey": {"id": KEY_ARN}},
        "us-east-1": {"type": "S3", "location": "artefacts-us-east-1"},
    }
    response = reference_response(artifact_stores=stores)
    response["pipeline"]["stages"][3]["actions"][0]["region"] = "us-east-1"
    pipeline = PipelineDefinition.from_response(response, TOOLING, "eu-west-1")
    accesses = plan_accesses(pipeline, project())
    staging = [a for a in accesses if a.stage == "DeployStaging"]
    assert {a.bucket for a in staging} == {"artefacts-us-east-1"}
    assert {a.key_source for a in staging} == {"artifact store us-east-1"}
    # The us-east-1 store has no key: its copy of the build output is under aws/s3.
    assert {f.code for a in staging for f in configuration_findings(pipeline, a)} == {"KD902"}


def test_an_unreadable_build_project_makes_its_principal_unknown_not_guessed():
    reason = "CodeBuild project 'build-app' could not be read in 111111111111 (AccessDenied)"
    accesses = plan_accesses(definition(), {("build-app", TOOLING): reason})
    build = [a for a in accesses if a.stage == "Build"]
    assert [(a.principal, a.unknown_reason) for a in build] == [("", reason), ("", reason)]
    assert all(a.question() is None for a in build)


def test_with_an_execution_each_access_asks_about_the_real_object():
    details = [
        {
            "stageName": "Build",
            "actionName": "Build",
            "input": {"inputArtifacts": [_obj("Src", "svc/Src/a1")]},
            "output": {"outputArtifacts": [_obj("Bld", "svc/Bld/b2")]},
        },
        {
            "stageName": "DeployDev",
            "actionName": "Deploy",
            "input": {"roleArn": DEV_DEPLOY, "inputArtifacts": [_obj("Bld", "svc/Bld/b2")]},
            "output": {"outputArtifacts": []},
        },
    ]
    execution = Execution.from_action_executions("exec-1", details)
    accesses = plan_accesses(definition(), project(), execution)
    by_stage = {(a.stage, a.role_kind, a.operation): (a.key, a.unknown_reason) for a in accesses}
    assert by_stage[("Build", "codebuild_service_role", "read")] == ("svc/Src/a1", None)
    assert by_stage[("DeployDev", "action_role", "read")] == ("svc/Bld/b2", None)
    # Staging did not run in this execution, but the artifact it reads is known by name.
    assert by_stage[("DeployStaging", "action_role", "read")] == ("svc/Bld/b2", None)
    # The source action is not in the listing; its output is known from the build's input.
    source = next(a for a in accesses if a.stage == "Source")
    assert (source.key, source.prefix) == ("svc/Src/a1", None)


def test_a_write_that_did_not_happen_in_the_execution_asks_about_the_stores_folder():
    execution = Execution.from_action_executions("exec-1", [])
    accesses = plan_accesses(definition(), project(), execution)
    source = next(a for a in accesses if a.stage == "Source")
    assert (source.key, source.prefix, source.unknown_reason) == (
        None,
        "service-pipeline-wit/Src/",
        None,
    )
    dev = next(a for a in accesses if a.principal == DEV_DEPLOY)
    assert dev.unknown_reason == (
        "execution exec-1 has no object for artifact 'Bld' (the action did not run in it)"
    )


def test_an_execution_whose_objects_cannot_be_read_leaves_every_object_unknown():
    why = "the artifacts of execution e1 could not be read (ListActionExecutions: AccessDenied)"
    accesses = plan_accesses(definition(), project(), None, execution_error=why)
    assert {a.unknown_reason for a in accesses} == {why}
    assert questions_for(accesses) == []


def _obj(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "s3location": {"bucket": BUCKET, "key": key}}
