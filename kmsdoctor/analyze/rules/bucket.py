"""Findings about A's bucket policy (the `bucket_policy` lock)."""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.rules import resource_common as common
from kmsdoctor.analyze.rules.base import RuleHit, rule


@rule(
    code="KD201",
    title="The bucket policy does not allow the caller",
    lock="bucket_policy",
    severity="error",
    example=(
        "datalake-curated-a's policy allows s3:GetObject to arn:aws:iam::222222222222:role/ETLRole "
        "only; BIAnalyticsRole gets 403 AccessDenied from S3 and KMS is never called."
    ),
    fix="In A, add a bucket-policy statement naming the role ARN, the action and the object ARN.",
    suppressed_by=("KD206",),
)
def bucket_policy_missing_principal(ev: PrincipalEvaluation) -> list[RuleHit]:
    """For a caller in another account, the bucket policy must allow the S3 action; the
    caller's own IAM policy alone is never enough across accounts."""
    return common.missing_principal_hits(ev, "s3", lambda: fixes.bucket_policy_fix(ev))


@rule(
    code="KD202",
    title="An explicit Deny in the bucket policy",
    lock="bucket_policy",
    severity="error",
    example=(
        'A "DenyOutsideVpc" statement denies s3:* unless aws:SourceVpce is vpce-0abc; the caller '
        "comes from another network, so the Deny applies."
    ),
    fix="In A, narrow the Deny so it does not cover this principal and object.",
)
def bucket_policy_explicit_deny(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An explicit Deny in the bucket policy wins over every Allow, in any policy."""
    return common.explicit_deny_hits(ev, "s3")


@rule(
    code="KD203",
    title="The bucket policy trusts a whole other account with no condition",
    lock="bucket_policy",
    severity="warning",
    example=(
        '"Principal": {"AWS": "arn:aws:iam::222222222222:root"} with s3:GetObject and no '
        "Condition: any role in B whose IAM policy allows it can read."
    ),
    fix="Name the role ARN instead of the account root (least privilege).",
)
def bucket_policy_account_root(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An account principal delegates the decision to that account's IAM: every principal in B
    that B's administrators grant s3:GetObject can read, not just the intended role."""
    return common.broad_principal_hits(ev, "s3", "root")


@rule(
    code="KD204",
    title='The bucket policy allows "*" with no condition',
    lock="bucket_policy",
    severity="warning",
    example='"Principal": "*", "Action": "s3:GetObject", no Condition: the objects are public.',
    fix='Replace "*" with the role ARN, or add an aws:PrincipalOrgID / aws:PrincipalArn condition.',
)
def bucket_policy_star_principal(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A `*` principal without a condition allows every AWS principal, and anonymous callers
    unless Block Public Access stops it."""
    return common.broad_principal_hits(ev, "s3", "star")


@rule(
    code="KD205",
    title="The bucket policy's aws:PrincipalOrgID condition does not match B's organization",
    lock="bucket_policy",
    severity="error",
    example=(
        'The statement allows "*" with aws:PrincipalOrgID o-exampleorg; account B belongs to '
        "o-partnerorg (or to no organization), so the condition fails."
    ),
    fix="In A, add a statement naming the role ARN (rather than widening the org condition).",
)
def bucket_policy_org_mismatch(ev: PrincipalEvaluation) -> list[RuleHit]:
    """aws:PrincipalOrgID is the organization of the *caller's* account. A partner account in
    another organization, or in none, never matches."""
    return common.org_condition_hits(ev, "s3", lambda: fixes.bucket_policy_fix(ev))


@rule(
    code="KD206",
    title="The bucket policy names a deleted role by its unique id",
    lock="bucket_policy",
    severity="error",
    example=(
        '"Principal": {"AWS": "AROAEXAMPLEID1234567"}: BIAnalyticsRole was deleted and re-created; '
        "the policy still points at the old role."
    ),
    fix="Replace the unique id with the role ARN and save the bucket policy again.",
)
def bucket_policy_stale_unique_id(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Policies store the principal's unique id. When the role is deleted, AWS shows that id
    instead of the ARN; re-creating the role with the same name does not restore access."""
    return common.unique_id_hits(ev, "s3")


@rule(
    code="KD207",
    title="A bucket-policy statement for the caller has a condition that does not match",
    lock="bucket_policy",
    severity="error",
    example=(
        'The statement for BIAnalyticsRole requires aws:SourceVpce "vpce-0abc" but the request '
        "carries none (the caller is not behind that endpoint)."
    ),
    fix="Correct the condition's values, or reach S3 the way the condition expects.",
    suppressed_by=("KD205",),
)
def bucket_policy_condition_miss(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A statement names the caller and the action, but one of its conditions did not match the
    request, so it does not apply."""
    return common.condition_near_miss_hits(ev, "s3")
