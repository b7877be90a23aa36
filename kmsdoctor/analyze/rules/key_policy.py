"""Findings about A's KMS key policy and grants (the `key_policy` lock)."""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import Fix
from kmsdoctor.analyze.rules import resource_common as common
from kmsdoctor.analyze.rules.base import (
    RuleHit,
    blocking_conditions,
    describe_condition,
    rule,
    statement_place,
)
from kmsdoctor.analyze.rules.identity import via_service_hits
from kmsdoctor.analyze.statement_text import replace_condition_values, statement_at

ENCRYPTION_CONTEXT_KEY = "kms:EncryptionContext:aws:s3:arn"


def _grant_sentence(ev: PrincipalEvaluation) -> str:
    near = [m for m in ev.grant_matches.get("kms", []) if not m.matches]
    caller_grants = [m for m in near if not m.reason.startswith("grantee is")]
    if not caller_grants:
        return ""
    reasons = "; ".join(f"grant {m.grant.grant_id}: {m.reason}" for m in caller_grants[:3])
    return f" Grants for the caller do not help either: {reasons}."


@rule(
    code="KD301",
    title="The key policy does not allow the caller (and no grant does)",
    lock="key_policy",
    severity="error",
    example=(
        "The key policy has only the default statement naming arn:aws:iam::111111111111:root; "
        "BIAnalyticsRole in B gets AccessDenied on kms:Decrypt, recorded in A's trail."
    ),
    fix=(
        "In A, add a key-policy statement naming the role ARN with kms:Decrypt, limited with "
        "kms:ViaService to s3.<Region>.amazonaws.com."
    ),
    # An AWS managed key's policy cannot be changed: the fix is another key (KD501).
    suppressed_by=("KD303", "KD501"),
)
def key_policy_missing_principal(ev: PrincipalEvaluation) -> list[RuleHit]:
    """The key policy is the authority for a KMS key: a principal in another account can use
    the key only when the key policy (or a grant) names it or its account, and its own IAM
    policy also allows the action."""
    return common.missing_principal_hits(
        ev, "kms", lambda: fixes.key_policy_fix(ev), extra=_grant_sentence(ev)
    )


@rule(
    code="KD302",
    title="An explicit Deny in the key policy",
    lock="key_policy",
    severity="error",
    example=(
        'A "DenyOutsideOrg" statement denies kms:* when aws:PrincipalOrgID is not o-exampleorg; '
        "B is a partner account outside the organization."
    ),
    fix="In A, narrow the Deny so it does not cover this principal's use of the key through S3.",
)
def key_policy_explicit_deny(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An explicit Deny in the key policy wins over every Allow, including grants."""
    return common.explicit_deny_hits(ev, "kms")


@rule(
    code="KD303",
    title="The key policy names a deleted role by its unique id",
    lock="key_policy",
    severity="error",
    example=(
        '"Principal": {"AWS": "AROAEXAMPLEID1234567"} in the statement that used to name '
        "BIAnalyticsRole: the role was deleted and re-created, so the key policy no longer "
        "matches it."
    ),
    fix="Replace the unique id with the role ARN and put the key policy again.",
)
def key_policy_stale_unique_id(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Key policies keep the principal's unique id. After the role is deleted, AWS shows the bare
    `AROA…` id; a re-created role with the same name has a new id and is not matched."""
    return common.unique_id_hits(ev, "kms")


@rule(
    code="KD304",
    title="A key-policy kms:ViaService condition names the wrong Region",
    lock="key_policy",
    severity="error",
    example=(
        '"kms:ViaService": "s3.us-east-1.amazonaws.com" on a key used by a bucket in eu-west-1: S3 '
        "calls KMS with s3.eu-west-1.amazonaws.com, so the statement never applies."
    ),
    fix="Set kms:ViaService to s3.<bucket Region>.amazonaws.com.",
)
def key_policy_via_service_region(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 calls KMS with kms:ViaService = s3.<bucket Region>.amazonaws.com. A value without the
    Region, or with another Region, never matches."""
    if not ev.ctx.kms_involved:
        return []
    return via_service_hits(ev, "resource", ev.ctx.resource_account)


@rule(
    code="KD305",
    title="A key-policy condition on aws:SourceVpce (or the caller's network) never matches",
    lock="key_policy",
    severity="error",
    example=(
        'The key policy allows BIAnalyticsRole only with "aws:SourceVpce": "vpce-0abc"; the caller '
        "is behind that endpoint, but S3 — not the caller — calls KMS, so the key stays shut."
    ),
    fix="Use kms:ViaService in the key policy; keep VPC conditions in the bucket policy.",
)
def key_policy_source_vpce(ev: PrincipalEvaluation) -> list[RuleHit]:
    """The kms:Decrypt behind an S3 read is made by S3 on the caller's behalf. It never carries
    the caller's aws:SourceVpce, aws:SourceVpc or aws:SourceIp, so key-policy conditions on them
    never match (an Allow never applies; a Deny on "not from my VPC" always does)."""
    if not ev.ctx.kms_involved:
        return []
    return common.source_vpce_hits(ev)


@rule(
    code="KD306",
    title="The key policy's aws:PrincipalOrgID condition does not match B's organization",
    lock="key_policy",
    severity="error",
    example=(
        'The "AllowOrgMembersToDecrypt" statement requires aws:PrincipalOrgID o-exampleorg; B is a '
        "partner account in o-partnerorg."
    ),
    fix="In A, add a key-policy statement naming the role ARN.",
)
def key_policy_org_mismatch(ev: PrincipalEvaluation) -> list[RuleHit]:
    """aws:PrincipalOrgID is the organization of the caller's account. A caller in another
    organization, or none, never matches it."""
    if not ev.ctx.kms_involved:
        return []
    return common.org_condition_hits(ev, "kms", lambda: fixes.key_policy_fix(ev))


@rule(
    code="KD307",
    title="An S3 Bucket Key makes the encryption context the bucket ARN",
    lock="key_policy",
    severity="error",
    example=(
        "The key policy allows Decrypt only when kms:EncryptionContext:aws:s3:arn is "
        "arn:aws:s3:::datalake-curated-a/sales/*; the object was written with a Bucket Key, so the "
        "context is arn:aws:s3:::datalake-curated-a and the condition fails."
    ),
    fix="Condition on the bucket ARN (or both ARNs) instead of object ARNs.",
)
def key_policy_bucket_key_context(ev: PrincipalEvaluation) -> list[RuleHit]:
    """With an S3 Bucket Key, S3 asks KMS for a bucket-level key, and the encryption context is
    the bucket ARN, not the object ARN. Conditions (and grant constraints) written for object
    ARNs stop matching."""
    ctx = ev.ctx
    if not ctx.kms_involved or not ctx.bucket_key_enabled:
        return []
    hits = []
    found = blocking_conditions(
        ev.results("kms", "resource"), lambda key: key.lower() == ENCRYPTION_CONTEXT_KEY.lower()
    )
    policy = ev.policies.key_policy.policies[0] if ev.policies.key_policy.policies else None
    for trace, condition in found:
        detail = (
            f"{statement_place(trace)}: {describe_condition(condition)}. The object was written "
            f"with an S3 Bucket Key, so S3 sends the bucket ARN {ctx.bucket_arn} as the context."
        )
        raw = statement_at(policy.named.document, trace.index) if policy else None
        fix = None
        if raw is not None:
            values = list(condition.policy_values)
            if ctx.bucket_arn not in values:
                values.append(ctx.bucket_arn)
            fix = fixes.changed_statement_fix(
                ctx,
                trace.policy_name,
                ctx.resource_account,
                f"Add the bucket ARN {ctx.bucket_arn} to the {ENCRYPTION_CONTEXT_KEY} values.",
                replace_condition_values(raw, ENCRYPTION_CONTEXT_KEY, values),
                ev=ev,
                index=trace.index,
            )
        hits.append(RuleHit(detail, fix))
    for match in ev.grant_matches.get("kms", []):
        if not match.matches and "EncryptionContext" in match.reason:
            detail = (
                f"Grant {match.grant.grant_id} for {match.grant.grantee_principal}: "
                f"{match.reason}. With a Bucket Key the context is the bucket ARN "
                f"{ctx.bucket_arn}."
            )
            fix = Fix(
                account=ctx.resource_account,
                where=f"grants on {ctx.key_arn} in A ({ctx.resource_account})",
                change=(
                    "Grants cannot be edited: create a grant whose encryption-context constraint "
                    f"names aws:s3:arn={ctx.bucket_arn}, then retire the old one."
                ),
                statement=None,
                show_current=[fixes.show_grants(ctx)],
            )
            hits.append(RuleHit(detail, fix))
    return hits


@rule(
    code="KD308",
    title="Writes: the key policy allows kms:GenerateDataKey but not kms:Decrypt",
    lock="key_policy",
    severity="warning",
    example=(
        "The key policy gives an uploader role kms:GenerateDataKey only; multipart uploads fail "
        "with AccessDenied on kms:Decrypt."
    ),
    fix="In A, add kms:Decrypt to the key-policy statement for the role.",
)
def key_policy_multipart_decrypt(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 needs kms:Decrypt to complete multipart uploads under SSE-KMS; single-part uploads
    need only kms:GenerateDataKey, so the gap shows on large files."""
    ctx = ev.ctx
    decision = ev.decision("kms_multipart")
    if ctx.operation != "write" or decision is None or decision.decision.value == "allow":
        return []
    layer = decision.layers.get("resource")
    if layer is None or layer.decision is None or layer.decision.value == "allow":
        return []
    if ev.matching_grants("kms_multipart"):
        return []
    detail = (
        f"The key policy does not allow {ctx.entity_arn} kms:Decrypt ({layer.decision.value}); "
        f"multipart uploads to {ctx.bucket_name} will fail."
    )
    return [RuleHit(detail, fixes.key_policy_fix(ev))]


@rule(
    code="KD309",
    title="The key policy trusts a whole other account with no condition",
    lock="key_policy",
    severity="warning",
    example=(
        '"Principal": {"AWS": "arn:aws:iam::222222222222:root"} with kms:Decrypt and no Condition: '
        "every principal in B whose IAM policy allows kms:Decrypt can use the key, for any purpose."
    ),
    fix="Name the role ARN instead of the account root, and add kms:ViaService.",
)
def key_policy_account_root(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An account principal in a key policy delegates to that account's IAM. It works, but the
    key is then as open as the loosest IAM policy in B."""
    if not ev.ctx.kms_involved:
        return []
    return common.broad_principal_hits(ev, "kms", "root")


@rule(
    code="KD310",
    title='The key policy allows "*" with no condition',
    lock="key_policy",
    severity="warning",
    example=(
        '"Principal": {"AWS": "*"}, "Action": "kms:Decrypt", no Condition: any principal in any '
        "account whose IAM policy allows it can decrypt with the key."
    ),
    fix="Name the role ARN, or add aws:PrincipalOrgID and kms:ViaService conditions.",
)
def key_policy_star_principal(ev: PrincipalEvaluation) -> list[RuleHit]:
    """`*` without a condition opens the key to every AWS account; only IAM policies in those
    accounts stand in the way."""
    if not ev.ctx.kms_involved:
        return []
    return common.broad_principal_hits(ev, "kms", "star")


@rule(
    code="KD311",
    title="A key-policy statement for the caller has a condition that does not match",
    lock="key_policy",
    severity="error",
    example=(
        "The statement for BIAnalyticsRole requires kms:CallerAccount 333333333333; the caller is "
        "in 222222222222."
    ),
    fix="Correct the condition's values to what S3 sends for this caller.",
    suppressed_by=("KD304", "KD305", "KD306", "KD307"),
)
def key_policy_condition_miss(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A statement names the caller and the action, but one of its conditions did not match the
    request that S3 makes to KMS on the caller's behalf."""
    if not ev.ctx.kms_involved:
        return []
    return common.condition_near_miss_hits(ev, "kms")


@rule(
    code="KD312",
    title="The key is opened by a grant, not by the key policy",
    lock="key_policy",
    severity="info",
    example=(
        "A grant gives BIAnalyticsRole Decrypt; the key policy does not name it. It works, but "
        "grants do not show in the key policy and are easy to lose track of."
    ),
    fix="Nothing is broken; for long-lived access prefer a key-policy statement naming the role.",
)
def key_policy_grant_path(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Grants are an alternative to the key policy: a grant naming the caller, with the
    operation and a matching encryption-context constraint, opens the key."""
    lock = ev.locks.get("key_policy")
    if lock is None or lock.status != "allow":
        return []
    grants = ev.matching_grants("kms")
    if not grants:
        return []
    if any(
        t.effect == "Allow" and t.applies
        for r in ev.results("kms", "resource")
        for t in r.statements
    ):
        return []
    grant = grants[0]
    detail = (
        f"Grant {grant.grant_id} ({grant.name or 'unnamed'}) lets {grant.grantee_principal} do "
        f"{', '.join(grant.operations)}; no key-policy statement allows {ev.ctx.kms_action}."
    )
    fix = Fix(
        account=ev.ctx.resource_account,
        where=f"grants on {ev.ctx.key_arn} in A ({ev.ctx.resource_account})",
        change="No change needed. Review the grants now and then; retire those no longer used.",
        statement=None,
        show_current=[fixes.show_grants(ev.ctx)],
    )
    return [RuleHit(detail, fix)]
