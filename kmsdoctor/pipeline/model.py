"""A CodePipeline as kmsdoctor sees it, and who reads and writes which artifact (pure: no boto3).

`PipelineDefinition.from_response` reads a `codepipeline:GetPipeline` answer; `plan_accesses`
turns the definition (plus the CodeBuild projects and, with `--execution`, the real artifact
objects of one execution) into `ArtifactAccess`es: one principal, one operation, one artifact.
Each access becomes a `kmsdoctor.questions.Question` for the one analysis.

Who does the S3 and KMS work for an action (see docs/pipeline.md for the sources):

- CodeBuild: the project's service role downloads the inputs and uploads the outputs; the
  action's `roleArn`, if any, only starts the build.
- CloudFormation: the action role (or the pipeline role when the action has none) reads the
  inputs (the template) and writes the outputs (`OutputFileName`); the execution role
  (`RoleArn` in the configuration) reads artifacts when the template does.
- Everything else (sources, CodeDeploy, ECS, S3 deploy, Lambda invoke, approvals): the action
  role, or the pipeline role when there is none, reads the inputs and writes the outputs.

Which key encrypts an artifact: the artifact store's `encryptionKey` of the Region (none: the
pipeline account's AWS managed `aws/s3` key), except CodeBuild outputs, which CodeBuild encrypts
with the *project's* `encryptionKey` (none: the project account's `aws/s3`), whatever the store
says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from kmsdoctor.arn import account_of, is_key_arn, parse_arn
from kmsdoctor.questions import Operation, Question

RoleKind = Literal[
    "pipeline_role",
    "action_role",
    "codebuild_service_role",
    "cloudformation_execution_role",
]
# "required": the action cannot run without it; "if_template_reads_artifacts": a CloudFormation
# execution role, which needs the artifact only when the template reads one.
Need = Literal["required", "if_template_reads_artifacts"]
KeyForm = Literal["arn", "alias", "key_id", "none"]

# Where CodePipeline puts an artifact: s3://BUCKET/<pipeline name[:20]>/<artifact name[:10]>/
# <random>, e.g. "service-pipeline/BuildArtif/azeG09Z" (observed in AWS's own examples, such as
# ListActionExecutions answers and CodeBuild source versions; not a documented contract).
PIPELINE_FOLDER_CHARS = 20
ARTIFACT_FOLDER_CHARS = 10

_GET_ARTIFACT_ATT = re.compile(r"Fn::GetArtifactAtt\"?\s*:\s*\[\s*\"([^\"]+)\"")


def key_form(reference: str | None) -> KeyForm:
    """How a key is named: a key ARN resolves anywhere; an alias (name or ARN) or a bare key id
    resolves in the account of whoever uses it."""
    if not reference:
        return "none"
    if is_key_arn(reference):
        return "arn"
    parsed = parse_arn(reference)
    if reference.startswith("alias/") or (
        parsed is not None and parsed.resource.startswith("alias/")
    ):
        return "alias"
    return "key_id"


def is_aws_managed_alias(reference: str | None) -> bool:
    """`alias/aws/s3` or an alias ARN ending in it (what CodeBuild reports for no project key)."""
    if not reference:
        return False
    parsed = parse_arn(reference)
    resource = parsed.resource if parsed else reference
    return resource.startswith("alias/aws/")


@dataclass(frozen=True)
class ArtifactStore:
    region: str
    bucket: str
    encryption_key: str | None  # as configured: key ARN, key id, alias; None: aws/s3

    @property
    def key_form(self) -> KeyForm:
        return key_form(self.encryption_key)


@dataclass(frozen=True)
class PipelineAction:
    stage: str
    name: str
    category: str  # Source | Build | Test | Deploy | Approval | Invoke | Compute
    provider: str  # CodeBuild, CloudFormation, CodeDeploy, ECS, S3, Lambda, Manual, …
    region: str  # the action's Region (the pipeline's unless the action names another)
    role_arn: str | None
    configuration: dict[str, str]
    input_artifacts: tuple[str, ...]
    output_artifacts: tuple[str, ...]
    run_order: int = 1

    @property
    def label(self) -> str:
        return f"{self.stage}/{self.name}"


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    account: str  # the pipeline's (tooling) account
    region: str
    role_arn: str
    stores: dict[str, ArtifactStore]  # by Region
    actions: tuple[PipelineAction, ...]
    stages: tuple[str, ...]
    version: int | None = None

    @classmethod
    def from_response(
        cls, response: dict[str, Any], account: str, region: str
    ) -> PipelineDefinition:
        """Read a GetPipeline answer. `account`/`region`: where the pipeline lives (the profile's
        account and Region, since GetPipeline answers only for its own)."""
        pipeline = response.get("pipeline") or {}
        stores: dict[str, ArtifactStore] = {}
        single = pipeline.get("artifactStore")
        if single:
            stores[region] = _store(region, single)
        for store_region, store in (pipeline.get("artifactStores") or {}).items():
            stores[store_region] = _store(store_region, store)
        actions: list[PipelineAction] = []
        stages: list[str] = []
        for stage in pipeline.get("stages") or []:
            stage_name = str(stage.get("name", ""))
            stages.append(stage_name)
            for action in stage.get("actions") or []:
                type_id = action.get("actionTypeId") or {}
                actions.append(
                    PipelineAction(
                        stage=stage_name,
                        name=str(action.get("name", "")),
                        category=str(type_id.get("category", "")),
                        provider=str(type_id.get("provider", "")),
                        region=str(action.get("region") or region),
                        role_arn=action.get("roleArn") or None,
                        configuration={
                            str(k): str(v) for k, v in (action.get("configuration") or {}).items()
                        },
                        input_artifacts=tuple(
                            str(a["name"]) for a in action.get("inputArtifacts") or []
                        ),
                        output_artifacts=tuple(
                            str(a["name"]) for a in action.get("outputArtifacts") or []
                        ),
                        run_order=int(action.get("runOrder") or 1),
                    )
                )
        return cls(
            name=str(pipeline.get("name", "")),
            account=account,
            region=region,
            role_arn=str(pipeline.get("roleArn", "")),
            stores=stores,
            actions=tuple(actions),
            stages=tuple(stages),
            version=pipeline.get("version"),
        )

    def store_for(self, action: PipelineAction) -> ArtifactStore | None:
        """A cross-Region action uses its own Region's store."""
        return self.stores.get(action.region) or (
            self.stores.get(self.region) if len(self.stores) == 1 else None
        )

    @property
    def artifact_prefix(self) -> str:
        return f"{self.name[:PIPELINE_FOLDER_CHARS]}/"

    def artifact_folder(self, artifact: str) -> str:
        """The folder under which CodePipeline stores every run's object of `artifact`."""
        return f"{self.artifact_prefix}{artifact[:ARTIFACT_FOLDER_CHARS]}/"

    def codebuild_projects(self) -> list[tuple[str, str, str]]:
        """(project name, account, Region) of every CodeBuild action: a cross-account action's
        project lives in its role's account."""
        found: list[tuple[str, str, str]] = []
        for action in self.actions:
            if action.provider != "CodeBuild":
                continue
            project = action.configuration.get("ProjectName", "")
            if not project:
                continue
            account = account_of(action.role_arn) if action.role_arn else self.account
            entry = (project, account or self.account, action.region)
            if entry not in found:
                found.append(entry)
        return found


def _store(region: str, store: dict[str, Any]) -> ArtifactStore:
    key = store.get("encryptionKey") or {}
    return ArtifactStore(
        region=region, bucket=str(store.get("location", "")), encryption_key=key.get("id") or None
    )


@dataclass(frozen=True)
class CodeBuildProject:
    name: str
    account: str
    region: str
    service_role: str | None
    # As CodeBuild reports it; CodeBuild reports `arn:…:alias/aws/s3` for a project with none.
    encryption_key: str | None


@dataclass(frozen=True)
class ArtifactObject:
    """One artifact of one execution, where CodePipeline put it."""

    name: str
    bucket: str
    key: str


@dataclass(frozen=True)
class ActionRun:
    """What one action of one execution read and wrote (ListActionExecutions)."""

    stage: str
    action: str
    role_arn: str | None
    inputs: tuple[ArtifactObject, ...]
    outputs: tuple[ArtifactObject, ...]
    status: str = ""


@dataclass(frozen=True)
class Execution:
    execution_id: str
    runs: dict[tuple[str, str], ActionRun] = field(default_factory=dict)  # (stage, action)

    @classmethod
    def from_action_executions(cls, execution_id: str, details: list[dict[str, Any]]) -> Execution:
        runs: dict[tuple[str, str], ActionRun] = {}
        for detail in details:
            stage, action = str(detail.get("stageName", "")), str(detail.get("actionName", ""))
            inputs = _artifact_objects((detail.get("input") or {}).get("inputArtifacts"))
            outputs = _artifact_objects((detail.get("output") or {}).get("outputArtifacts"))
            previous = runs.get((stage, action))
            if previous is not None:  # a retried action: keep the objects of every attempt
                inputs = _merge(previous.inputs, inputs)
                outputs = _merge(previous.outputs, outputs)
            runs[(stage, action)] = ActionRun(
                stage=stage,
                action=action,
                role_arn=(detail.get("input") or {}).get("roleArn") or None,
                inputs=inputs,
                outputs=outputs,
                status=str(detail.get("status", "")),
            )
        return cls(execution_id, runs)

    def artifact(self, name: str) -> ArtifactObject | None:
        """The object an artifact name became in this execution (written once, by its action)."""
        for run in self.runs.values():
            for obj in (*run.outputs, *run.inputs):
                if obj.name == name:
                    return obj
        return None


def _artifact_objects(items: Any) -> tuple[ArtifactObject, ...]:
    found: list[ArtifactObject] = []
    for item in items or []:
        location = item.get("s3location") or {}
        if location.get("bucket") and location.get("key"):
            found.append(
                ArtifactObject(str(item.get("name", "")), location["bucket"], location["key"])
            )
    return tuple(found)


def _merge(
    first: tuple[ArtifactObject, ...], second: tuple[ArtifactObject, ...]
) -> tuple[ArtifactObject, ...]:
    merged = list(first)
    for obj in second:
        if obj not in merged:
            merged.append(obj)
    return tuple(merged)


# --- who reads and writes what ------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactAccess:
    """One principal reading or writing one artifact for one action."""

    stage: str
    action: str
    provider: str
    principal: str  # role ARN; "" when it could not be learnt (see `unknown_reason`)
    role_kind: RoleKind
    operation: Operation
    artifact: str
    bucket: str  # "" when no artifact store covers the action's Region
    key: str | None = None  # the real object (with --execution)
    prefix: str | None = None  # the pipeline's artifact folder (without --execution)
    # The key the artifact is (or will be) encrypted with, as configured: the store's, or the
    # CodeBuild project's for a build's outputs. None: the AWS managed aws/s3 key.
    encryption_key: str | None = None
    key_owner: str = ""  # the account whose key that reference names
    key_source: str = ""  # "artifact store eu-west-1", "CodeBuild project build-app"
    need: Need = "required"
    unknown_reason: str | None = None  # why the principal or the object is not known

    @property
    def principal_account(self) -> str:
        return account_of(self.principal)

    def question(self) -> Question | None:
        """The question for the analysis; None when the principal or the bucket is unknown."""
        if not self.principal or not self.bucket or self.unknown_reason:
            return None
        return Question(
            principal=self.principal,
            bucket=self.bucket,
            key=self.key,
            prefix=None if self.key is not None else self.prefix,
            operation=self.operation,
        )


@dataclass(frozen=True)
class _Principal:
    arn: str
    kind: RoleKind
    reads: bool
    writes: bool
    need: Need = "required"
    unknown_reason: str | None = None
    read_only: tuple[str, ...] | None = None  # only these input artifacts (GetArtifactAtt)


def template_reads_artifacts(configuration: dict[str, str]) -> tuple[bool, tuple[str, ...]]:
    """Whether a CloudFormation action's template reads artifacts (so its execution role does),
    and which ones when the configuration says: `Fn::GetArtifactAtt` in `ParameterOverrides`
    passes an artifact's bucket and key to the template (e.g. a Lambda code bundle);
    `TemplateConfiguration` points at a file in an artifact."""
    overrides = configuration.get("ParameterOverrides", "")
    named = list(dict.fromkeys(_GET_ARTIFACT_ATT.findall(overrides)))
    template_configuration = configuration.get("TemplateConfiguration", "")
    if template_configuration:
        artifact = template_configuration.split("::", 1)[0]
        if artifact not in named:
            named.append(artifact)
    return bool(named), tuple(named)


def action_principals(
    definition: PipelineDefinition,
    action: PipelineAction,
    projects: dict[tuple[str, str], CodeBuildProject | str],
) -> list[_Principal]:
    """Who does this action's S3 and KMS work. `projects`: by (name, account), the project or
    why it could not be read."""
    acting = action.role_arn or definition.role_arn
    acting_kind: RoleKind = "action_role" if action.role_arn else "pipeline_role"
    if action.provider == "CodeBuild":
        project_name = action.configuration.get("ProjectName", "")
        account = account_of(action.role_arn) if action.role_arn else definition.account
        project = projects.get((project_name, account or definition.account))
        if isinstance(project, CodeBuildProject) and project.service_role:
            return [_Principal(project.service_role, "codebuild_service_role", True, True)]
        reason = (
            project
            if isinstance(project, str)
            else f"CodeBuild project {project_name!r} has no service role on record"
        )
        return [_Principal("", "codebuild_service_role", True, True, unknown_reason=reason)]
    principals = [_Principal(acting, acting_kind, True, True)]
    if action.provider == "CloudFormation" and action.configuration.get("RoleArn"):
        reads, named = template_reads_artifacts(action.configuration)
        principals.append(
            _Principal(
                action.configuration["RoleArn"],
                "cloudformation_execution_role",
                reads=True,
                writes=False,
                need="required" if reads else "if_template_reads_artifacts",
                read_only=named or None,
            )
        )
    return principals


def artifact_producers(definition: PipelineDefinition) -> dict[str, PipelineAction]:
    producers: dict[str, PipelineAction] = {}
    for action in definition.actions:
        for name in action.output_artifacts:
            producers.setdefault(name, action)
    return producers


def artifact_key(
    definition: PipelineDefinition,
    artifact: str,
    region: str,
    producers: dict[str, PipelineAction],
    projects: dict[tuple[str, str], CodeBuildProject | str],
) -> tuple[str | None, str, str]:
    """(key reference, the account it names a key in, where it comes from) for an artifact as
    stored in `region`."""
    producer = producers.get(artifact)
    if producer is not None and producer.provider == "CodeBuild" and producer.region == region:
        name = producer.configuration.get("ProjectName", "")
        account = account_of(producer.role_arn) if producer.role_arn else definition.account
        project = projects.get((name, account or definition.account))
        if isinstance(project, CodeBuildProject):
            reference = project.encryption_key
            if reference is None or is_aws_managed_alias(reference):
                return None, project.account, f"CodeBuild project {name}"
            owner = account_of(reference) or project.account
            return reference, owner, f"CodeBuild project {name}"
    store = definition.stores.get(region)
    if store is None:
        return None, definition.account, f"no artifact store in {region}"
    owner = account_of(store.encryption_key or "") or definition.account
    return store.encryption_key, owner, f"artifact store {region}"


def plan_accesses(
    definition: PipelineDefinition,
    projects: dict[tuple[str, str], CodeBuildProject | str],
    execution: Execution | None = None,
    execution_error: str | None = None,
) -> list[ArtifactAccess]:
    """Every artifact read and write of every action, by the principal that makes it, in stage
    and action order. `execution_error`: `--execution` was asked but its objects could not be
    read, so every object is unknown for that reason."""
    producers = artifact_producers(definition)
    accesses: list[ArtifactAccess] = []
    for action in definition.actions:
        store = definition.store_for(action)
        run = execution.runs.get((action.stage, action.name)) if execution else None
        for principal in action_principals(definition, action, projects):
            operations: list[tuple[Operation, tuple[str, ...]]] = []
            if principal.reads:
                inputs = action.input_artifacts
                if principal.read_only is not None:
                    inputs = (
                        tuple(a for a in principal.read_only if a in inputs) or principal.read_only
                    )
                operations.append(("read", inputs))
            if principal.writes:
                operations.append(("write", action.output_artifacts))
            for operation, artifacts in operations:
                for artifact in artifacts:
                    accesses.append(
                        _access(
                            definition, action, principal, operation, artifact, store, run,
                            execution, producers, projects, execution_error,
                        )
                    )  # fmt: skip
    return accesses


def _access(
    definition: PipelineDefinition,
    action: PipelineAction,
    principal: _Principal,
    operation: Operation,
    artifact: str,
    store: ArtifactStore | None,
    run: ActionRun | None,
    execution: Execution | None,
    producers: dict[str, PipelineAction],
    projects: dict[tuple[str, str], CodeBuildProject | str],
    execution_error: str | None = None,
) -> ArtifactAccess:
    reference, owner, source = artifact_key(
        definition, artifact, action.region, producers, projects
    )
    unknown = principal.unknown_reason
    bucket = store.bucket if store else ""
    if store is None and unknown is None:
        unknown = f"the pipeline has no artifact store in {action.region}"
    if execution_error and unknown is None:
        unknown = execution_error
    key: str | None = None
    prefix: str | None = definition.artifact_folder(artifact)
    if execution is not None:
        found = _object_in_run(run, operation, artifact) or execution.artifact(artifact)
        if found is not None:
            bucket, key, prefix = found.bucket, found.key, None
        elif operation == "write":
            pass  # the write did not happen in that run: ask about the store's folder instead
        elif unknown is None:
            unknown = (
                f"execution {execution.execution_id} has no object for artifact {artifact!r} "
                f"(the action did not run in it)"
            )
    return ArtifactAccess(
        stage=action.stage,
        action=action.name,
        provider=action.provider,
        principal=principal.arn,
        role_kind=principal.kind,
        operation=operation,
        artifact=artifact,
        bucket=bucket,
        key=key,
        prefix=prefix,
        encryption_key=reference,
        key_owner=owner,
        key_source=source,
        need=principal.need,
        unknown_reason=unknown,
    )


def _object_in_run(
    run: ActionRun | None, operation: Operation, artifact: str
) -> ArtifactObject | None:
    if run is None:
        return None
    for obj in run.inputs if operation == "read" else run.outputs:
        if obj.name == artifact:
            return obj
    return None


def principals_by_account(accesses: list[ArtifactAccess]) -> dict[str, list[str]]:
    """Every principal of the pipeline, grouped by its account id."""
    found: dict[str, list[str]] = {}
    for access in accesses:
        if access.principal:
            principals = found.setdefault(access.principal_account, [])
            if access.principal not in principals:
                principals.append(access.principal)
    return found


def questions_for(accesses: list[ArtifactAccess]) -> list[Question]:
    """The distinct questions the accesses ask, in order (one per principal, object or prefix,
    operation: two actions reading the same artifact as the same role ask it once)."""
    questions: list[Question] = []
    seen: set[Question] = set()
    for access in accesses:
        question = access.question()
        if question is not None and question not in seen:
            seen.add(question)
            questions.append(question)
    return questions
