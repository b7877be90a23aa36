"""The listing call is on the allow-list and on the permissions page, and the page says which
AWS managed policy grants it."""

from __future__ import annotations

from kmsdoctor import aws
from tests.trust.test_permissions_doc import DOC, granted_actions


def test_the_listing_call_is_allowed_and_documented():
    assert "iam:GetAccountAuthorizationDetails" in aws.ALLOWED_OPERATIONS
    granted = granted_actions("who-can: every principal of an account")
    assert {"iam:GetAccountAuthorizationDetails", "iam:GetPolicy", "iam:GetPolicyVersion"} <= (
        granted
    )


def test_the_page_says_securityaudit_grants_the_listing_and_viewonlyaccess_does_not():
    row = next(
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| who-can: `iam:GetAccountAuthorizationDetails`")
    )
    security_audit, view_only = [cell.strip() for cell in row.strip("|").split("|")[1:3]]
    assert security_audit.startswith("yes")
    assert view_only.startswith("no")
