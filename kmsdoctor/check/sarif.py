"""`--sarif FILE`: SARIF 2.1.0, for code-scanning tools (GitHub code scanning, GitLab, IDEs).

One SARIF result per failed result (a violated expectation; a prefix whose objects fail in two
different ways gives two), `ruleId` the finding code that explains it, located at the
expectation's line in the check file, so a pull request that breaks access is annotated where
the expectation is written. The rules are the finding codes used, with their title, meaning,
example and fix from the findings registry. Two rules belong to the check itself, for a failure
no finding code explains:

- `CHECK-ALLOWED`: the file expects a deny and every lock lets the request through;
- `CHECK-DENIED`: the request is denied and no finding names the shut lock;
- `CHECK-OUTSIDE`: a `readers`/`writers` expectation, and the bucket or key policy opens to a
  principal outside the `[accounts]` (another account, anyone): an error when anyone at all
  gets through, a warning when that principal's own account decides (the result is
  undecided, exit 3) — so the pull request that opened it is annotated either way.

The artifact URI is the check file's path as given on the command line: run `kmsdoctor check`
from the repository root with a relative path, as code scanning resolves URIs against it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePath
from typing import Any

import kmsdoctor
from kmsdoctor.check import describe
from kmsdoctor.check.model import CheckReport, CheckResult

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "kmsdoctor"

CHECK_RULES = {
    "CHECK-ALLOWED": (
        "Access the check file expects to be denied is allowed",
        "Every lock (identity, bucket policy, key policy) lets the request through, and no "
        "ceiling stops it, but the check file says this principal must not get through.",
        "Remove the statement that grants it in one of the three policies, or change the "
        "expectation if the access is now intended.",
    ),
    "CHECK-OUTSIDE": (
        "The bucket or key policy opens to a principal outside the accounts checked",
        "A readers/writers expectation lists exactly who may do it among the accounts of the "
        "check file, but the resource account's policies also open to a principal outside "
        "them (another account's root or principal, anyone, an organization, a grant). "
        "Whether that principal gets through is decided by its own account's IAM policies, "
        "which kmsdoctor does not read.",
        "Add that account to [accounts] with a profile that can read it, so its roles and "
        "users are checked; or remove or narrow the statement if it should not get through.",
    ),
    "CHECK-DENIED": (
        "Access the check file expects to be allowed is denied",
        "A lock is shut and no finding code explains it more precisely; the lock's reason "
        "says what was checked.",
        "Open the shut lock named in the message.",
    ),
}


def rule_id(result: CheckResult) -> str:
    if result.outside is not None:
        return "CHECK-OUTSIDE"
    codes = describe.codes(result)
    if codes:
        return codes[0]
    return "CHECK-ALLOWED" if result.verdict == "allow" else "CHECK-DENIED"


def _rule(code: str) -> dict[str, Any]:
    from kmsdoctor.analyze.rules import REGISTRY

    registered = REGISTRY.get(code)
    if registered is not None:
        title, meaning = registered.title, registered.meaning
        example, fix = registered.example, registered.fix
        level = registered.severity if registered.severity != "info" else "note"
        help_text = f"{meaning}\n\nExample: {example}\n\nFix: {fix}"
        lock = registered.lock
    else:
        title, meaning, fix = CHECK_RULES[code]
        level = "warning" if code == "CHECK-OUTSIDE" else "error"
        help_text = f"{meaning}\n\nFix: {fix}"
        lock = None
    properties: dict[str, Any] = {"tags": ["security", "aws", "kms", "s3"]}
    if lock:
        properties["lock"] = lock
    return {
        "id": code,
        "name": code.replace("-", ""),
        "shortDescription": {"text": title},
        "fullDescription": {"text": meaning or title},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }


def _artifact_uri(path: str) -> str:
    pure = PurePath(path)
    if pure.is_absolute():
        from pathlib import Path

        return Path(path).as_uri()
    return pure.as_posix()


def _fingerprint(result: CheckResult, code: str) -> str:
    expectation = result.expectation
    identity = "\x00".join(
        [
            expectation.name,
            result.principal or "*",
            expectation.address,
            expectation.operation,
            code,
            ",".join(result.locks_shut),
        ]
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def _reported(result: CheckResult) -> bool:
    """Failures, and outside principals that leave a readers/writers expectation undecided."""
    return result.status == "fail" or (result.outside is not None and result.status == "unknown")


def report_to_sarif(report: CheckReport) -> dict[str, Any]:
    failed = [result for result in report.ordered() if _reported(result)]
    rule_ids: list[str] = []
    for result in failed:
        code = rule_id(result)
        if code not in rule_ids:
            rule_ids.append(code)
    uri = _artifact_uri(report.check_file.path)
    results = []
    for result in failed:
        code = rule_id(result)
        scope = describe.scope(result)
        text = f"{result.name}: {describe.subject(result)}: {describe.outcome(result)}"
        if scope:
            text += f" ({scope})"
        fix = describe.fix_line(result)
        if fix:
            text += f". Fix: {fix}"
        results.append(
            {
                "ruleId": code,
                "ruleIndex": rule_ids.index(code),
                "level": "error" if result.status == "fail" else "warning",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": result.line},
                        }
                    }
                ],
                "partialFingerprints": {"kmsdoctorCheck/v1": _fingerprint(result, code)},
                "properties": {
                    "principal": result.principal,
                    "expected": result.expected,
                    "verdict": result.verdict,
                    "locks_shut": result.locks_shut,
                    "objects": result.objects,
                },
            }
        )
    return {
        "version": SARIF_VERSION,
        "$schema": SARIF_SCHEMA,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": kmsdoctor.__version__,
                        "semanticVersion": kmsdoctor.__version__,
                        "rules": [_rule(code) for code in rule_ids],
                    }
                },
                "artifacts": [{"location": {"uri": uri}}],
                "results": results,
            }
        ],
    }


def render_sarif(report: CheckReport) -> str:
    return json.dumps(report_to_sarif(report), indent=2, ensure_ascii=False) + "\n"
