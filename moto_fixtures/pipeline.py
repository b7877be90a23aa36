"""The reference-000 pipeline in moto: a tooling account's CodePipeline deploying to dev, staging
and prod, and the ways it really breaks.

`reference_pipeline()` is the healthy configuration as data; each entry of `PIPELINE_SCENARIOS`
is one incident, named after it, made by changing that data, with what kmsdoctor must say
(`expect`). `build_pipeline(scenario, workdir)` makes it in an active in-process `mock_aws()`:

    tooling 111111111111  artifact bucket + customer managed key (+ alias), CodePipelineRole,
                          CodeBuildRole, CodeBuild project build-app, pipeline service-pipeline
    dev     222222222222  DevDeployRole (CloudFormation action role), DevCfnExecutionRole
    staging 333333333333  StagingDeployRole, StagingCfnExecutionRole
    prod    444444444444  ProdDeployRole, ProdCfnExecutionRole

Profiles `tooling`, `dev`, `staging`, `prod` each hold an admin session of that account.

What moto 5.2 lacks, and how the fixture builds around it (each checked against moto 5.2.5):

- `codepipeline:ListActionExecutions` is not implemented: `build_pipeline` starts one execution
  (moto's StartPipelineExecution, listed by its ListPipelineExecutions), writes the artifact
  objects it would have made into the bucket, and returns the ListActionExecutions answer AWS
  would give (`PipelineSandbox.action_executions`); `answer_action_executions(aws_faults)`
  answers the call with it at the botocore layer (a raw 200 response, botocore's real parser).
- moto's CodeBuild ignores a project's `encryptionKey` and always reports
  `arn:aws:kms:REGION:ACCOUNT:alias/aws/s3`; the builder sets the stored project's key in moto's
  backend (in-process only), so BatchGetProjects answers what AWS would.
- moto keeps no organization membership across accounts (only the management account is in an
  organization), so dev, staging and prod answer AWSOrganizationsNotInUseException: an
  `aws:PrincipalOrgID` key-policy condition never matches them — which is the incident
  `key-policy-org-id-prod-outside-org` needs for prod.
"""

from __future__ import annotations

import configparser
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto_fixtures.builder import (
    FIXTURE_ADMIN_ROLE,
    LEAKY_ENV,
    _assume,
    _fill,
    _shared_session,
)

REGION = "eu-west-1"
ACCOUNTS = {
    "tooling": "111111111111",
    "dev": "222222222222",
    "staging": "333333333333",
    "prod": "444444444444",
}
BUCKET = "tooling-pipeline-artefacts"
PIPELINE = "service-pipeline"
PROJECT = "build-app"
ORG_ID_PLACEHOLDER = "{{org_id}}"

TARGETS = {"dev": "Dev", "staging": "Staging", "prod": "Prod"}


def _role(account: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[account]}:role/{name}"


def _trust(service_or_account: str) -> dict[str, Any]:
    principal = (
        {"Service": service_or_account}
        if service_or_account.endswith(".amazonaws.com")
        else {"AWS": f"arn:aws:iam::{service_or_account}:root"}
    )
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }


def _artefact_access(read: bool = True, write: bool = False, kms_decrypt: bool = True) -> dict:
    s3_actions = ["s3:GetObject", "s3:GetObjectVersion"] if read else []
    if write:
        s3_actions += ["s3:PutObject"]
    kms_actions = ["kms:DescribeKey"]
    if kms_decrypt:
        kms_actions.insert(0, "kms:Decrypt")
    if write:
        kms_actions += ["kms:GenerateDataKey*", "kms:Encrypt"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadWritePipelineArtefacts",
                "Effect": "Allow",
                "Action": s3_actions,
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            },
            {
                "Sid": "UseArtefactKey",
                "Effect": "Allow",
                "Action": kms_actions,
                "Resource": "{{key_arn:artifacts}}",
            },
        ],
    }


def reference_pipeline() -> dict[str, Any]:
    """The healthy pipeline of reference 000: every principal can read and write what it must."""
    roles: dict[str, dict[str, Any]] = {
        "tooling": {
            "CodePipelineRole": {
                "trust": _trust("codepipeline.amazonaws.com"),
                "inline": {"Artefacts": _artefact_access(write=True)},
            },
            "CodeBuildRole": {
                "trust": _trust("codebuild.amazonaws.com"),
                "inline": {"Artefacts": _artefact_access(write=True)},
            },
        }
    }
    for account, prefix in TARGETS.items():
        roles[account] = {
            f"{prefix}DeployRole": {
                "trust": _trust(ACCOUNTS["tooling"]),
                "inline": {"Artefacts": _artefact_access(write=True)},
            },
            f"{prefix}CfnExecutionRole": {
                "trust": _trust("cloudformation.amazonaws.com"),
                "inline": {"Artefacts": _artefact_access()},
            },
        }
    target_roots = [f"arn:aws:iam::{ACCOUNTS[a]}:root" for a in TARGETS]
    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableRootOfTooling",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNTS['tooling']}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AllowTargetAccountsToUseTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": target_roots},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
            },
        ],
    }
    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowTargetAccountsArtefacts",
                "Effect": "Allow",
                "Principal": {"AWS": target_roots},
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }
    overrides = json.dumps(
        {
            "CodeBucket": {"Fn::GetArtifactAtt": ["BuildArtifact", "BucketName"]},
            "CodeKey": {"Fn::GetArtifactAtt": ["BuildArtifact", "ObjectKey"]},
        }
    )
    stages: list[dict[str, Any]] = [
        {
            "name": "Source",
            "actions": [
                {
                    "name": "Source",
                    "actionTypeId": {
                        "category": "Source",
                        "owner": "AWS",
                        "provider": "CodeStarSourceConnection",
                        "version": "1",
                    },
                    "configuration": {
                        "ConnectionArn": "arn:aws:codestar-connections:eu-west-1:111111111111:"
                        "connection/aaaa-bbbb",
                        "FullRepositoryId": "example/service",
                        "BranchName": "main",
                    },
                    "outputArtifacts": [{"name": "SourceArtifact"}],
                }
            ],
        },
        {
            "name": "Build",
            "actions": [
                {
                    "name": "Build",
                    "actionTypeId": {
                        "category": "Build",
                        "owner": "AWS",
                        "provider": "CodeBuild",
                        "version": "1",
                    },
                    "configuration": {"ProjectName": PROJECT},
                    "inputArtifacts": [{"name": "SourceArtifact"}],
                    "outputArtifacts": [{"name": "BuildArtifact"}],
                }
            ],
        },
    ]
    for account, prefix in TARGETS.items():
        configuration = {
            "ActionMode": "CREATE_UPDATE",
            "StackName": f"service-{account}",
            "TemplatePath": "BuildArtifact::template.yml",
            "Capabilities": "CAPABILITY_NAMED_IAM",
            "RoleArn": _role(account, f"{prefix}CfnExecutionRole"),
        }
        if account != "dev":  # dev's template reads no artifact (no Lambda bundle yet)
            configuration["ParameterOverrides"] = overrides
        stages.append(
            {
                "name": f"Deploy{prefix}",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {
                            "category": "Deploy",
                            "owner": "AWS",
                            "provider": "CloudFormation",
                            "version": "1",
                        },
                        "roleArn": _role(account, f"{prefix}DeployRole"),
                        "configuration": configuration,
                        "inputArtifacts": [{"name": "BuildArtifact"}],
                    }
                ],
            }
        )
    return {
        "name": "healthy-cross-account-pipeline",
        "description": "The reference pipeline, healthy: every role can read and write what "
        "its action needs.",
        "key": {"policy": key_policy, "aliases": ["alias/codepipeline-crossaccounts"]},
        "bucket": {"policy": bucket_policy, "default_key": "{{key_arn:artifacts}}"},
        "roles": roles,
        "project": {"service_role": "CodeBuildRole", "encryption_key": "{{key_arn:artifacts}}"},
        "pipeline": {
            "name": PIPELINE,
            "roleArn": _role("tooling", "CodePipelineRole"),
            "artifactStore": {
                "type": "S3",
                "location": BUCKET,
                "encryptionKey": {"id": "{{key_arn:artifacts}}", "type": "KMS"},
            },
            "stages": stages,
        },
        "organization": False,  # True: tooling creates an organization ({{org_id}} is its id)
        "expect": {"exit_code": 0, "failing": []},
    }


# --- the incidents -------------------------------------------------------------------------------


def _deploy_role_lacks_kms_decrypt() -> dict[str, Any]:
    """Reference 000's worked failure: StagingDeployRole may s3:GetObject but its identity
    policy has no kms:Decrypt on the key ARN, so the template download fails on KMS."""
    scenario = reference_pipeline()
    scenario["name"] = "deploy-role-lacks-kms-decrypt"
    scenario["description"] = _deploy_role_lacks_kms_decrypt.__doc__
    scenario["roles"]["staging"]["StagingDeployRole"]["inline"]["Artefacts"] = _artefact_access(
        write=False, kms_decrypt=False
    )
    scenario["expect"] = {
        "exit_code": 1,
        "failing": [
            ("DeployStaging", "Deploy", _role("staging", "StagingDeployRole"), "read", "identity")
        ],
        "codes": ["KD101"],
    }
    return scenario


def _artifact_store_without_key() -> dict[str, Any]:
    """The artifact store has no encryptionKey and the bucket default is aws:kms without a key:
    every artifact is under tooling's aws/s3 key, which dev, staging and prod can never use."""
    scenario = reference_pipeline()
    scenario["name"] = "artifact-store-without-key"
    scenario["description"] = _artifact_store_without_key.__doc__
    del scenario["pipeline"]["artifactStore"]["encryptionKey"]
    scenario["bucket"]["default_key"] = None
    scenario["project"]["encryption_key"] = None
    # Dev's deploy takes its template configuration from the source artifact (pipeline store).
    dev = scenario["pipeline"]["stages"][2]["actions"][0]
    dev["inputArtifacts"].append({"name": "SourceArtifact"})
    dev["configuration"]["TemplateConfiguration"] = "SourceArtifact::config/dev.json"
    failing = []
    for account, prefix in TARGETS.items():
        role = _role(account, f"{prefix}DeployRole")
        failing.append((f"Deploy{prefix}", "Deploy", role, "read", "key_state"))
    scenario["expect"] = {"exit_code": 1, "failing": failing, "codes": ["KD902", "KD903"]}
    return scenario


def _execution_role_missing_kms_decrypt() -> dict[str, Any]:
    """Staging's template reads the build artifact (a Lambda bundle, passed with
    Fn::GetArtifactAtt), but StagingCfnExecutionRole has no kms:Decrypt: "template loaded,
    nested Lambda bundle fails"."""
    scenario = reference_pipeline()
    scenario["name"] = "execution-role-missing-kms-decrypt"
    scenario["description"] = _execution_role_missing_kms_decrypt.__doc__
    role = scenario["roles"]["staging"]["StagingCfnExecutionRole"]
    role["inline"]["Artefacts"] = _artefact_access(kms_decrypt=False)
    scenario["expect"] = {
        "exit_code": 1,
        "failing": [
            (
                "DeployStaging",
                "Deploy",
                _role("staging", "StagingCfnExecutionRole"),
                "read",
                "identity",
            )
        ],
        "codes": ["KD101"],
    }
    return scenario


def _key_policy_org_id_prod_outside_org() -> dict[str, Any]:
    """The key policy names dev and staging and lets the rest of the organization in with
    aws:PrincipalOrgID; prod was added relying on it, but prod is not in that organization."""
    scenario = reference_pipeline()
    scenario["name"] = "key-policy-org-id-prod-outside-org"
    scenario["description"] = _key_policy_org_id_prod_outside_org.__doc__
    statements = scenario["key"]["policy"]["Statement"]
    statements[1]["Principal"] = {
        "AWS": [f"arn:aws:iam::{ACCOUNTS[a]}:root" for a in ("dev", "staging")]
    }
    statements.append(
        {
            "Sid": "AllowOrgMembersToDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG_ID_PLACEHOLDER}},
        }
    )
    scenario["organization"] = True
    scenario["expect"] = {
        "exit_code": 1,
        "failing": [
            ("DeployProd", "Deploy", _role("prod", "ProdDeployRole"), "read", "key_policy"),
            ("DeployProd", "Deploy", _role("prod", "ProdCfnExecutionRole"), "read", "key_policy"),
        ],
        "codes": ["KD306"],
    }
    return scenario


def _artifact_store_key_alias() -> dict[str, Any]:
    """The artifact store names its key as alias/codepipeline-crossaccounts. Dev's deploy writes
    its stack outputs back as an artifact; from dev the alias does not resolve to tooling's key."""
    scenario = reference_pipeline()
    scenario["name"] = "artifact-store-key-alias"
    scenario["description"] = _artifact_store_key_alias.__doc__
    store = scenario["pipeline"]["artifactStore"]
    store["encryptionKey"]["id"] = "alias/codepipeline-crossaccounts"
    dev = scenario["pipeline"]["stages"][2]["actions"][0]
    dev["configuration"]["OutputFileName"] = "stack-outputs.json"
    dev["outputArtifacts"] = [{"name": "DevStackOutputs"}]
    scenario["expect"] = {
        "exit_code": 1,
        "failing": [("DeployDev", "Deploy", _role("dev", "DevDeployRole"), "write", "key_state")],
        "codes": ["KD901"],
    }
    return scenario


PIPELINE_SCENARIOS = {
    scenario["name"]: scenario
    for scenario in (
        reference_pipeline(),
        _deploy_role_lacks_kms_decrypt(),
        _artifact_store_without_key(),
        _execution_role_missing_kms_decrypt(),
        _key_policy_org_id_prod_outside_org(),
        _artifact_store_key_alias(),
    )
}


def pipeline_scenario(name: str) -> dict[str, Any]:
    return copy.deepcopy(PIPELINE_SCENARIOS[name])


# --- building ------------------------------------------------------------------------------------


@dataclass
class PipelineSandbox:
    scenario: dict[str, Any]  # placeholders filled
    config_path: Path
    credentials_path: Path
    env_overrides: dict[str, str]
    env_removed: tuple[str, ...]
    key_arn: str
    key_id: str
    execution_id: str
    # The answer AWS would give ListActionExecutions for the execution (wire format).
    action_executions: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)  # artifact name -> object key
    secrets: list[str] = field(default_factory=list)

    def profile(self, account: str) -> str:
        """The profile name of an account label ("dev") or id."""
        for label, account_id in ACCOUNTS.items():
            if account in (label, account_id):
                return label
        raise KeyError(account)

    def account_profiles(self, *labels: str) -> list[str]:
        """`--account-profile ID=PROFILE` arguments for these accounts (default: all targets)."""
        args: list[str] = []
        for label in labels or tuple(TARGETS):
            args += ["--account-profile", f"{ACCOUNTS[label]}={label}"]
        return args

    def answer_action_executions(self, aws_faults: Any) -> None:
        """moto has no ListActionExecutions: answer it as AWS would for this execution."""
        aws_faults.respond("codepipeline", "ListActionExecutions", self.action_executions)


def build_pipeline(scenario: dict[str, Any], workdir: Path) -> PipelineSandbox:
    shared = _shared_session(REGION)
    creds = {
        label: _assume(shared, account, FIXTURE_ADMIN_ROLE) for label, account in ACCOUNTS.items()
    }

    def client(label: str, service: str) -> Any:
        return shared.client(service, region_name=REGION, **creds[label])

    kms = client("tooling", "kms")
    meta = kms.create_key(Description="pipeline artefacts")["KeyMetadata"]
    key_arn, key_id = meta["Arn"], meta["KeyId"]
    org_id = ""
    if scenario.get("organization"):
        org_id = client("tooling", "organizations").create_organization(FeatureSet="ALL")[
            "Organization"
        ]["Id"]
    values = {"key_arn": {"artifacts": key_arn}, "key_id": {"artifacts": key_id}}
    values.update({"role_id": {}, "stale_role_id": {}})
    filled = _fill(copy.deepcopy(scenario), values, scenario["name"])
    filled = json.loads(json.dumps(filled).replace(ORG_ID_PLACEHOLDER, org_id))

    kms.put_key_policy(
        KeyId=key_arn, PolicyName="default", Policy=json.dumps(filled["key"]["policy"])
    )
    for alias in filled["key"].get("aliases", []):
        kms.create_alias(AliasName=alias, TargetKeyId=key_arn)

    for label, roles in filled["roles"].items():
        iam = client(label, "iam")
        for name, spec in roles.items():
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(spec["trust"]))
            for policy_name, document in spec.get("inline", {}).items():
                iam.put_role_policy(
                    RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
                )

    s3 = client("tooling", "s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    default: dict[str, Any] = {"SSEAlgorithm": "aws:kms"}
    if filled["bucket"].get("default_key"):
        default["KMSMasterKeyID"] = filled["bucket"]["default_key"]
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
        },
    )

    project_spec = filled["project"]
    codebuild = client("tooling", "codebuild")
    codebuild.create_project(
        name=PROJECT,
        source={"type": "CODEPIPELINE", "location": "pipeline"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=_role("tooling", project_spec["service_role"]),
    )
    _set_project_key(PROJECT, project_spec.get("encryption_key"))

    codepipeline = client("tooling", "codepipeline")
    codepipeline.create_pipeline(pipeline=filled["pipeline"])
    execution_id = codepipeline.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    objects, answer = _execution_artifacts(filled, execution_id, s3, key_arn)

    # The bucket policy last: moto applies a Deny to the fixture's own writes.
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(filled["bucket"]["policy"]))

    config_path, credentials_path = _write_profiles(workdir, creds)
    overrides = {
        "AWS_CONFIG_FILE": str(config_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials_path),
        "AWS_DEFAULT_REGION": REGION,
    }
    return PipelineSandbox(
        scenario=filled,
        config_path=config_path,
        credentials_path=credentials_path,
        env_overrides=overrides,
        env_removed=LEAKY_ENV,
        key_arn=key_arn,
        key_id=key_id,
        execution_id=execution_id,
        action_executions=answer,
        objects=objects,
        secrets=[v for c in creds.values() for v in c.values()],
    )


def _set_project_key(project: str, key: str | None) -> None:
    """moto's CodeBuild drops `encryptionKey`; set what AWS would store (in-process moto)."""
    from moto.codebuild.models import codebuild_backends

    stored = codebuild_backends[ACCOUNTS["tooling"]][REGION].codebuild_projects[project]
    if key:
        stored.project_metadata["encryptionKey"] = key


def _execution_artifacts(
    scenario: dict[str, Any], execution_id: str, s3: Any, key_arn: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Write each artifact object as CodePipeline would (folder: the pipeline name's first 20
    characters), encrypted with the key the writer uses, and the ListActionExecutions answer."""
    pipeline = scenario["pipeline"]
    store_key = (pipeline["artifactStore"].get("encryptionKey") or {}).get("id")
    project_key = scenario["project"].get("encryption_key")
    objects: dict[str, str] = {}
    details: list[dict[str, Any]] = []
    counter = 0
    for stage in pipeline["stages"]:
        for action in stage["actions"]:
            outputs = []
            status = "Succeeded"
            cross_account = not action.get("roleArn", "").startswith(
                f"arn:aws:iam::{ACCOUNTS['tooling']}:"
            ) and bool(action.get("roleArn"))
            for artifact in action.get("outputArtifacts", []):
                if cross_account and (store_key or "").startswith("alias/"):
                    # The write fails in AWS: from the action's account the alias names no key.
                    status = "Failed"
                    continue
                counter += 1
                name = artifact["name"]
                key = f"{PIPELINE[:20]}/{name[:10]}/run{counter:03d}.zip"
                if action["actionTypeId"]["provider"] == "CodeBuild":
                    writer_key = project_key
                else:
                    writer_key = store_key
                params: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
                if writer_key:
                    # An alias resolves in tooling here: the fixture writes as tooling.
                    params["SSEKMSKeyId"] = key_arn
                s3.put_object(Bucket=BUCKET, Key=key, Body=b"PK artefact", **params)
                objects[name] = key
                outputs.append({"name": name, "s3location": {"bucket": BUCKET, "key": key}})
            inputs = [
                {"name": a["name"], "s3location": {"bucket": BUCKET, "key": objects[a["name"]]}}
                for a in action.get("inputArtifacts", [])
            ]
            detail_input: dict[str, Any] = {
                "actionTypeId": action["actionTypeId"],
                "configuration": action.get("configuration", {}),
                "inputArtifacts": inputs,
                "region": REGION,
            }
            if action.get("roleArn"):
                detail_input["roleArn"] = action["roleArn"]
            details.append(
                {
                    "pipelineExecutionId": execution_id,
                    "actionExecutionId": f"act-{counter:04d}-{len(details)}",
                    "pipelineVersion": 1,
                    "stageName": stage["name"],
                    "actionName": action["name"],
                    "status": status,
                    "input": detail_input,
                    "output": {"outputArtifacts": outputs},
                }
            )
    return objects, {"actionExecutionDetails": details}


def _write_profiles(workdir: Path, creds: dict[str, dict[str, str]]) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    config, credentials = configparser.ConfigParser(), configparser.ConfigParser()
    for label, values in creds.items():
        config[f"profile {label}"] = {"region": REGION, "output": "json"}
        credentials[label] = values
    config_path, credentials_path = workdir / "aws-config", workdir / "aws-credentials"
    with config_path.open("w", encoding="utf-8") as handle:
        config.write(handle)
    with credentials_path.open("w", encoding="utf-8") as handle:
        credentials.write(handle)
    credentials_path.chmod(0o600)
    return config_path, credentials_path


def apply_env(box: PipelineSandbox, monkeypatch: Any) -> None:
    for name in box.env_removed:
        monkeypatch.delenv(name, raising=False)
    for name, value in box.env_overrides.items():
        monkeypatch.setenv(name, value)
    if os.environ.get("AWS_ENDPOINT_URL"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"])
