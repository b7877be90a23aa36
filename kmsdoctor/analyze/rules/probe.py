"""Findings from the probe: what AWS answered as the caller, against the analysis.

These rules fire only when the snapshot holds probe results (`diagnose` without `--no-probe`, or
`analyze` on a snapshot that has them); `reconcile.py` reads the answers, these rules report.
A probe finding is reported on the lock it is about — the one AWS's message names when it names
one — so one code can appear under different locks.
"""

from __future__ import annotations

import dataclasses

from kmsdoctor.analyze import fixes
from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.analyze.evaluation import PrincipalEvaluation
from kmsdoctor.analyze.model import DENY_STATUSES, Finding, Fix, LockName
from kmsdoctor.analyze.reconcile import Disagreement, Reconciliation
from kmsdoctor.analyze.rules.base import RuleHit, rule
from kmsdoctor.analyze.show_current import show_current
from kmsdoctor.lock_catalogue import lock_spec


def _account_of_lock(ctx: RequestContext, lock: str) -> str:
    side = lock_spec(lock).side
    if side == "resource":
        return ctx.resource_account
    if side == "caller":
        return ctx.caller_account
    return ""  # SCPs and RCPs are changed from the organization's management account


def _lock(name: str) -> LockName:
    return name  # type: ignore[return-value]  # names come from the lock registry


def _disagreement_hit(ev: PrincipalEvaluation, rec: Reconciliation, d: Disagreement) -> RuleHit:
    unseen = "; ".join(rec.unseen_layers)
    detail = d.detail
    if unseen:
        detail += (
            f" Layers kmsdoctor could not see, or had to assume, that can explain it: {unseen}."
        )
    fix = Fix(
        account=_account_of_lock(ev.ctx, d.lock),
        where=f"the {d.lock} lock",
        change=(
            "Compare the layer AWS's answer points at with what kmsdoctor read (below); if it "
            "could not read it, rerun with a profile that can (docs/permissions.md)."
        ),
        show_current=show_current(ev.ctx, d.lock),
    )
    return RuleHit(detail, fix, lock=_lock(d.lock))


@rule(
    code="KD701",
    stage="probe",
    title="The probe's direct Decrypt was denied, as a kms:ViaService condition requires",
    lock="key_policy",
    severity="info",
    example=(
        "The key policy lets BIAnalyticsRole decrypt only with kms:ViaService "
        "s3.eu-west-1.amazonaws.com; --probe-decrypt calls KMS directly and is denied, while "
        "reads through S3 work."
    ),
    fix="Nothing to fix: the condition is meant to keep direct use of the key out.",
)
def probe_decrypt_via_service(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """A `--probe-decrypt` round trip calls KMS directly, so the request carries no
    kms:ViaService. When every statement that lets the caller decrypt through S3 tests that key,
    the direct call is denied by design, and the denial says nothing about reads through S3.
    Reported on the lock that holds the condition (key policy or identity policy)."""
    if rec.via_service_denial is None:
        return []
    return [RuleHit(rec.via_service_denial + ".", lock=_lock(rec.via_service_lock))]


@rule(
    code="KD702",
    stage="probe",
    title="The caller may not DescribeKey the key (this says nothing about Decrypt)",
    lock="key_policy",
    severity="info",
    example=(
        "The key policy grants BIAnalyticsRole kms:Decrypt only; the probe's kms:DescribeKey is "
        "denied cross-account while GetObject through S3 works."
    ),
    fix=(
        "Nothing to fix for reads. Add kms:DescribeKey to the key-policy statement only if the "
        "caller's tools describe the key."
    ),
)
def probe_describe_key_denied(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """kms:DescribeKey is a separate permission. Cross-account key policies often grant only
    kms:Decrypt, so a denied DescribeKey is common and proves nothing about the read."""
    if rec.describe_key_denied is None:
        return []
    return [RuleHit(rec.describe_key_denied + ".")]


@rule(
    code="KD703",
    stage="probe",
    title="AWS denied a request the analysis allows",
    lock="bucket_policy",
    severity="error",
    example=(
        "The analysis finds every lock open, but the one-byte GET answers AccessDenied naming a "
        "service control policy, and B's SCPs could not be read from the member account."
    ),
    fix=(
        "Read the layer AWS's message names (the show-current commands), or the layers listed "
        "as unseen; rerun with a profile that can read them."
    ),
)
def probe_denied_what_analysis_allows(
    ev: PrincipalEvaluation, rec: Reconciliation
) -> list[RuleHit]:
    """The probe is AWS's own answer: a GET (or HEAD, or direct Decrypt) made as the caller was
    denied although the policies kmsdoctor read allow it. The verdict follows the probe (deny);
    the finding names the lock AWS's message points at (else the half's resource lock: the
    bucket policy for S3, the key policy for KMS) and the layers kmsdoctor could not see."""
    return [_disagreement_hit(ev, rec, d) for d in rec.disagreements if d.kind == "denied_allowed"]


@rule(
    code="KD704",
    stage="probe",
    title="AWS allowed a request the analysis denies",
    lock="key_policy",
    severity="warning",
    example=(
        "The analysis finds the key policy shut, but the probe's GET as the role reads its byte: "
        "a grant the source profile could not list opens the key."
    ),
    fix=(
        "Check what kmsdoctor could not read or had to assume (grants, object ACLs, the "
        "caller's network and session); the read works for the probe's session."
    ),
)
def probe_allowed_what_analysis_denies(
    ev: PrincipalEvaluation, rec: Reconciliation
) -> list[RuleHit]:
    """A request made as the caller succeeded although the analysis found a lock shut for it.
    With a successful GET the verdict is allow (for the probe's session, from this network).
    One finding per principal, on the first lock the analysis found shut, naming every shut lock
    and what kmsdoctor could not see that can explain the difference; the policy findings it
    contradicts say so in their own detail."""
    allowed = [d for d in rec.disagreements if d.kind == "allowed_denied"]
    if not allowed:
        return []
    first = allowed[0]
    if len(allowed) == 1:
        return [_disagreement_hit(ev, rec, first)]
    locks = [d.lock for d in allowed]
    lead = first.detail.split(", but ", 1)[0]
    shut = "; ".join(f"{d.lock} ({ev.locks[d.lock].reason})" for d in allowed if d.lock in ev.locks)
    merged = Disagreement(
        first.kind,
        first.lock,
        f"{lead}, but the analysis found {len(locks)} locks shut: {shut}.",
    )
    hit = _disagreement_hit(ev, rec, merged)
    if hit.fix is not None:
        hit.fix.where = "the " + ", ".join(locks) + " locks"
        show: list[str] = []
        for lock in locks:
            for command in show_current(ev.ctx, lock):
                if command not in show:
                    show.append(command)
        hit.fix.show_current = show
    return [hit]


@rule(
    code="KD705",
    stage="probe",
    title="AWS's answer points at another lock than the analysis",
    lock="key_policy",
    severity="warning",
    example=(
        "The analysis finds the bucket policy shut, but HEAD succeeds and the GET's message says "
        "no resource-based policy allows kms:Decrypt: the KMS half is (also) shut."
    ),
    fix=(
        "Fix the lock the analysis found, then rerun: the probe shows whether the lock AWS "
        "names is shut too."
    ),
)
def probe_points_elsewhere(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """Both the probe and the analysis say the read is denied, but AWS's answer (its message, or
    HEAD against GET) places the denial in another half or lock. The verdict stays deny; this
    finding is reported on the lock AWS points at."""
    return [_disagreement_hit(ev, rec, d) for d in rec.disagreements if d.kind == "other_lock"]


@rule(
    code="KD706",
    stage="probe",
    title="HEAD succeeds while GET is denied: the denial is in the KMS half",
    lock="key_policy",
    severity="info",
    example=(
        "As BIAnalyticsRole, HeadObject answers 200 and GetObject (bytes=0-0) answers 403 "
        "AccessDenied: the bucket policy and the identity policy allow s3:GetObject, and the "
        "kms:Decrypt that S3 makes as the caller is refused."
    ),
    fix="Open the KMS lock the findings above name (key policy, or the identity policy in B).",
)
def probe_head_ok_get_denied(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """HeadObject is authorised as s3:GetObject but makes no KMS call; GetObject of an SSE-KMS
    object needs both. A HEAD that succeeds with a GET that fails therefore puts the denial in
    the KMS half: the identity policy's or the key policy's kms:Decrypt, a ceiling on it, or
    the key's state. Reported on the lock AWS's message names, else on the key policy."""
    if rec.kms_half_evidence is None:
        return []
    return [RuleHit(rec.kms_half_evidence + ".", lock=_lock(rec.kms_half_lock))]


@rule(
    code="KD707",
    stage="probe",
    title="HEAD and GET are both denied: the denial is in the S3 half",
    lock="bucket_policy",
    severity="info",
    example=(
        "As BIAnalyticsRole, HeadObject answers 403 and GetObject answers 403 AccessDenied naming "
        "s3:GetObject: S3 refused before asking KMS (bucket policy, identity policy or a ceiling)."
    ),
    fix="Open the S3 lock the findings above name (bucket policy in A or identity policy in B).",
)
def probe_head_and_get_denied(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """When HEAD is denied too, S3 refused the request itself (s3:GetObject) and never called
    KMS; the key policy is not what stops this read. Reported on the lock AWS's message names,
    else on the bucket policy."""
    if rec.s3_half_evidence is None:
        return []
    return [RuleHit(rec.s3_half_evidence + ".", lock=_lock(rec.s3_half_evidence_lock))]


@rule(
    code="KD708",
    stage="probe",
    title="The probe could not assume the role",
    lock="identity",
    severity="warning",
    example=(
        "diagnose --role-arn arn:aws:iam::222222222222:role/DeployExecutionRole: the target "
        "profile may not sts:AssumeRole into it (the role trusts only cloudformation.amazonaws.com)"
        ", so nothing was probed as that role."
    ),
    fix=(
        "Run diagnose with a target profile the role trusts, or allow that principal in the "
        "role's trust policy; the analysis of the role's policies stands either way."
    ),
)
def probe_could_not_assume(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """A --role-arn principal is probed by assuming it from the target profile. When AWS refuses
    the AssumeRole, every probe call for that role is skipped and the verdict rests on the
    policies alone."""
    if rec.assume_failure is None:
        return []
    fix = Fix(
        account=ev.ctx.caller_account,
        where=f"trust policy of {ev.ctx.entity_arn}",
        change=(
            "Let the target profile's principal assume the role (sts:AssumeRole in its trust "
            "policy), or run with a profile the role already trusts."
        ),
        show_current=[
            fixes.aws_cli(
                ["iam", "get-role", "--role-name", ev.ctx.entity_name], ev.ctx.target_profile
            )
        ],
    )
    return [RuleHit(rec.assume_failure + ".", fix)]


@rule(
    code="KD709",
    stage="probe",
    title="CloudTrail records the denial in the other account's trail",
    lock="key_policy",
    severity="warning",
    example=(
        "The analysis finds the key policy shut, but --cloudtrail finds the recent denied "
        "Decrypt events only in B's trail: the caller's own identity policy refused them."
    ),
    fix=(
        "Read the event (its errorMessage names the policy type) and check the lock it points "
        "at; events may predate the last policy change."
    ),
)
def cloudtrail_other_trail(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """A denied Decrypt in the key owner's trail (A) is the key policy's; in the caller's trail
    (B) it is the caller's identity policy's. When the recent events sit only in the trail of
    the lock the analysis found open, the two disagree. Reported on the lock the trail implies."""
    if rec.cloudtrail_contradiction is None:
        return []
    contradiction = rec.cloudtrail_contradiction
    fix = Fix(
        account=_account_of_lock(ev.ctx, contradiction.lock),
        where=f"the {contradiction.lock} lock",
        change="Compare the event's errorMessage with the policy kmsdoctor read for this lock.",
        show_current=show_current(ev.ctx, contradiction.lock),
    )
    return [RuleHit(contradiction.detail, fix, lock=_lock(contradiction.lock))]


@rule(
    code="KD710",
    stage="probe",
    title="KMS refused the probe's direct Decrypt for the key's state",
    lock="key_state",
    severity="error",
    example=(
        "diagnose --probe-decrypt: the collector read the key Enabled, but the caller's Decrypt "
        "answers KMSInvalidStateException (pending deletion) and the GET's connection was reset: "
        "the verdict is unknown, and this finding names the state."
    ),
    fix=(
        "In A, cancel the key deletion (kms cancel-key-deletion, then enable-key) or enable the "
        "key; a key pending import needs its key material imported."
    ),
)
def probe_decrypt_key_state(ev: PrincipalEvaluation, rec: Reconciliation) -> list[RuleHit]:
    """With `--probe-decrypt`, KMS itself answered the caller's Decrypt with DisabledException
    or KMSInvalidStateException (pending deletion, pending import): the key cannot be used,
    whatever any policy says. Reported on the key_state lock whatever the GET did: when the GET
    works while the key is pending deletion, reads work today and stop when it is deleted."""
    if rec.decrypt_key_state is None:
        return []
    ctx = ev.ctx
    key = ctx.key_arn or (ctx.key.reference if ctx.key else "the key")
    fix = Fix(
        account=ctx.resource_account,
        where=f"KMS key {key} in A ({ctx.resource_account})",
        change=rec.decrypt_key_state_step,
        show_current=show_current(ctx, "key_state"),
    )
    return [RuleHit(rec.decrypt_key_state, fix)]


# --- when the probe decides the verdict against the analysis ------------------------------------


def mark_contradicted(
    ev: PrincipalEvaluation, rec: Reconciliation, findings: list[Finding]
) -> list[Finding]:
    """When the probe's GET worked although the analysis shut locks, the policy findings on those
    locks are not errors to fix: AWS let the read through. Each says so in its detail, drops to
    `info` and loses its fix (a change made for it would open nothing that is not open)."""
    if rec.verdict != "allow" or rec.status != "disagrees":
        return findings
    shut = {name for name, lock in ev.locks.items() if lock.status in DENY_STATUSES}
    marked: list[Finding] = []
    for finding in findings:
        # The key's state and the object are facts, not policies a hidden layer could open.
        policy_lock = finding.lock not in ("key_state", "object")
        if finding.lock not in shut or finding.severity != "error" or not policy_lock:
            marked.append(finding)
            continue
        detail = (
            f"Contradicted by the probe: the GET as {ev.ctx.principal.arn} succeeded although "
            f"{_what_says(finding.lock)}: a grant or a layer kmsdoctor cannot read opens it. "
            f"What the analysis found: {finding.detail}"
        )
        marked.append(dataclasses.replace(finding, detail=detail, severity="info", fix=None))
    return marked


def _what_says(lock: str) -> str:
    sentences = {
        "key_policy": "no key-policy statement allows it",
        "bucket_policy": "no bucket-policy statement allows it",
        "identity": "the caller's identity policies do not allow it",
        "key_state": "the key's state, as collected, refuses it",
        "object": "the object, as collected, refuses it",
    }
    return sentences.get(lock, f"the {lock} lock is shut for it")
