"""The pipeline report for people: a stage-by-stage table, then the failures in detail.

    STAGE          ACTION  PRINCIPAL                         KIND         OP    RESULT
    DeployStaging  Deploy  StagingDeployRole (333333333333)  action role  read  ✗ identity · KD101

Only failing and undecided rows get details; the JSON (`PipelineReport.to_dict`) has all.
"""

from __future__ import annotations

import json

from kmsdoctor.arn import account_of, name_of
from kmsdoctor.pipeline.run import ActionRow, PipelineReport

MARKS = {"allow": "✓", "deny": "✗", "unknown": "?"}
KIND_LABELS = {
    "pipeline_role": "pipeline role",
    "action_role": "action role",
    "codebuild_service_role": "CodeBuild service role",
    "cloudformation_execution_role": "CFN execution role",
}
CONDITIONAL_MARK = "*"


def emit_pipeline(report: PipelineReport, output_format: str) -> int:
    """Print the report; return the exit code (as for `diagnose`)."""
    import typer

    if output_format == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(render_text(report))
    return report.exit_code


def principal_label(row: ActionRow) -> str:
    if not row.principal:
        return "(unknown)"
    return f"{name_of(row.principal)} ({account_of(row.principal)})"


def result_label(row: ActionRow) -> str:
    mark = MARKS[row.verdict]
    if row.verdict == "allow":
        return mark
    codes = [f.code for f in row.findings if f.severity == "error"]
    parts = [", ".join(row.locks_shut)] if row.locks_shut else []
    if codes:
        parts.append(", ".join(codes))
    if row.verdict == "unknown" and not parts:
        parts.append("unknown")
    return f"{mark} {' · '.join(parts)}".rstrip()


def render_text(report: PipelineReport) -> str:
    definition = report.definition
    lines: list[str] = []
    run = f", execution {report.execution_id}" if report.execution_id else ""
    lines.append(
        f"Pipeline {definition.name} (account {definition.account}, {definition.region}{run})"
    )
    for store in definition.stores.values():
        key = store.encryption_key or "none: the AWS managed key aws/s3"
        lines.append(f"  artifact store {store.region}: s3://{store.bucket}  key {key}")
    lines.append("")

    header = ("STAGE", "ACTION", "PRINCIPAL", "KIND", "OP", "RESULT")
    table = [header]
    for row in report.rows:
        kind = KIND_LABELS[row.role_kind] + ("" if row.counts else CONDITIONAL_MARK)
        table.append(
            (row.stage, row.action, principal_label(row), kind, row.operation, result_label(row))
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for cells in table:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    if any(not row.counts for row in report.rows):
        lines.append(
            f"{CONDITIONAL_MARK} needed only if the template reads artifacts (e.g. a Lambda "
            "bundle via Fn::GetArtifactAtt); shown, not counted in the verdict"
        )
    lines.append("")

    counted = [row for row in report.rows if row.counts]
    failing = [row for row in counted if row.verdict != "allow"]
    lines.append(
        f"Verdict: {report.verdict} — {len(counted) - len(failing)} of {len(counted)} "
        "required accesses work"
    )
    details = [row for row in report.rows if row.verdict != "allow"]
    if details:
        lines.append("")
        lines.append("Failures and unknowns")
        for row in details:
            lines.extend(_detail(row))
    if report.notes:
        lines.append("")
        lines.append("Notes")
        lines.extend(f"  - {note}" for note in report.notes)
    return "\n".join(lines)


def _detail(row: ActionRow) -> list[str]:
    verb = "read" if row.operation == "read" else "write"
    status = {"deny": "cannot", "unknown": "may or may not"}[row.verdict]
    needed = "" if row.counts else " (needed only if the template reads artifacts)"
    lines = [
        "",
        f"  {row.stage} / {row.action}: {principal_label(row)} {status} {verb} "
        f"{', '.join(row.artifacts)}{needed}",
    ]
    lines.append(f"    principal: {row.principal or 'unknown'} ({KIND_LABELS[row.role_kind]})")
    for where in row.objects[:3]:
        lines.append(f"    object: {where}")
    if len(row.objects) > 3:
        lines.append(f"    … and {len(row.objects) - 3} more objects")
    for reason in row.reasons:
        lines.append(f"    {reason}")
    warnings = [f for f in row.findings if f.severity == "warning"]
    for finding in row.findings:
        if finding.severity != "error":
            continue
        lines.append(f"    {finding.code} [{finding.lock}] {finding.title}")
        lines.append(f"      {finding.detail}")
        if finding.fix is not None:
            where = f"in {finding.fix.account}, " if finding.fix.account else ""
            lines.append(f"      fix ({where}{finding.fix.where}): {finding.fix.change}")
    if warnings:
        codes = ", ".join(dict.fromkeys(f.code for f in warnings))
        lines.append(f"    warnings (details in --format json): {codes}")
    for probe in row.probe:
        if probe.get("operation") == "s3:GetObject" or probe.get("outcome") == "error":
            outcome = probe.get("error_code") or probe.get("outcome")
            lines.append(f"    probe {probe.get('operation')}: {outcome}")
    return lines
