"""Read a CodePipeline, its CodeBuild projects and (optionally) one execution's artifacts.

Calls, read-only, as two short chains run side by side:

    pipeline account  GetPipeline -> BatchGetProjects (per project account and Region)
    pipeline account  ListPipelineExecutions (only for `latest`) -> ListActionExecutions

What cannot be read becomes a reason on the facts (a project's service role unknown, an
execution's objects unknown), never a crash. Two failures end the run with one line, because
nothing can be asked without the definition (docs/pipeline.md, "Errors"):

- the pipeline does not exist (PipelineNotFoundException), or an execution id does not:
  exit 2, the name or profile or Region is wrong;
- the profile may not read it (AccessDenied): exit 2, the profile lacks
  `codepipeline:GetPipeline` (docs/permissions.md);
- any other failure of GetPipeline (throttled past retries, connection): exit 3, undecidable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kmsdoctor.arn import account_of
from kmsdoctor.aws import Sessions, call, call_pages, profile_label
from kmsdoctor.collect.fetch import parallel
from kmsdoctor.errors import EXIT_UNKNOWN, UsageError
from kmsdoctor.pipeline.model import CodeBuildProject, Execution, PipelineDefinition

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
LATEST = "latest"


class PipelineUndecidable(UsageError):
    """The pipeline could not be read for a reason that is not the user's input (throttling
    past the retries, no connection): nothing can be decided, exit 3."""

    exit_code = EXIT_UNKNOWN


@dataclass
class PipelineFacts:
    definition: PipelineDefinition
    # by (project name, account): the project, or why it could not be read
    projects: dict[tuple[str, str], CodeBuildProject | str] = field(default_factory=dict)
    execution: Execution | None = None
    execution_error: str | None = None  # why the execution's objects are unknown


def collect_pipeline(
    sessions: Sessions,
    profile: str | None,
    name: str,
    region: str | None,
    account_profiles: Mapping[str, str],
    execution: str | None = None,
    on_definition: Callable[[PipelineDefinition], None] | None = None,
) -> PipelineFacts:
    """Read pipeline `name` through `profile` (the pipeline account's); the CodeBuild projects
    of other accounts through their `account_profiles` (account id -> profile); with
    `execution` ("latest" or an execution id) the real artifact objects of that execution.
    `on_definition` is called with the definition as soon as it is read, while the projects
    are (the caller may start reading what the definition names)."""
    session = sessions.session(profile)
    region = region or session.region_name
    if not region:
        raise UsageError(
            f"no Region for profile {profile_label(session)!r}: pass --region or set one"
        )
    codepipeline = sessions.client(profile, "codepipeline", region)

    def definition_and_projects() -> tuple[PipelineDefinition, dict[tuple[str, str], Any]]:
        definition = read_definition(codepipeline, name, region, profile_label(session))
        profiles = {**account_profiles, definition.account: profile}
        projects, _ = parallel(
            lambda: read_projects(definition, sessions, profiles),
            lambda: on_definition(definition) if on_definition is not None else None,
        )
        return definition, projects

    def execution_objects() -> tuple[Execution | None, str | None]:
        if execution is None:
            return None, None
        return read_execution(codepipeline, name, execution)

    (definition, projects), (found, error) = parallel(definition_and_projects, execution_objects)
    return PipelineFacts(definition, projects, found, error)


def read_definition(codepipeline: Any, name: str, region: str, label: str) -> PipelineDefinition:
    result = call(codepipeline, "GetPipeline", name=name)
    if not result.ok:
        assert result.error is not None
        code = result.error.code
        if code == "PipelineNotFoundException":
            raise UsageError(
                f"no pipeline {name!r} in Region {region} of the account of profile {label!r}"
            )
        if code in ACCESS_DENIED_CODES:
            raise UsageError(
                f"profile {label!r} may not read pipeline {name!r} (codepipeline:GetPipeline "
                f"answered {code}); grant it the permissions in docs/permissions.md"
            )
        if code == "ValidationException":
            raise UsageError(f"{name!r} is not a valid pipeline name: {result.error.message}")
        raise PipelineUndecidable(
            f"could not read pipeline {name!r}: codepipeline:GetPipeline failed with {code}"
        )
    assert result.response is not None
    metadata = result.response.get("metadata") or {}
    account = account_of(str(metadata.get("pipelineArn", "")))
    if not account:
        raise PipelineUndecidable(f"pipeline {name!r}: GetPipeline gave no pipelineArn")
    return PipelineDefinition.from_response(result.response, account, region)


def read_projects(
    definition: PipelineDefinition,
    sessions: Sessions,
    account_profiles: Mapping[str, str | None],
) -> dict[tuple[str, str], CodeBuildProject | str]:
    """Every CodeBuild project of the pipeline, one BatchGetProjects per account and Region,
    each through its account's profile (an account with none: the projects are unknown)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for project, account, region in definition.codebuild_projects():
        groups.setdefault((account, region), []).append(project)
    found: dict[tuple[str, str], CodeBuildProject | str] = {}
    tasks = []
    for (account, region), names in groups.items():
        if account not in account_profiles:
            reason = (
                f"CodeBuild project(s) {', '.join(names)} live in account {account}, which no "
                f"profile reads: pass --account-profile {account}=PROFILE"
            )
            for name in names:
                found[(name, account)] = reason
            continue
        codebuild = sessions.client(account_profiles[account], "codebuild", region)
        tasks.append(_batch_get_projects_task(codebuild, account, region, names))
    for answer in parallel(*tasks):
        found.update(answer)
    return found


def _batch_get_projects_task(
    codebuild: Any, account: str, region: str, names: list[str]
) -> Callable[[], dict[tuple[str, str], CodeBuildProject | str]]:
    def run() -> dict[tuple[str, str], CodeBuildProject | str]:
        result = call(codebuild, "BatchGetProjects", names=names)
        found: dict[tuple[str, str], CodeBuildProject | str] = {}
        if not result.ok:
            assert result.error is not None
            for name in names:
                found[(name, account)] = (
                    f"CodeBuild project {name!r} could not be read in {account} "
                    f"(codebuild:BatchGetProjects failed with {result.error.code})"
                )
            return found
        assert result.response is not None
        for project in result.response.get("projects") or []:
            name = str(project.get("name", ""))
            found[(name, account)] = CodeBuildProject(
                name=name,
                account=account,
                region=region,
                service_role=project.get("serviceRole") or None,
                encryption_key=project.get("encryptionKey") or None,
            )
        for name in result.response.get("projectsNotFound") or []:
            found[(str(name), account)] = (
                f"CodeBuild project {name!r} does not exist in account {account} ({region})"
            )
        return found

    return run


def read_execution(
    codepipeline: Any, name: str, execution: str
) -> tuple[Execution | None, str | None]:
    """The artifact objects of one execution; (None, why) when they cannot be read."""
    execution_id = execution
    if execution == LATEST:
        listed = call(codepipeline, "ListPipelineExecutions", pipelineName=name, maxResults=1)
        if not listed.ok:
            assert listed.error is not None
            if listed.error.code == "PipelineNotFoundException":
                return None, None  # GetPipeline, side by side, says it in one line
            return None, (
                f"the latest execution could not be found (codepipeline:ListPipelineExecutions "
                f"failed with {listed.error.code})"
            )
        assert listed.response is not None
        summaries = listed.response.get("pipelineExecutionSummaries") or []
        if not summaries:
            raise UsageError(f"pipeline {name!r} has never run: --execution latest names nothing")
        execution_id = str(summaries[0]["pipelineExecutionId"])
    result = call_pages(
        codepipeline,
        "ListActionExecutions",
        "actionExecutionDetails",
        pipelineName=name,
        filter={"pipelineExecutionId": execution_id},
    )
    if not result.ok:
        assert result.error is not None
        code = result.error.code
        if code == "PipelineExecutionNotFoundException":
            raise UsageError(f"pipeline {name!r} has no execution {execution_id!r}")
        if code == "PipelineNotFoundException":
            return None, None
        return None, (
            f"the artifacts of execution {execution_id} could not be read "
            f"(codepipeline:ListActionExecutions failed with {code})"
        )
    assert result.response is not None
    return Execution.from_action_executions(
        execution_id, result.response["actionExecutionDetails"]
    ), None
