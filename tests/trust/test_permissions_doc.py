"""docs/permissions.md stays true: every call the collectors make (the list test_faults checks
against a real collection) is granted by the policy the page gives for the profile that makes
it, and the page answers the SecurityAudit / ViewOnlyAccess question."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.trust.test_faults import DENIED_CALLS

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
# API operations whose IAM action has another name (the rest are "service:Operation").
IAM_ACTION_FOR = {
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:HeadObject": "s3:GetObject",
}
# Which profile makes a service's calls: A owns the bucket, the key and (for RCPs) its
# organization's view; B holds the caller's IAM, its VPC endpoints and (for SCPs) its view.
PROFILES_OF_SERVICE = {
    "s3": ["Source profile"],
    "kms": ["Source profile"],
    "iam": ["Target profile"],
    "ec2": ["Target profile"],
    "organizations": ["Source profile", "Target profile"],
}


def granted_actions(section: str) -> set[str]:
    """The actions of the JSON policy under `## {section}` in the page."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```json\n(.*?)\n```", body, re.DOTALL)
    assert block, f"no JSON policy under '## {section}'"
    actions: set[str] = set()
    for statement in json.loads(block.group(1))["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_each_profile_policy_grants_every_call_that_profile_makes():
    missing = []
    for case in DENIED_CALLS:
        service = case.operation.split(":")[0]
        action = IAM_ACTION_FOR.get(case.operation, case.operation)
        missing += [
            f"{section}: {action} (for {case.operation})"
            for section in PROFILES_OF_SERVICE[service]
            if action not in granted_actions(section)
        ]
    assert missing == []


def test_the_page_answers_whether_securityaudit_or_viewonlyaccess_is_enough():
    text = DOC.read_text(encoding="utf-8")
    assert "## AWS managed policies" in text
    verdicts = text.split("## AWS managed policies", 1)[1]
    assert "`SecurityAudit` covers collection except the object head" in verdicts
    assert "`ViewOnlyAccess` is not enough" in verdicts
