"""Pipeline configuration findings: what the pipeline definition alone says will fail.

The locks (identity, bucket policy, key policy, ceilings) are the one analysis's job
(`kmsdoctor.analyze`). These rules read only the pipeline's own configuration — which key each
artifact is encrypted with, and how that key is named — which no policy shows. Each is a small
registered rule with a stable code, documented in docs/pipeline.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kmsdoctor.analyze.model import Finding, Fix, LockName, Severity
from kmsdoctor.pipeline.model import ArtifactAccess, PipelineDefinition, key_form


@dataclass(frozen=True)
class PipelineRule:
    code: str
    title: str
    lock: LockName
    severity: Severity
    fix: str
    check: Callable[[PipelineDefinition, ArtifactAccess], str | None]  # the detail, or None


PIPELINE_RULES: dict[str, PipelineRule] = {}


def pipeline_rule(
    *, code: str, title: str, lock: LockName, severity: Severity, fix: str
) -> Callable[[Callable[[PipelineDefinition, ArtifactAccess], str | None]], PipelineRule]:
    def register(check: Callable[[PipelineDefinition, ArtifactAccess], str | None]) -> PipelineRule:
        if code in PIPELINE_RULES:
            raise ValueError(f"pipeline finding code {code} is registered twice")
        registered = PipelineRule(code, title, lock, severity, fix, check)
        PIPELINE_RULES[code] = registered
        return registered

    return register


def _from_store(access: ArtifactAccess) -> bool:
    return access.key_source.startswith("artifact store")


def _cross_account(access: ArtifactAccess) -> bool:
    return bool(access.principal) and access.principal_account != access.key_owner


@pipeline_rule(
    code="KD901",
    title="The artifact store's key is named by alias or key id, and another account writes "
    "with it",
    lock="key_state",
    severity="error",
    fix="Name the artifact store's encryptionKey by its full key ARN "
    "(aws codepipeline update-pipeline).",
)
def store_key_not_an_arn(definition: PipelineDefinition, access: ArtifactAccess) -> str | None:
    """CodePipeline resolves an alias only in the key's own account and a key id in the account
    of the role that uses it, so a cross-account action writing an artifact looks for the key in
    its own account (KMS NotFoundException, or the wrong key)."""
    if access.operation != "write" or not _from_store(access) or not _cross_account(access):
        return None
    form = key_form(access.encryption_key)
    if form not in ("alias", "key_id"):
        return None
    named = "an alias" if form == "alias" else "a bare key id"
    return (
        f"the {access.key_source} names its key as {named} ({access.encryption_key}); "
        f"{access.principal} writes {access.artifact!r} from account {access.principal_account}, "
        f"where that name does not resolve to {definition.account}'s key"
    )


@pipeline_rule(
    code="KD902",
    title="The artifact store has no key: artifacts use the pipeline account's aws/s3 key",
    lock="key_state",
    severity="error",
    fix="Create a customer managed key in the pipeline's account, let the other accounts' roles "
    "use it (key policy), and set it as the artifact store's encryptionKey by key ARN.",
)
def store_without_key(definition: PipelineDefinition, access: ArtifactAccess) -> str | None:
    """Without an encryptionKey CodePipeline encrypts artifacts with the pipeline account's AWS
    managed key aws/s3, whose key policy trusts only its own account: no other account can ever
    read or write them."""
    if not _from_store(access) or access.encryption_key or not _cross_account(access):
        return None
    return (
        f"the {access.key_source} (bucket {access.bucket}) has no encryptionKey, so "
        f"{access.artifact!r} is encrypted with aws/s3 of {access.key_owner}; "
        f"{access.principal} in {access.principal_account} cannot use that key"
    )


@pipeline_rule(
    code="KD903",
    title="A CodeBuild project encrypts its output with aws/s3, which other accounts cannot use",
    lock="key_state",
    severity="error",
    fix="Set the CodeBuild project's encryptionKey to the artifact store's key ARN "
    "(aws codebuild update-project --encryption-key KEY_ARN).",
)
def codebuild_output_aws_managed(
    definition: PipelineDefinition, access: ArtifactAccess
) -> str | None:
    """CodeBuild encrypts a build's output artifacts with the project's own encryptionKey, not
    the pipeline's artifact-store key; a project without one uses its account's aws/s3, so a
    later action in another account cannot decrypt the build output."""
    if not access.key_source.startswith("CodeBuild project") or access.encryption_key:
        return None
    if not _cross_account(access):
        return None
    return (
        f"{access.artifact!r} is written by {access.key_source}, which has no encryptionKey and "
        f"so uses aws/s3 of {access.key_owner}; {access.principal} in "
        f"{access.principal_account} cannot decrypt it"
    )


def configuration_findings(definition: PipelineDefinition, access: ArtifactAccess) -> list[Finding]:
    findings: list[Finding] = []
    for rule in PIPELINE_RULES.values():
        detail = rule.check(definition, access)
        if detail is None:
            continue
        fix = Fix(
            account=definition.account,
            where=f"pipeline {definition.name}" if rule.code != "KD903" else access.key_source,
            change=rule.fix,
        )
        findings.append(Finding(rule.code, rule.severity, rule.lock, rule.title, detail, fix))
    return findings
