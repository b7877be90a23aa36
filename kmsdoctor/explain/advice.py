"""What to tell the engineer: a one-sentence summary, the next steps, and the exact
`kmsdoctor diagnose` command, filled in from what the message named.

Steps name real commands and the real account, key, bucket and role where the message gave them,
and placeholders (`<bucket>`) where it did not.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from kmsdoctor import lock_catalogue as catalogue
from kmsdoctor.arn import assumed_role_of, is_role_arn, name_of
from kmsdoctor.explain.message_forms import Verdict
from kmsdoctor.explain.parse import Facts
from kmsdoctor.lock_catalogue import ShowCommand

CLOUDTRAIL_SIGNATURES = (
    "CloudTrail tells the three locks apart: a bucket-policy denial is only in A's S3 data "
    "events (GetObject, errorCode AccessDenied) with no KMS event at all; an identity denial of "
    "kms:Decrypt is a Decrypt AccessDenied event in B's trail; a key-policy denial is a Decrypt "
    "AccessDenied event in A's trail."
)


@dataclass(frozen=True)
class Context:
    """The names the steps and the command are written with."""

    facts: Facts
    verdict: Verdict

    @property
    def caller_account(self) -> str:
        """'account 222222222222', or 'the caller account' when the message does not name it."""
        account = self.facts.caller_account
        return f"account {account}" if account else "the caller account"

    @property
    def resource_account(self) -> str:
        """'account 111111111111', or 'the resource account' when the message does not name it."""
        account = self.facts.resource_account
        return f"account {account}" if account else "the resource account"

    @property
    def principal(self) -> str:
        return self.facts.principal or "the caller"

    @property
    def action(self) -> str:
        return self.facts.action or "the action"

    @property
    def key(self) -> str:
        return self.facts.key_arn or "<key ARN>"

    @property
    def bucket(self) -> str:
        return self.facts.bucket or "<bucket>"

    @property
    def role_name(self) -> str | None:
        principal = self.facts.principal or ""
        session = assumed_role_of(principal)
        if session is not None:
            return session[1]
        if is_role_arn(principal):
            return name_of(principal)
        return None

    @property
    def role(self) -> str:
        return self.role_name or "<role-name>"

    @property
    def explicit(self) -> bool:
        return self.verdict.deny_type == "explicit"


def show(ctx: Context, command: ShowCommand, **values: str | None) -> str:
    """A read-only command of the lock catalogue, filled in with what the message named (the
    catalogue's placeholders, such as KEY_ARN, for the rest). Run with the reader's own profile."""
    facts = ctx.facts
    filled: dict[str, str | None] = {
        "entity": ctx.role_name,
        "bucket": facts.bucket,
        "object_key": facts.object_key,
        "key": facts.key_arn,
        "region": facts.region,
        "caller_account": facts.caller_account,
        "resource_account": facts.resource_account,
    }
    filled.update(values)
    return command.render(filled, region=filled["region"]) or ""


# --- the role ARN and the diagnose command ------------------------------------------------------


def role_arn_for(principal: str | None) -> str | None:
    """The IAM role behind a principal: an assumed-role session ARN
    arn:aws:sts::B:assumed-role/Role/session becomes arn:aws:iam::B:role/Role (the role's path is
    not in a session ARN, so a role created with a path needs its full ARN instead)."""
    if not principal:
        return None
    session = assumed_role_of(principal)
    if session is not None:
        parsed, role = session
        return f"arn:{parsed.partition}:iam::{parsed.account}:role/{role}"
    if is_role_arn(principal):
        return principal
    return None


def diagnose_command(facts: Facts) -> str:
    """`kmsdoctor diagnose ...` with everything the message named, placeholders for the rest."""
    source = facts.resource_account
    target = facts.caller_account
    args = [
        "kmsdoctor",
        "diagnose",
        "--source-profile",
        f"<profile-for-{source}>" if source else "<profile-for-bucket-owner>",
        "--target-profile",
        f"<profile-for-{target}>" if target else "<profile-for-caller-account>",
        "--bucket",
        shlex.quote(facts.bucket) if facts.bucket else "<bucket>",
        "--key",
        shlex.quote(facts.object_key) if facts.object_key else "<object-key>",
    ]
    role_arn = role_arn_for(facts.principal)
    if role_arn:
        args += ["--role-arn", shlex.quote(role_arn)]
    if facts.key_arn:
        # Lets diagnose check the key the message named even when the object cannot be read.
        args += ["--kms-key", shlex.quote(facts.key_arn)]
    if facts.region:
        args += ["--region", shlex.quote(facts.region)]
    if (facts.action or "").split(":")[-1] in ("PutObject", "GenerateDataKey"):
        args += ["--operation", "write"]
    return " ".join(args)


def role_path_note(facts: Facts) -> str | None:
    """Say so when the role ARN in the command was rebuilt from a session ARN."""
    session = assumed_role_of(facts.principal or "")
    if session is None:
        return None
    parsed, role = session
    if role.startswith("AWSReservedSSO_"):
        return (
            f"The role ARN was rebuilt from the session ARN. IAM Identity Center roles live under "
            f"a path: use `aws iam get-role --role-name {role} --query Role.Arn` in "
            f"{parsed.account} for the real ARN (arn:aws:iam::{parsed.account}:role/"
            f"aws-reserved/sso.amazonaws.com/...)."
        )
    return (
        f"The role ARN was rebuilt from the session ARN, which drops the role's path: if {role} "
        f"was created with a path, use the ARN from `aws iam get-role --role-name {role} "
        f"--query Role.Arn` instead."
    )


# --- summaries ------------------------------------------------------------------------------------


def _deny_phrase(ctx: Context, subject: str, *, plural: bool = False) -> str:
    if ctx.verdict.deny_type is None:
        verb = "refuse" if plural else "refuses"
    elif ctx.explicit:
        verb = "explicitly deny" if plural else "explicitly denies"
    else:
        verb = "do not allow" if plural else "does not allow"
    return f"{subject} {verb} {ctx.action} for {ctx.principal}."


_SUMMARIES: dict[str, Callable[[Context], str]] = {
    "identity": lambda c: _deny_phrase(
        c, f"The caller's own IAM policies in {c.caller_account}", plural=True
    ),
    "bucket_policy": lambda c: _deny_phrase(c, f"The bucket policy of {c.bucket}"),
    "key_policy": lambda c: _deny_phrase(c, f"The key policy of {c.key}"),
    "scp": lambda c: _deny_phrase(
        c, f"A service control policy over the caller's {c.caller_account}"
    ),
    "rcp": lambda c: _deny_phrase(
        c, f"A resource control policy over the resource owner's {c.resource_account}"
    ),
    "permissions_boundary": lambda c: _deny_phrase(c, f"The permissions boundary of {c.role}"),
    "session_policy": lambda c: _deny_phrase(c, "The session policy of this role session"),
    "vpc_endpoint": lambda c: _deny_phrase(c, "The policy of the VPC endpoint the call used"),
}

_FORM_SUMMARIES: dict[str, Callable[[Context], str]] = {
    "kms_ciphertext_resource": lambda c: (
        f"KMS refused {c.action}: the key policy does not allow {c.principal} (or explicitly "
        "denies it), or the key does not exist in this Region."
    ),
    "key_disabled": lambda c: f"The KMS key {c.key} is disabled; no policy was evaluated.",
    "key_pending_deletion": lambda c: (
        f"The KMS key {c.key} is pending deletion and cannot be used; no policy was evaluated."
    ),
    "key_pending_import": lambda c: (
        f"The KMS key {c.key} has no key material yet (pending import); it cannot be used."
    ),
    "key_not_found": lambda c: (
        "KMS cannot find the key: it was deleted, is in another Region, or was named by an "
        "alias or key id the caller's account cannot resolve."
    ),
    "key_invalid_state": lambda c: f"The KMS key {c.key} is not in a usable state.",
    "s3_kms_ciphertext": lambda c: (
        "S3 accepted the request but its kms:Decrypt call, made as the caller, failed: the "
        "caller's IAM policy, the key policy, or the key itself (deleted, another Region)."
    ),
    "credentials_unknown_key": lambda c: (
        "Not a lock: AWS does not know the access key id the request was signed with."
    ),
    "credentials_expired": lambda c: (
        "Not a lock: the temporary credentials expired before the request was made."
    ),
    "credentials_invalid_token": lambda c: (
        "Not a lock: the session token is invalid (wrong partition, Region, or a stale token)."
    ),
    "credentials_signature": lambda c: (
        "Not a lock: the signature does not match; the secret key does not belong to the key id."
    ),
    "explicit_untyped": lambda c: (
        f"An explicit Deny refused {c.action}, but the message does not say which policy type."
    ),
    "no_context": lambda c: (
        f"{c.principal} may not {c.action}, and the message does not say which policy refused."
    ),
    "bare_access_denied": lambda c: (
        "S3 returned a bare Access Denied: the message cannot tell the locks (identity, bucket "
        "policy, key policy) or the ceilings (SCP, RCP, VPC endpoint, boundary, session) apart."
    ),
    "bare_forbidden": lambda c: (
        "A HEAD request was refused (403): HEAD responses have no body, so no reason is given."
    ),
}


def summary(ctx: Context) -> str:
    form, lock = ctx.verdict.form, ctx.verdict.lock
    if form is None:
        return "kmsdoctor does not recognise this message."
    if ctx.verdict.from_trail:
        return (
            _SUMMARIES[lock](ctx)
            + " (Inferred from the account whose CloudTrail recorded the event.)"
        )
    if form in _FORM_SUMMARIES:
        return _FORM_SUMMARIES[form](ctx)
    if lock in _SUMMARIES:
        return _SUMMARIES[lock](ctx)
    return f"The resource's own policy refuses {ctx.action}; it is not a bucket or key policy."


# --- next steps, per lock -------------------------------------------------------------------------


def _identity_steps(ctx: Context) -> list[str]:
    kms = (ctx.facts.service or "") == "kms"
    resource = ctx.key if kms else (ctx.facts.resource or f"arn:aws:s3:::{ctx.bucket}/*")
    steps = [
        f"In {ctx.caller_account}, list the policies of {ctx.role}: "
        f"`{show(ctx, catalogue.ROLE_INLINE_POLICIES)}` and "
        f"`{show(ctx, catalogue.ROLE_MANAGED_POLICIES)}` (for an IAM user: list-user-policies, "
        "list-attached-user-policies, and its groups' policies).",
    ]
    if ctx.explicit:
        steps.append(
            f"Find the Deny statement that matches {ctx.action} on {resource}; look at its "
            "Condition too (aws:SourceVpce, aws:RequestedRegion, aws:PrincipalTag, NotResource)."
        )
    else:
        steps.append(
            f"Add an Allow for {ctx.action} on {resource} to one of those policies. "
            + (
                "Cross-account, the key policy in A cannot grant this for B: B's own policy "
                "must allow kms:Decrypt on the key ARN (not an alias)."
                if kms
                else "Cross-account, the bucket policy alone is not enough."
            )
        )
    return steps


def _bucket_policy_steps(ctx: Context) -> list[str]:
    steps = [
        f"In {ctx.resource_account}: `{show(ctx, catalogue.BUCKET_POLICY)}`.",
    ]
    if ctx.explicit:
        steps.append(
            f"Find the Deny statement that matches {ctx.action} for {ctx.principal}; common ones "
            "test aws:PrincipalOrgID, aws:SourceVpce, aws:SecureTransport or the encryption "
            "headers. Narrow its Condition rather than removing it."
        )
    else:
        steps.append(
            f"Add a statement allowing {ctx.action} on arn:aws:s3:::{ctx.bucket}/* to "
            f"{role_arn_for(ctx.facts.principal) or ctx.principal} (and s3:ListBucket on "
            f"arn:aws:s3:::{ctx.bucket} if it lists)."
        )
    if ctx.verdict.deny_type == "implicit":
        steps.append(_cross_account_resource_caveat(ctx))
    return steps


def _key_policy_steps(ctx: Context) -> list[str]:
    steps = [
        f"In {ctx.resource_account}: `{show(ctx, catalogue.KEY_POLICY)}` and "
        f"`{show(ctx, catalogue.KEY_GRANTS)}`.",
    ]
    if ctx.explicit:
        steps.append(
            f"Find the Deny statement matching {ctx.action}; check its Condition keys "
            "(kms:ViaService, kms:CallerAccount, aws:PrincipalOrgID, kms:EncryptionContext:*)."
        )
    else:
        steps.append(
            f"The key policy must allow {ctx.action} to "
            f"{role_arn_for(ctx.facts.principal) or ctx.principal} (or to B's account, with B's "
            "IAM policy then deciding). If a statement exists, check its Condition: "
            f"kms:ViaService must be s3.{ctx.facts.region or '<region>'}.amazonaws.com (the "
            "key's Region), and a "
            "principal shown as AROA... means the role was deleted and re-created."
        )
    steps.append(
        "If the key is AWS managed (alias aws/s3), no key-policy change is possible: it can never "
        "be shared across accounts; the object must be re-encrypted under a customer managed key."
    )
    if ctx.verdict.deny_type == "implicit":
        steps.append(_cross_account_resource_caveat(ctx))
    return steps


def _cross_account_resource_caveat(ctx: Context) -> str:
    return (
        "Cross-account, AWS can name the resource-based policy even when the caller's own IAM "
        f"policy in {ctx.caller_account} is the one missing the Allow (when the resource policy "
        "trusts the whole account): check both."
    )


def _policy_arn_step(ctx: Context) -> list[str]:
    if ctx.facts.policy_arn:
        return [f"The message names the policy: {ctx.facts.policy_arn}."]
    return []


def _scp_steps(ctx: Context) -> list[str]:
    steps = [
        *_policy_arn_step(ctx),
        f"From the organization's management account: `{show(ctx, catalogue.SCPS)}`, then the "
        "same for each parent OU and the root (`aws organizations list-parents --child-id ...`).",
        f"Look for a Deny matching {ctx.action} (often a Region, VPC or aws:PrincipalOrgID "
        "guard-rail) or, with allow-list SCPs, an Allow that does not include it.",
    ]
    if ctx.verdict.form == "scp_through_vpc_endpoint":
        steps.append("The call went through a VPC endpoint; the refusing policy is still an SCP.")
    if ctx.explicit:
        steps.append(
            "AWS documents that SCP denials can be reported as explicit even when the SCP simply "
            "does not allow the action: check both."
        )
    return steps


def _rcp_steps(ctx: Context) -> list[str]:
    return [
        *_policy_arn_step(ctx),
        "A resource control policy guards the resource owner's "
        f"{ctx.resource_account}: from its organization's management account, "
        f"`{show(ctx, catalogue.RCPS)}`, and the same for its parent OUs and the root.",
        f"Find the Deny matching {ctx.action}; RCPs commonly require aws:PrincipalOrgID or "
        "aws:SecureTransport, which a caller from another organization does not meet. The fix "
        "is an exception in the RCP's Condition, made by A's organization.",
    ]


def _boundary_steps(ctx: Context) -> list[str]:
    return [
        *_policy_arn_step(ctx),
        f"In {ctx.caller_account}: `{show(ctx, catalogue.ROLE_BOUNDARY)}`, then read that "
        "policy's default version (`aws iam get-policy-version`).",
        f"The boundary must allow {ctx.action} as well as the role's own policies do "
        + ("and must not Deny it." if ctx.explicit else "(it grants nothing by itself)."),
    ]


def _session_steps(ctx: Context) -> list[str]:
    return [
        "A session policy was passed when this session was created (AssumeRole --policy or "
        "--policy-arns, GetFederationToken, or a tool that scopes sessions down).",
        f"Find the AssumeRole event for the session in {ctx.caller_account}'s CloudTrail "
        f"(`{show(ctx, catalogue.ASSUME_ROLE_EVENTS)}`) and read requestParameters.policy / "
        "policyArns; the session policy must allow "
        f"{ctx.action} too. A new session without it (or with it widened) fixes the denial.",
    ]


def _vpc_endpoint_steps(ctx: Context) -> list[str]:
    service = ctx.facts.service or "s3"
    return [
        f"The request went through a VPC endpoint for {service}: "
        f"`{show(ctx, catalogue.VPC_ENDPOINTS, service=service)}` in the caller's account, and "
        "read each PolicyDocument.",
        f"The endpoint policy must allow {ctx.action} on the resource for {ctx.principal}"
        + (" and must not Deny it." if ctx.explicit else "."),
    ]


def _key_state_steps(ctx: Context) -> list[str]:
    describe = f"In {ctx.resource_account}: `{show(ctx, catalogue.KEY_METADATA)}`."
    form = ctx.verdict.form
    if form == "key_disabled":
        return [describe, "A key administrator in A re-enables it: `aws kms enable-key`."]
    if form == "key_pending_deletion":
        return [
            describe,
            "If the deletion was a mistake, a key administrator in A runs `aws kms "
            "cancel-key-deletion` then `aws kms enable-key` before the deletion date; after it "
            "the objects encrypted under this key are unreadable for good.",
        ]
    if form == "key_pending_import":
        return [describe, "Import the key material (`aws kms import-key-material`) in A."]
    if form == "key_not_found":
        return [
            describe + " Run it with the key's own Region (`--region`): keys are regional.",
            "Cross-account, name the key by its full key ARN: an alias or a bare key id is "
            "resolved in the caller's own account and Region.",
            "Check the key recorded on the object, not the bucket default: "
            f"`{show(ctx, catalogue.OBJECT_HEAD)} --query SSEKMSKeyId`.",
        ]
    return [describe]


def _s3_ciphertext_steps(ctx: Context) -> list[str]:
    return [
        "The bucket policy is not it: S3 got as far as calling KMS, as the caller.",
        f"Find the key on the object: `{show(ctx, catalogue.OBJECT_HEAD)} --query SSEKMSKeyId` "
        "(works when GetObject does not).",
        "Then check, for that key ARN: the caller's IAM policy in B allows kms:Decrypt on it; "
        "the key policy in A allows the caller; the key is Enabled, in the bucket's Region, and "
        "customer managed (aws/s3 can never be shared).",
        CLOUDTRAIL_SIGNATURES,
    ]


def _credentials_steps(ctx: Context) -> list[str]:
    form = ctx.verdict.form
    steps = [
        "Fix the credentials first; no lock was evaluated. Check who you are with "
        "`aws sts get-caller-identity` using the same profile or environment.",
    ]
    if form == "credentials_expired":
        steps.append(
            "Refresh them: `aws sso login --profile <profile>`, or assume the role again; a long "
            "job needs a longer DurationSeconds or credentials that refresh themselves."
        )
    elif form == "credentials_unknown_key":
        steps.append(
            "The key id was deleted or rotated, or AWS_ACCESS_KEY_ID in the environment overrides "
            "the profile you meant (check `env | grep AWS_`). Temporary ASIA... keys also need "
            "their session token."
        )
    elif form == "credentials_signature":
        steps.append(
            "The secret does not belong to the key id (a copy-paste or a mixed-up profile), or "
            "the object key needs URL-encoding in a hand-made request."
        )
    else:
        steps.append(
            "Use the session token that came with these keys, in the partition and Region that "
            "issued it; old environment variables often hold a stale AWS_SESSION_TOKEN."
        )
    return steps


# Every other layer that answers a cross-account caller with the same bare "Access Denied".
_CEILING_QUESTIONS = (
    "SCPs (the caller account's organization): does a service control policy over the "
    "caller's account deny s3:GetObject or kms:Decrypt, or fail to allow them?",
    "RCPs (the resource account's organization): does a resource control policy over the "
    "resource account deny the read, e.g. to principals outside the organization?",
    "VPC endpoint (caller side): when the caller reaches S3 through a gateway or interface "
    "endpoint, does the endpoint policy allow s3:GetObject on this bucket?",
    "Permissions boundary (caller side): if the role has one, does it allow s3:GetObject and "
    "kms:Decrypt?",
    "Session policy: a session made with a policy (AssumeRole --policy, a federation broker) "
    "has only what that policy allows as well.",
)


def _unknown_steps(ctx: Context) -> list[str]:
    form = ctx.verdict.form
    if form in ("bare_access_denied", "bare_forbidden"):
        lead = (
            "S3 gives reasons only to callers in the bucket owner's account or organization; "
            "cross-account callers get this bare form, whichever lock refused."
        )
        if form == "bare_forbidden":
            lead = (
                "`aws s3 cp` sends HEAD first, and HEAD needs s3:GetObject but calls no KMS: a "
                "403 here is the bucket policy, the caller's IAM policy, or a ceiling (SCP, RCP, "
                "boundary, VPC endpoint) — not the key."
            )
        return [
            lead,
            f"Identity (in {ctx.caller_account}): does the caller's IAM policy allow s3:GetObject "
            "on the object and kms:Decrypt on the key ARN?",
            f"Bucket policy (in {ctx.resource_account}): does it allow s3:GetObject to this "
            "principal, and deny it nowhere?",
            f"Key policy (in {ctx.resource_account}): does it allow kms:Decrypt to this principal?",
            *_CEILING_QUESTIONS,
            CLOUDTRAIL_SIGNATURES,
        ]
    if form == "no_context":
        if (ctx.facts.service or "") == "kms":
            return [
                "This older form names no policy type: it cannot tell the caller's IAM policy "
                "from the key policy.",
                f"CloudTrail tells them apart: a Decrypt AccessDenied event in the key owner's "
                f"trail ({ctx.resource_account}) is the key policy; in the caller's trail "
                f"({ctx.caller_account}) it is the caller's IAM policy.",
                f"Caller's side: {ctx.role}'s IAM policies in {ctx.caller_account} must allow "
                f"{ctx.action} on {ctx.key} (the key ARN, not an alias).",
                f"Key owner's side: `{show(ctx, catalogue.KEY_POLICY)}` in "
                f"{ctx.resource_account} must allow {ctx.action} to "
                f"{role_arn_for(ctx.facts.principal) or ctx.principal}.",
            ]
        return [
            "The message names no policy type: the caller's IAM policy, the resource's policy and "
            "the ceilings (SCP, RCP, boundary, session, VPC endpoint) are all candidates.",
            CLOUDTRAIL_SIGNATURES,
        ]
    if form == "explicit_untyped":
        return [
            "An explicit Deny wins over every Allow. Search for Deny statements matching "
            f"{ctx.action}: the caller's IAM policies and boundary in {ctx.caller_account}, the "
            f"bucket or key policy in {ctx.resource_account}, and the SCPs and RCPs of both "
            "organizations.",
        ]
    if form in _STEPS_BY_FORM:
        return _STEPS_BY_FORM[form](ctx)
    if ctx.verdict.form is not None:
        # A resource-based policy of a service that is none of our locks.
        return [
            f"The resource's own policy refuses {ctx.action}; it is not an S3 bucket or KMS key "
            "policy, so kmsdoctor diagnose does not cover it.",
        ]
    return [
        "Paste the whole error: the line with 'is not authorized to perform', the AWS CLI's "
        "'An error occurred (CODE) when calling the OPERATION operation: ...', or the CloudTrail "
        "event (eventName, errorCode, errorMessage).",
        CLOUDTRAIL_SIGNATURES,
    ]


_STEPS_BY_FORM: dict[str, Callable[[Context], list[str]]] = {
    "s3_kms_ciphertext": _s3_ciphertext_steps,
    "credentials_unknown_key": _credentials_steps,
    "credentials_expired": _credentials_steps,
    "credentials_invalid_token": _credentials_steps,
    "credentials_signature": _credentials_steps,
}

_STEPS_BY_LOCK: dict[str, Callable[[Context], list[str]]] = {
    "identity": _identity_steps,
    "bucket_policy": _bucket_policy_steps,
    "key_policy": _key_policy_steps,
    "scp": _scp_steps,
    "rcp": _rcp_steps,
    "permissions_boundary": _boundary_steps,
    "session_policy": _session_steps,
    "vpc_endpoint": _vpc_endpoint_steps,
    "key_state": _key_state_steps,
    "unknown": _unknown_steps,
}


def next_steps(ctx: Context) -> list[str]:
    steps = list(_STEPS_BY_LOCK[ctx.verdict.lock](ctx))
    if ctx.verdict.form == "kms_ciphertext_resource":
        steps.append(
            "Or the key is not where the caller looked: confirm the key ARN and its Region "
            f"(`{show(ctx, catalogue.KEY_METADATA, region=ctx.facts.region or 'REGION')}` in "
            f"{ctx.resource_account})."
        )
    if ctx.verdict.from_trail:
        steps.insert(
            0,
            f"The message names no policy type; the event was recorded in {ctx.facts.trail_account}"
            "'s CloudTrail, which is how a cross-account KMS denial points at the refusing side.",
        )
    return steps


_CREDENTIAL_FORMS = frozenset(form for form in _STEPS_BY_FORM if form.startswith("credentials"))


def command_for(ctx: Context) -> str | None:
    """The diagnose command, or None where it cannot help: an unrecognised message, a
    credentials problem, or a service other than S3 and KMS."""
    form = ctx.verdict.form
    if form is None or form in _CREDENTIAL_FORMS:
        return None
    if ctx.facts.service not in (None, "s3", "kms"):
        return None
    return diagnose_command(ctx.facts)
