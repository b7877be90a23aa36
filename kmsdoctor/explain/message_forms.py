"""The message forms kmsdoctor knows, as a table: pattern -> lock, deny type.

Sources (AWS documentation, read when this table was written):
- IAM User Guide, "Troubleshoot access denied error messages": `with an explicit deny in a TYPE
  policy` / `because no TYPE policy allows the ACTION action`, TYPE one of identity-based,
  resource-based, service control, resource control, permissions boundary, session, VPC endpoint;
  the SCP note ("the message can say explicit deny in a service control policy even if the denial
  is implicit"); the "VPC endpoint policy transitively through a service control policy" form.
- Amazon S3 User Guide, "Troubleshoot access denied (403 Forbidden) errors": the enhanced messages
  (resource ARN in double quotes) are only returned for requests from the bucket owner's account
  or organization; other callers get the bare "Access Denied".
- AWS KMS: "on the resource associated with this ciphertext because the resource does not exist
  in this Region, no resource-based policies allow access, or a resource-based policy explicitly
  denies access"; DisabledException "<key ARN> is disabled."; KMSInvalidStateException "<key ARN>
  is pending deletion."; NotFoundException "Key '<ARN>' does not exist" / "Invalid keyId".
- S3's view of a failed KMS call: "The ciphertext refers to a customer master key that does not
  exist, does not exist in this region, or you are not allowed to access."

Order matters: the first row that matches wins, so the more specific wording comes first (the
"transitively through a service control policy" row before the plain VPC endpoint one, every row
that names a policy type before the ones that do not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmsdoctor.explain.model import DenyType, Lock
from kmsdoctor.explain.parse import Facts

# A row whose policy type is "resource-based": the bucket policy for S3, the key policy for KMS.
RESOURCE_POLICY = "resource_policy"


@dataclass(frozen=True)
class MessageForm:
    """One known message form. `form` is a stable name the advice and the tests refer to."""

    form: str
    pattern: re.Pattern[str] | None
    lock: str
    deny_type: DenyType | None
    codes: tuple[str, ...] = ()

    def matches(self, facts: Facts) -> bool:
        if self.pattern is not None and self.pattern.search(facts.message):
            return True
        return facts.code is not None and facts.code in self.codes


def _form(
    form: str,
    pattern: str | None,
    lock: str,
    deny_type: DenyType | None,
    codes: tuple[str, ...] = (),
) -> MessageForm:
    compiled = re.compile(pattern, re.IGNORECASE) if pattern is not None else None
    return MessageForm(form, compiled, lock, deny_type, codes)


_EXPLICIT = r"with an explicit deny in (?:an? |the )?"
_IMPLICIT = r"because no "

MESSAGE_FORMS: tuple[MessageForm, ...] = (
    # -- AWS named the policy type ---------------------------------------------------------------
    _form(
        "scp_through_vpc_endpoint",
        _EXPLICIT + r"VPC endpoint policy transitively through an? service control policy",
        "scp",
        "explicit",
    ),
    _form("identity_explicit", _EXPLICIT + r"identity-based polic", "identity", "explicit"),
    _form("identity_implicit", _IMPLICIT + r"identity-based policy allows", "identity", "implicit"),
    _form("resource_explicit", _EXPLICIT + r"resource-based polic", RESOURCE_POLICY, "explicit"),
    _form(
        "resource_implicit",
        _IMPLICIT + r"resource-based policy allows",
        RESOURCE_POLICY,
        "implicit",
    ),
    _form("scp_explicit", _EXPLICIT + r"service control polic", "scp", "explicit"),
    _form("scp_implicit", _IMPLICIT + r"service control policy allows", "scp", "implicit"),
    _form("rcp_explicit", _EXPLICIT + r"resource control polic", "rcp", "explicit"),
    _form("rcp_implicit", _IMPLICIT + r"resource control policy allows", "rcp", "implicit"),
    _form(
        "boundary_explicit", _EXPLICIT + r"permissions? boundar", "permissions_boundary", "explicit"
    ),
    _form(
        "boundary_implicit",
        _IMPLICIT + r"permissions? boundary allows",
        "permissions_boundary",
        "implicit",
    ),
    # AWS's own example says "sessions policy".
    _form("session_explicit", _EXPLICIT + r"sessions? polic", "session_policy", "explicit"),
    _form("session_implicit", _IMPLICIT + r"sessions? policy allows", "session_policy", "implicit"),
    _form("vpc_endpoint_explicit", _EXPLICIT + r"VPC endpoint polic", "vpc_endpoint", "explicit"),
    _form(
        "vpc_endpoint_implicit",
        _IMPLICIT + r"VPC endpoint policy allows",
        "vpc_endpoint",
        "implicit",
    ),
    # -- KMS: the key policy, or no such key here; implicit or explicit is not said ---------------
    _form(
        "kms_ciphertext_resource",
        r"because the resource does not exist in this Region, no resource-based policies allow"
        r" access, or a resource-based policy explicitly denies access",
        "key_policy",
        None,
    ),
    # -- KMS key state: no policy decided anything -----------------------------------------------
    _form(
        "key_disabled",
        r"(?:kms:\S+|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\bkey) is disabled\b",
        "key_state",
        None,
        ("DisabledException",),
    ),
    _form("key_pending_deletion", r"\bis pending deletion\b", "key_state", None),
    _form("key_pending_import", r"\bis pending import\b", "key_state", None),
    _form(
        "key_not_found",
        r"\bKey '[^']+' does not exist\b|\bInvalid keyId\b|\bAlias '?arn:[^ ']+'? is not found\b",
        "key_state",
        None,
        ("NotFoundException",),
    ),
    _form("key_invalid_state", None, "key_state", None, ("KMSInvalidStateException",)),
    # -- S3 reporting that its kms:Decrypt call failed: identity, key policy or key state --------
    # Historically spelled "master"; "mastr" is accepted too in case a copy carries the typo.
    _form(
        "s3_kms_ciphertext",
        r"The ciphertext refers to a customer mast(?:e)?r key (?:that|which) does not exist",
        "unknown",
        None,
    ),
    # -- Credentials, not a lock: the request was never authorised at all ------------------------
    _form(
        "credentials_unknown_key",
        r"The AWS Access Key Id you provided does not exist in our records",
        "unknown",
        None,
        ("InvalidAccessKeyId",),
    ),
    _form(
        "credentials_expired",
        r"The provided token has expired|security token included in the request is expired"
        r"|\bExpiredToken\b",
        "unknown",
        None,
        ("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"),
    ),
    _form(
        "credentials_invalid_token",
        r"The security token included in the request is invalid",
        "unknown",
        None,
        ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidToken"),
    ),
    _form(
        "credentials_signature",
        r"The request signature we calculated does not match the signature you provided",
        "unknown",
        None,
        ("SignatureDoesNotMatch",),
    ),
    # -- Denied, but the policy type is not named ------------------------------------------------
    _form("explicit_untyped", r"with an explicit deny\b", "unknown", "explicit"),
    _form("no_context", r"is not authorized to perform", "unknown", None),
    # S3's answer to callers outside the bucket owner's account or organization.
    _form("bare_access_denied", r"^Access Denied\.?$", "unknown", None),
    # A HEAD request has no body, so botocore can only say "403 ... Forbidden".
    _form("bare_forbidden", r"^Forbidden\.?$", "unknown", None),
    # AccessDenied with nothing else we know: still the three-locks question.
    _form("bare_access_denied", None, "unknown", None, ("AccessDenied", "AccessDeniedException")),
)


@dataclass(frozen=True)
class Verdict:
    form: str | None
    lock: Lock
    deny_type: DenyType | None
    # True when the lock comes from which account's CloudTrail recorded the event, not the text.
    from_trail: bool = False


def classify(facts: Facts) -> Verdict:
    """The first matching row, its lock resolved; `form` None when no row matched."""
    for known in MESSAGE_FORMS:
        if known.matches(facts):
            lock = _resolve_lock(known.lock, facts)
            verdict = Verdict(known.form, lock, known.deny_type)
            return _with_trail_clue(verdict, facts)
    return Verdict(None, "unknown", None)


def _resolve_lock(lock: str, facts: Facts) -> Lock:
    if lock != RESOURCE_POLICY:
        return lock  # type: ignore[return-value]
    service = facts.service
    if service == "kms":
        return "key_policy"
    if service == "s3":
        return "bucket_policy"
    # Another service's resource policy (a secret's, a queue's) is none of our locks.
    return "unknown"


_KMS_CALLS = ("Decrypt", "GenerateDataKey", "ReEncrypt", "Encrypt")


def _with_trail_clue(verdict: Verdict, facts: Facts) -> Verdict:
    """A cross-account KMS denial is recorded in the trail of the account whose policy refused:
    the key owner's trail for the key policy, the caller's trail for the identity policy. Used
    only when the message itself did not name the lock."""
    if not facts.from_cloudtrail or verdict.lock != "unknown":
        return verdict
    if verdict.form not in ("no_context", "bare_access_denied"):
        return verdict
    if facts.service != "kms" or not (facts.action or "").split(":")[-1].startswith(_KMS_CALLS):
        return verdict
    key_account, caller, trail = facts.resource_account, facts.caller_account, facts.trail_account
    if not (key_account and caller and trail) or key_account == caller:
        return verdict
    if trail == key_account:
        return Verdict(verdict.form, "key_policy", verdict.deny_type, from_trail=True)
    if trail == caller:
        return Verdict(verdict.form, "identity", verdict.deny_type, from_trail=True)
    return verdict
