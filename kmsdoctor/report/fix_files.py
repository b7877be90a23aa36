"""`--fix-dir DIR`: each fix's patched policy as a file, ready for the command that applies it.

A fix with a `patched_policy` (the whole document after the change) is written to DIR under the
file name its `apply_command` reads (`file://key-policy.json`), or a name made from its target
when the command names none. The command is printed with the path rewritten to the file written,
so it can be pasted as it is. kmsdoctor never runs it.

Two fixes that patch the same policy document (two principals missing from one key policy) get
two files, each the current policy plus that one change: applying one replaces the other's, so
the report says to apply one and run kmsdoctor again.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from kmsdoctor.analyze.model import Diagnosis, Finding, Fix, FixTarget
from kmsdoctor.errors import UsageError

_FILE_ARGUMENT = re.compile(r"file://(\S+)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class WrittenFix:
    principal: str
    finding: Finding
    path: Path
    apply_command: str | None  # with file:// pointing at `path`; None when the fix has none
    shares_target: bool = False  # another written fix patches the same policy document


def write_fix_files(diagnosis: Diagnosis, fix_dir: Path) -> list[WrittenFix]:
    """Write every patched policy of `diagnosis` into `fix_dir` (created if needed)."""
    pending: list[tuple[str, Finding, Fix]] = []
    for principal in diagnosis.principals:
        for finding in principal.findings:
            fix = finding.fix
            if fix is not None and fix.patched_policy is not None:
                pending.append((principal.principal, finding, fix))
    if not pending:
        return []
    try:
        fix_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--fix-dir {fix_dir}: {exc.strerror}") from None

    targets: dict[str, int] = {}
    for _, _, fix in pending:
        key = _target_key(fix)
        targets[key] = targets.get(key, 0) + 1

    used: set[str] = set()
    written: list[WrittenFix] = []
    for principal, finding, fix in pending:
        name = _unique(file_name(fix), used)
        path = fix_dir / name
        text = json.dumps(fix.patched_policy, indent=2, ensure_ascii=False) + "\n"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--fix-dir: cannot write {path}: {exc.strerror}") from None
        written.append(
            WrittenFix(
                principal=principal,
                finding=finding,
                path=path,
                apply_command=_pointing_at(fix.apply_command, path),
                shares_target=targets[_target_key(fix)] > 1,
            )
        )
    return written


def file_name(fix: Fix) -> str:
    """The name the apply command reads, else one made from the target."""
    if fix.apply_command:
        match = _FILE_ARGUMENT.search(fix.apply_command)
        if match:
            return _safe(Path(match.group(1)).name)
    return target_file_name(fix.target)


def target_file_name(target: FixTarget | None) -> str:
    """`key-policy-KEYID.json`, `bucket-policy-BUCKET.json`, `role-policy-ROLE-NAME.json`, …"""
    if target is None:
        return "policy.json"
    kind = target.kind.replace("_", "-")
    last = target.arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    parts = [kind, last]
    if target.policy_name:
        parts.append(target.policy_name)
    return _safe("-".join(part for part in parts if part)) + ".json"


def summary_lines(written: list[WrittenFix]) -> list[str]:
    """For stderr beside a JSON report: each file and the command that applies it."""
    lines = []
    for item in written:
        lines.append(f"kmsdoctor: {item.finding.code}: wrote {item.path}")
        if item.apply_command:
            lines.append(f"  apply with: {item.apply_command}")
    if any(item.shares_target for item in written):
        lines.append(SHARED_TARGET_NOTE)
    return lines


SHARED_TARGET_NOTE = (
    "Several files patch the same policy, each with one change: apply one, then run kmsdoctor "
    "again."
)


def _pointing_at(command: str | None, path: Path) -> str | None:
    if not command:
        return None
    replacement = "file://" + shlex.quote(str(path))
    if _FILE_ARGUMENT.search(command):
        return _FILE_ARGUMENT.sub(lambda _: replacement, command, count=1)
    return command


def _target_key(fix: Fix) -> str:
    if fix.target is None:
        return file_name(fix)
    return f"{fix.target.kind}|{fix.target.arn}|{fix.target.policy_name or ''}"


def _unique(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, "json"
    candidate, number = f"{stem}.{suffix}", 2
    while candidate in used:
        candidate = f"{stem}-{number}.{suffix}"
        number += 1
    used.add(candidate)
    return candidate


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "policy"
