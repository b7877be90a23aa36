"""The words every output of `kmsdoctor check` shares: what a result is about, what happened,
and the one-line fix. The text report, the JUnit file and the SARIF file all say the same."""

from __future__ import annotations

from kmsdoctor.analyze.evidence import LockEvidence
from kmsdoctor.check.model import CheckResult, outside_label


def subject(result: CheckResult) -> str:
    """`BIAnalyticsRole read s3://bucket/key`, `every other principal write s3://b/p*`."""
    expectation = result.expectation
    if result.outside is not None:
        who = f"{outside_label(result.outside)}, outside [accounts],"
    elif result.principal is None:
        who = "every other principal"
    else:
        who = _short(result.principal)
    return f"{who} {expectation.operation} {expectation.address}"


def scope(result: CheckResult) -> str:
    """For a prefix: how many of the objects share this outcome, with example keys."""
    expectation = result.expectation
    if result.principal is None:
        counted = f"{result.principals} principal{'s' if result.principals != 1 else ''}"
        return counted if expectation.key is not None else f"{counted}, {result.objects} objects"
    if expectation.key is not None:
        return ""
    if result.objects == 0:
        return "no object"
    if result.objects == 1 and result.of_objects == 1:
        return f"1 object: {result.example_keys[0]}" if result.example_keys else "1 object"
    share = (
        f"all {result.objects} objects"
        if result.objects == result.of_objects
        else f"{result.objects} of {result.of_objects} objects"
    )
    if result.example_keys:
        share += ", e.g. " + ", ".join(result.example_keys)
    return share


def codes(result: CheckResult) -> list[str]:
    return list(dict.fromkeys(finding.code for finding in result.deciding_findings()))


def outcome(result: CheckResult) -> str:
    """What happened, against what was expected: the shut lock and the finding codes."""
    if result.principal is None:
        if result.status == "unknown":
            return "could not list every other principal"
        if result.principals == 0:
            return "nobody else to check"
        return f"none gets through, as expected ({result.verdict})"
    if result.outside is not None:
        return _outside_outcome(result)
    shut = ", ".join(result.locks_shut)
    found = codes(result)
    tail = f" [{', '.join(found)}]" if found else ""
    if result.status == "unknown":
        unknown = result.unknown_locks()
        if result.diagnosis is None:
            return "could not decide"
        if unknown:
            return f"could not decide: {', '.join(unknown)} unknown{tail}"
        return f"could not decide (verdict {result.verdict}){tail}"
    if result.status == "pass":
        if result.verdict == "deny":
            return f"deny as expected: {shut or 'a lock'} shut{tail}"
        return "allow as expected"
    if result.verdict == "deny":
        return f"expected allow, got deny: {shut or 'a lock'} shut{tail}"
    return "expected deny, got allow: every lock lets it through"


def fix_line(result: CheckResult) -> str:
    """One line: how to make the expectation hold (or why it could not be decided)."""
    if result.status == "pass":
        return ""
    if result.outside is not None:
        return _one_line(result.outside_fix)
    if result.status == "unknown":
        return _unknown_reason(result)
    if result.verdict == "deny":
        for finding in result.deciding_findings():
            if finding.fix is not None:
                return _one_line(f"{finding.fix.where}: {finding.fix.change}")
        for finding in result.deciding_findings():
            return _one_line(f"{finding.code} {finding.title}: {finding.detail}")
        if result.diagnosis is not None and result.locks_shut:
            lock = result.diagnosis.locks[result.locks_shut[0]]
            return _one_line(f"{result.locks_shut[0]}: {lock.reason}")
        return ""
    # Allowed where the file expects a deny: name what lets it through.
    if result.diagnosis is None:
        return ""
    opened = []
    for name, lock in result.diagnosis.locks.items():
        if name in ("identity", "bucket_policy", "key_policy") and lock.status == "allow":
            statements = _allowing_statements(lock.evidence)
            opened.append(f"{name}: {', '.join(statements)}" if statements else name)
    if not opened and result.diagnosis.probe_verdict == "allow":
        shut = ", ".join(result.locks_shut) or "no lock"
        return (
            f"AWS let the probe as the principal through, although the policies read shut "
            f"{shut}: something kmsdoctor cannot see opens it (run `kmsdoctor diagnose` for "
            "this principal and object)"
        )
    return _one_line("to deny it, remove the grant from one of " + "; ".join(opened))


def _outside_outcome(result: CheckResult) -> str:
    """An outside principal the resource policies open to: their own account decides."""
    outside = result.outside
    assert outside is not None
    if result.status == "fail":
        return "expected deny, got allow: the resource policies open to anyone"
    if outside.resource_side == "unknown":
        return f"could not decide: {outside.missing}"
    return "could not decide: opened on the resource account's side; their own account decides"


def _allowing_statements(evidence: LockEvidence) -> list[str]:
    """`AllowBIRoleDecrypt (key policy)`: the Allow statements that let the request through,
    as the lock's evidence records them."""
    found: list[str] = []
    for request in evidence.requests or []:
        if request.decision != "allow":
            continue
        for statement in request.statements or []:
            if statement.effect != "Allow":
                continue
            label = f"{statement.statement} ({statement.policy})"
            if label not in found:
                found.append(label)
    return found


def _unknown_reason(result: CheckResult) -> str:
    if result.diagnosis is None:
        return _one_line("; ".join(result.notes)) if result.notes else ""
    reasons = [f"{name}: {result.diagnosis.locks[name].reason}" for name in result.unknown_locks()]
    if not reasons and result.diagnosis.probe is not None:
        reasons.append("the probe as the principal disagrees with the analysis")
    return _one_line("; ".join(reasons or result.notes))


def _short(principal: str) -> str:
    """`arn:aws:iam::222222222222:role/BIAnalyticsRole` → `BIAnalyticsRole (222222222222)`."""
    from kmsdoctor.arn import account_of, name_of

    account = account_of(principal)
    return f"{name_of(principal)} ({account})" if account else principal


def _one_line(text: str) -> str:
    return " ".join(text.split())
