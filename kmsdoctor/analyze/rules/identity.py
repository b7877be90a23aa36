"""Findings about the caller's own IAM policies in B (the `identity` lock)."""

from __future__ import annotations

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import Fix
from kmsdoctor.analyze.rules.base import (
    RuleHit,
    allow_near_misses,
    applying_denies,
    blocking_conditions,
    describe_condition,
    iter_statements,
    key_is,
    request_decision,
    rule,
    statement_place,
)
from kmsdoctor.analyze.statement_text import (
    copy_statement,
    replace_condition_values,
    resources,
    statement_at,
)
from kmsdoctor.arn import is_alias_reference
from kmsdoctor.policy.model import StatementTrace


def _near_miss_sentence(traces: list[StatementTrace]) -> str:
    if not traces:
        return ""
    parts = []
    for trace in traces[:3]:
        failed = [describe_condition(c) for c in trace.conditions if not c.matched]
        why = "; ".join(failed) if failed else "it did not apply"
        parts.append(f"{statement_place(trace)} is about this request but {why}")
    return " Closest: " + " | ".join(parts) + "."


def _raw_statement(ev: PrincipalEvaluation, trace: StatementTrace) -> dict | None:
    policy = ev.policies.find(trace.policy_name)
    if policy is None:
        return None
    return statement_at(policy.named.document, trace.index)


@rule(
    code="KD101",
    title="The caller's identity policy does not allow the KMS action on the key",
    lock="identity",
    severity="error",
    example=(
        "BIAnalyticsRole in B has s3:GetObject on the bucket but no kms:Decrypt on "
        "arn:aws:kms:eu-west-1:111111111111:key/abcd…; the client sees AccessDenied naming "
        "kms:Decrypt while the bucket policy looks right."
    ),
    fix=(
        "In B, add a statement allowing kms:Decrypt (writes: kms:GenerateDataKey and kms:Decrypt) "
        "on the exact key ARN to the role's inline or attached policy."
    ),
    # Naming an AWS managed key in B's policy is pointless: that key must be replaced (KD501).
    suppressed_by=("KD501",),
)
def identity_kms_not_allowed(ev: PrincipalEvaluation) -> list[RuleHit]:
    """A cross-account key is used only when *both* A's key policy and the caller's own IAM
    policies in B allow the KMS action. Here no identity statement allows it on the key ARN."""
    ctx = ev.ctx
    if not ctx.kms_involved or request_decision(ev, "identity", ctx.kms_action) != "implicit_deny":
        return []
    results = ev.results("kms", "identity")
    detail = (
        f"No statement in the identity policies of {ctx.entity_name} allows {ctx.kms_action} on "
        f"{ctx.key_arn}." + _near_miss_sentence(allow_near_misses(results))
    )
    return [RuleHit(detail, fixes.identity_kms_fix(ev))]


@rule(
    code="KD102",
    title="The caller's identity policy does not allow the S3 action on the object",
    lock="identity",
    severity="error",
    example=(
        "DeployRole in B has kms:Decrypt on the key but its only S3 statement covers "
        "arn:aws:s3:::other-bucket/*; S3 answers AccessDenied before KMS is called."
    ),
    fix="In B, allow s3:GetObject (writes: s3:PutObject) on the exact object ARN or bucket/prefix.",
)
def identity_s3_not_allowed(ev: PrincipalEvaluation) -> list[RuleHit]:
    """The caller's IAM policies in B must allow the S3 action on the object, even when A's
    bucket policy names the caller: cross-account access needs both sides."""
    ctx = ev.ctx
    if request_decision(ev, "identity", ctx.s3_action) != "implicit_deny":
        return []
    results = ev.results("s3", "identity")
    detail = (
        f"No statement in the identity policies of {ctx.entity_name} allows {ctx.s3_action} on "
        f"{ctx.object_arn}." + _near_miss_sentence(allow_near_misses(results))
    )
    return [RuleHit(detail, fixes.identity_s3_fix(ev))]


@rule(
    code="KD103",
    title="An explicit Deny in the caller's identity policy",
    lock="identity",
    severity="error",
    example=(
        'An inline "DenyOutsideKeys" statement in B denies kms:Decrypt on every key not tagged '
        "team=bi; the key in A is not tagged, so the Deny applies."
    ),
    fix="In B, narrow the Deny statement so it no longer covers this key or object.",
)
def identity_explicit_deny(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An explicit Deny always wins, whatever any other policy allows."""
    ctx = ev.ctx
    hits = []
    for auth_name in ("s3", "kms"):
        auth = ctx.authorization(auth_name)
        if auth is None:
            continue
        for trace in applying_denies(ev.results(auth_name, "identity")):
            conditions = [describe_condition(c) for c in trace.conditions]
            detail = f"{statement_place(trace)} denies {auth.action} on {auth.resource}"
            detail += (": " + "; ".join(conditions)) if conditions else " with no condition"
            raw = _raw_statement(ev, trace) or {}
            narrowed, why = fixes.exclude_resource(raw, auth.resource)
            change = (
                f"Narrow this Deny so it no longer covers {auth.resource}: the corrected statement "
                "excludes it (NotResource); the rest of the Deny is unchanged. Removing the Deny "
                "would leave a policy with no statement, which AWS rejects."
            )
            if narrowed is None:
                fix = fixes.unverifiable(
                    fixes.changed_statement_fix(
                        ctx, trace.policy_name, ctx.caller_account, change, raw
                    ),
                    why,
                )
            else:
                fix = fixes.changed_statement_fix(
                    ctx,
                    trace.policy_name,
                    ctx.caller_account,
                    change,
                    narrowed,
                    ev=ev,
                    index=trace.index,
                )
            hits.append(RuleHit(detail + ".", fix))
    return hits


@rule(
    code="KD104",
    title="An identity policy names an alias ARN as the Resource for a KMS key action",
    lock="identity",
    severity="warning",
    example=(
        '"Resource": "arn:aws:kms:eu-west-1:111111111111:alias/datalake" on kms:Decrypt: the '
        "statement never matches, because KMS authorizes Decrypt against the key ARN."
    ),
    fix="Replace the alias ARN with the key ARN (or use the kms:ResourceAliases condition).",
)
def identity_alias_resource(ev: PrincipalEvaluation) -> list[RuleHit]:
    """An alias ARN in Resource controls only alias operations (CreateAlias, …). For
    kms:Decrypt the resource is always the key ARN, so such a statement allows nothing."""
    ctx = ev.ctx
    if not ctx.kms_involved:
        return []
    hits = []
    seen: set[tuple[str, int]] = set()
    for trace in iter_statements(ev.results("kms", "identity")):
        if trace.effect != "Allow" or not trace.action_matched:
            continue
        if (trace.policy_name, trace.index) in seen:
            continue
        raw = _raw_statement(ev, trace)
        if raw is None:
            continue
        aliases = [r for r in resources(raw) if is_alias_reference(r)]
        if not aliases:
            continue
        seen.add((trace.policy_name, trace.index))
        corrected = copy_statement(raw)
        kept = [r for r in resources(raw) if not is_alias_reference(r)]
        new_resources = [*kept, ctx.key_arn] if ctx.key_arn else kept
        corrected["Resource"] = new_resources[0] if len(new_resources) == 1 else new_resources
        detail = (
            f"{statement_place(trace)} allows {ctx.kms_action} on {', '.join(aliases)}; KMS checks "
            f"Decrypt against the key ARN {ctx.key_arn}, so this Resource never matches."
        )
        fix = fixes.changed_statement_fix(
            ctx,
            trace.policy_name,
            ctx.caller_account,
            "Replace the alias ARN with the key ARN in this statement.",
            corrected,
            ev=ev,
            index=trace.index,
        )
        hits.append(RuleHit(detail, fix))
    return hits


@rule(
    code="KD105",
    title='The caller\'s KMS statement allows the action on "Resource": "*"',
    lock="identity",
    severity="warning",
    example=(
        '{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"} on BIAnalyticsRole: it '
        "works, but lets the role decrypt with any key whose key policy trusts account B."
    ),
    fix="Name the key ARN in Resource instead of *.",
)
def identity_kms_resource_star(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Least privilege: the identity statement that lets the caller use the key should name the
    key ARN. `*` reaches every key, in any account, that trusts account B."""
    ctx = ev.ctx
    if not ctx.kms_involved or not ctx.key_arn:
        return []
    hits = []
    for trace in iter_statements(ev.results("kms", "identity")):
        if trace.effect != "Allow" or not trace.applies:
            continue
        raw = _raw_statement(ev, trace)
        if raw is None or "*" not in resources(raw):
            continue
        corrected = copy_statement(raw)
        corrected["Resource"] = ctx.key_arn
        detail = (
            f'{statement_place(trace)} allows {ctx.kms_action} with "Resource": "*", not just '
            f"{ctx.key_arn}."
        )
        hits.append(
            RuleHit(
                detail,
                fixes.changed_statement_fix(
                    ctx,
                    trace.policy_name,
                    ctx.caller_account,
                    "Replace * with the key ARN in this statement.",
                    corrected,
                    ev=ev,
                    index=trace.index,
                ),
            )
        )
    return hits


@rule(
    code="KD106",
    title="Writes: the identity policy allows kms:GenerateDataKey but not kms:Decrypt",
    lock="identity",
    severity="warning",
    example=(
        "An uploader role has s3:PutObject and kms:GenerateDataKey; small uploads work, multipart "
        "uploads (aws s3 cp of a large file) fail with AccessDenied on kms:Decrypt."
    ),
    fix="In B, add kms:Decrypt on the key ARN next to kms:GenerateDataKey.",
)
def identity_multipart_decrypt(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 needs kms:Decrypt to complete a multipart upload to an SSE-KMS bucket (it decrypts the
    data key for each part). Single-part PutObject does not, so the gap shows only on big files."""
    ctx = ev.ctx
    decision = ev.decision("kms_multipart")
    if ctx.operation != "write" or decision is None:
        return []
    layer = decision.layers.get("identity")
    if layer is None or layer.decision is None or layer.decision.value == "allow":
        return []
    if decision.decision.value == "allow":
        return []
    detail = (
        f"The identity policies of {ctx.entity_name} do not allow kms:Decrypt on {ctx.key_arn} "
        f"({layer.decision.value}); multipart uploads to {ctx.bucket_name} will fail."
    )
    return [RuleHit(detail, fixes.identity_kms_fix(ev))]


@rule(
    code="KD107",
    title="The principal does not exist in B",
    lock="identity",
    severity="error",
    example=(
        "--role-arn arn:aws:iam::222222222222:role/DeployExecutionRole names a role that was "
        "deleted (or misspelt): IAM answers NoSuchEntity."
    ),
    fix="Check the role name and path in B; re-create the role if it was deleted.",
)
def principal_missing(ev: PrincipalEvaluation) -> list[RuleHit]:
    """Nothing can allow a principal that does not exist. When a deleted role is re-created
    under the same name, policies in A that named it show its old unique id (see KD206/KD303)."""
    ctx = ev.ctx
    entity = ctx.principal.entity
    if entity.status != "absent":
        return []
    kind = "user" if ctx.principal.kind == "user" else "role"
    command = fixes.aws_cli(
        ["iam", f"get-{kind}", f"--{kind}-name", ctx.entity_name], ctx.target_profile
    )
    detail = f"{ctx.entity_arn} was not found in B ({entity.reason()})."
    fix = Fix(
        account=ctx.caller_account,
        where=f"IAM in B ({ctx.caller_account})",
        change=f"Check the {kind} ARN given to kmsdoctor, or re-create the {kind}.",
        statement=None,
        show_current=[command],
    )
    return [RuleHit(detail, fix)]


@rule(
    code="KD108",
    title="An identity-policy kms:ViaService condition names the wrong Region",
    lock="identity",
    severity="error",
    example=(
        'The role\'s Decrypt statement has "kms:ViaService": "s3.us-east-1.amazonaws.com" but the '
        "bucket is in eu-west-1, so S3 calls KMS with s3.eu-west-1.amazonaws.com."
    ),
    fix="Set kms:ViaService to s3.<bucket Region>.amazonaws.com.",
)
def identity_via_service_region(ev: PrincipalEvaluation) -> list[RuleHit]:
    """S3 calls KMS from the bucket's Region; kms:ViaService is s3.REGION.amazonaws.com, never
    s3.amazonaws.com and never another Region."""
    ctx = ev.ctx
    if not ctx.kms_involved:
        return []
    return via_service_hits(ev, "identity", ctx.caller_account)


def via_service_hits(ev: PrincipalEvaluation, layer: str, account: str) -> list[RuleHit]:
    """Shared by KD108 (identity) and KD304 (key policy)."""
    ctx = ev.ctx
    expected = f"s3.{ctx.region}.amazonaws.com"
    hits = []
    for trace, condition in blocking_conditions(ev.results("kms", layer), key_is("kms:ViaService")):
        detail = (
            f"{statement_place(trace)}: {describe_condition(condition)}. S3 in {ctx.region} calls "
            f"KMS with kms:ViaService {expected}."
        )
        policy = ev.policies.find(trace.policy_name)
        raw = statement_at(policy.named.document, trace.index) if policy else None
        fix = None
        if raw is not None:
            fix = fixes.changed_statement_fix(
                ctx,
                trace.policy_name,
                account,
                f"Set kms:ViaService to {expected} in this statement.",
                replace_condition_values(raw, "kms:ViaService", [expected]),
                ev=ev,
                index=trace.index,
            )
        hits.append(RuleHit(detail, fix))
    return hits
