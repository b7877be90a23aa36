"""`kmsdoctor pipeline`: read the pipeline, ask the one analysis about every artifact access.

    read pipeline (collect/pipeline.py) -> accesses and questions (model.py)
      -> collect_facts (every fact once, all accounts) -> probe (with --execution)
      -> answer() per question -> one row per stage, action, principal and operation

No analysis lives here: each row's verdict is the analysis's answers for its objects, plus the
pipeline configuration findings (findings.py) that no policy shows.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from kmsdoctor import __version__
from kmsdoctor.analyze.model import (
    Finding,
    PrincipalDiagnosis,
    Verdict,
    exit_code_of,
    worst_verdict,
)
from kmsdoctor.errors import UsageError
from kmsdoctor.pipeline.findings import configuration_findings
from kmsdoctor.pipeline.model import (
    ArtifactAccess,
    PipelineDefinition,
    RoleKind,
    plan_accesses,
    principals_by_account,
    questions_for,
)
from kmsdoctor.questions import Operation, Question

PIPELINE_SCHEMA_VERSION = 1
_ACCOUNT_PROFILE = re.compile(r"^(\d{12})=(.+)$")


@dataclass(frozen=True)
class PipelineRequest:
    source_profile: str | None  # the pipeline's (tooling) account
    name: str
    account_profiles: dict[str, str] = field(default_factory=dict)  # account id -> profile
    execution: str | None = None  # "latest" or an execution id
    region: str | None = None
    probe: bool = True
    max_objects: int = 1000


def parse_account_profiles(values: list[str]) -> dict[str, str]:
    """`--account-profile 222222222222=dev` (repeatable) as {account id: profile}."""
    profiles: dict[str, str] = {}
    for value in values:
        match = _ACCOUNT_PROFILE.match(value.strip())
        if match is None:
            raise UsageError(
                f"--account-profile {value!r} is not ACCOUNT_ID=PROFILE "
                "(a 12-digit account id, then the profile that reads it)"
            )
        account, profile = match.groups()
        if profiles.get(account, profile) != profile:
            raise UsageError(f"--account-profile names two profiles for account {account}")
        profiles[account] = profile
    return profiles


@dataclass
class ActionRow:
    """One stage → action → principal → operation of the report."""

    stage: str
    action: str
    provider: str
    principal: str
    role_kind: RoleKind
    operation: Operation
    need: str  # "required" | "if_template_reads_artifacts"
    artifacts: list[str]
    objects: list[str]  # s3://bucket/key answered for (or the prefix when nothing is listed)
    verdict: Verdict
    locks_shut: list[str]
    findings: list[Finding]
    reasons: list[str]  # why unknown, and the analysis's reason for each shut or unknown lock
    probe: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> bool:
        """Whether the row decides the pipeline's verdict (an execution role whose template
        reads no artifact is shown, not counted)."""
        return self.need == "required"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "action": self.action,
            "provider": self.provider,
            "principal": self.principal,
            "role_kind": self.role_kind,
            "operation": self.operation,
            "need": self.need,
            "artifacts": list(self.artifacts),
            "objects": list(self.objects),
            "verdict": self.verdict,
            "locks_shut": list(self.locks_shut),
            "findings": [f.to_dict() for f in self.findings],
            "reasons": list(self.reasons),
            "probe": list(self.probe),
        }


@dataclass
class PipelineReport:
    request: PipelineRequest
    definition: PipelineDefinition
    rows: list[ActionRow]
    notes: list[str]
    execution_id: str | None = None
    generated_at: str = ""

    @property
    def verdict(self) -> Verdict:
        counted = [row.verdict for row in self.rows if row.counts]
        return worst_verdict(counted) if counted else "allow"

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        definition = self.definition
        return {
            "schema_version": PIPELINE_SCHEMA_VERSION,
            "kmsdoctor_version": __version__,
            "generated_at": self.generated_at,
            "request": {
                "pipeline": definition.name,
                "region": definition.region,
                "execution": self.request.execution,
                "execution_id": self.execution_id,
                "account_profiles": dict(self.request.account_profiles),
                "probe": self.request.probe,
                "principals": sorted({r.principal for r in self.rows if r.principal}),
            },
            "pipeline": {
                "name": definition.name,
                "account": definition.account,
                "region": definition.region,
                "role_arn": definition.role_arn,
                "version": definition.version,
                "stages": list(definition.stages),
            },
            "artifact_stores": [
                {
                    "region": store.region,
                    "bucket": store.bucket,
                    "encryption_key": store.encryption_key,
                    "key_form": store.key_form,
                }
                for store in definition.stores.values()
            ],
            "actions": [row.to_dict() for row in self.rows],
            "verdict": self.verdict,
            "notes": list(self.notes),
        }


def run_pipeline(request: PipelineRequest) -> PipelineReport:
    """Read the pipeline and answer every artifact access (see the module docstring)."""
    from kmsdoctor.analyze import answer
    from kmsdoctor.aws import Sessions
    from kmsdoctor.collect.pipeline import collect_pipeline
    from kmsdoctor.collect.plan import CollectionPlan, FactCollection

    # Every profile is known before the first call: open them all; while the definition is
    # read, make the clients the run needs next and read what each profile's account needs
    # whatever the pipeline says (identity, bucket list, SCPs, VPC endpoints).
    sessions = Sessions(
        [request.source_profile, *request.account_profiles.values()], request.region
    )
    region = request.region or sessions.session(request.source_profile).region_name
    collection = None
    if region:  # without one, collect_pipeline says so in one line
        # GetPipeline, then BatchGetProjects, is the run's first chain: its clients are made
        # before any background work competes for the interpreter.
        for service in ("codepipeline", "codebuild"):
            sessions.client(request.source_profile, service, region)
        sessions.warm(_clients_ahead(request.source_profile, sessions.profiles))
        collection = FactCollection(
            CollectionPlan(questions=[], profiles=dict(request.account_profiles), region=region),
            sessions,
        )
        collection.read_profiles_ahead(sessions.profiles)

    def profiles_of(definition: PipelineDefinition) -> dict[str, str | None]:
        # The pipeline's account is read through the source profile unless
        # --account-profile names another for it.
        return {definition.account: request.source_profile, **request.account_profiles}

    def read_ahead(definition: PipelineDefinition) -> None:
        # What the definition alone names (every principal but the CodeBuild projects' service
        # roles, the stores' buckets, and without --execution the artifact prefix) is read
        # while BatchGetProjects is in flight.
        if collection is None:
            return
        known = questions_for(plan_accesses(definition, {}))
        collection.read_questions_ahead(
            known, profiles_of(definition), prefixes=request.execution is None
        )

    try:
        facts = collect_pipeline(
            sessions,
            request.source_profile,
            request.name,
            request.region,
            request.account_profiles,
            request.execution,
            on_definition=read_ahead,
        )
        definition = facts.definition
        accesses = plan_accesses(definition, facts.projects, facts.execution, facts.execution_error)
        questions = questions_for(accesses)

        profiles = profiles_of(definition)
        notes: list[str] = []
        for account in principals_by_account(accesses):
            if account not in profiles:
                profiles[account] = None
                notes.append(
                    f"account {account} has no profile: its roles' identity policies are "
                    f"unknown; pass --account-profile {account}=PROFILE to settle them"
                )
        plan = CollectionPlan(
            questions=questions,
            profiles=profiles,
            region=definition.region,
            max_objects=request.max_objects,
        )
        assert collection is not None  # collect_pipeline found the same Region
        snapshot = collection.collect(plan)
    except BaseException:
        if collection is not None:
            collection.close(failed=True)
        raise
    probes: list[Any] = []
    if request.probe and facts.execution is not None:
        from kmsdoctor.pipeline.probe import probe_artifacts

        probes = probe_artifacts(snapshot, questions, profiles, definition.region)
    elif request.probe and request.execution is None:
        notes.append(
            "no probe: without --execution there is no artifact object to read "
            "(pass --execution latest to GET one byte of each real artifact as its roles)"
        )

    answers: dict[Question, list[Any]] = {}
    for question in questions:
        snapshot.probes = [p for p in probes if _probe_is_for(p, question)]
        answers[question] = answer(snapshot, question)
    snapshot.probes = probes
    rows = _rows(definition, accesses, answers, probes)
    return PipelineReport(
        request=request,
        definition=definition,
        rows=rows,
        notes=notes,
        execution_id=facts.execution.execution_id if facts.execution else None,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _clients_ahead(
    pipeline_profile: str | None, profiles: list[str | None]
) -> list[tuple[str | None, str, None]]:
    """The clients the run needs after GetPipeline, in the order it needs them: the collection
    planner's for every account (identity and bucket list, principals, organization, VPC
    endpoints), then the pipeline account's KMS client for the artifact store's key. In each
    session's Region: a pipeline or project in another Region makes its own."""
    wanted: list[tuple[str | None, str, None]] = []
    for service in ("sts", "s3", "iam", "organizations", "ec2"):
        wanted += [(profile, service, None) for profile in profiles]
    wanted.append((pipeline_profile, "kms", None))
    return wanted


def _probe_is_for(probe: Any, question: Question) -> bool:
    """A probe call belongs to the question about the object it was made for, as that role."""
    if question.key is None or probe.principal_arn != question.principal:
        return False
    return probe.facts.get("object_key") == question.key and probe.facts.get("bucket") == (
        question.bucket
    )


def _rows(
    definition: PipelineDefinition,
    accesses: list[ArtifactAccess],
    answers: dict[Question, list[Any]],
    probes: list[Any],
) -> list[ActionRow]:
    grouped: dict[tuple[str, str, str, str, str], list[ArtifactAccess]] = {}
    for access in accesses:
        key = (access.stage, access.action, access.principal, access.role_kind, access.operation)
        grouped.setdefault(key, []).append(access)
    rows: list[ActionRow] = []
    for group in grouped.values():
        rows.append(_row(definition, group, answers, probes))
    return rows


def _row(
    definition: PipelineDefinition,
    group: list[ArtifactAccess],
    answers: dict[Question, list[Any]],
    probes: list[Any],
) -> ActionRow:
    first = group[0]
    verdicts: list[Verdict] = []
    locks_shut: list[str] = []
    findings: list[Finding] = []
    reasons: list[str] = []
    objects: list[str] = []
    for access in group:
        for finding in configuration_findings(definition, access):
            _add_finding(findings, finding)
            if finding.severity == "error":
                verdicts.append("deny")
                _add(locks_shut, finding.lock)
        question = access.question()
        if question is None:
            verdicts.append("unknown")
            _add(reasons, access.unknown_reason or "the principal or the object is unknown")
            continue
        for object_answer in answers.get(question, []):
            diagnosis: PrincipalDiagnosis = object_answer.diagnosis
            where = object_answer.object_key or question.key or question.prefix or ""
            _add(objects, f"s3://{question.bucket}/{where}")
            verdicts.append(diagnosis.verdict)
            for name in diagnosis.shut_locks():
                _add(locks_shut, name)
                _add(reasons, f"{name}: {diagnosis.locks[name].reason}")
            if diagnosis.verdict == "unknown":
                for name, lock in diagnosis.locks.items():
                    if lock.status == "unknown":
                        _add(reasons, f"{name}: {lock.reason}")
            for finding in diagnosis.findings:
                _add_finding(findings, finding)
    row_probes = [
        asdict(p)
        for p in probes
        if p.principal_arn == first.principal
        and any(p.facts.get("object_key") == a.key for a in group)
    ]
    return ActionRow(
        stage=first.stage,
        action=first.action,
        provider=first.provider,
        principal=first.principal,
        role_kind=first.role_kind,
        operation=first.operation,
        need=first.need,
        artifacts=list(dict.fromkeys(a.artifact for a in group)),
        objects=objects,
        verdict=worst_verdict(verdicts) if verdicts else "unknown",
        locks_shut=locks_shut,
        findings=findings,
        reasons=reasons,
        probe=row_probes,
    )


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _add_finding(findings: list[Finding], finding: Finding) -> None:
    if all((f.code, f.detail) != (finding.code, finding.detail) for f in findings):
        findings.append(finding)
