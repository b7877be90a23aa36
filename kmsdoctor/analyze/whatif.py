"""A snapshot with one policy document replaced: what the analysis says after a change.

The analysis is pure (snapshot in, diagnosis out), so "what if this policy were different" is
the same analysis on a copy of the snapshot with that one document swapped. Two users:

- proof.py re-runs the analysis with each fix's `patched_policy` before the fix is shown;
- `kmsdoctor analyze|diagnose --key-policy FILE --bucket-policy FILE --identity-policy
  NAME=FILE` check a proposed policy (from a pull request, say) before it is applied.

The copy shares every fact it does not change (`dataclasses.replace` along the path), so the
original snapshot is never modified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kmsdoctor.analyze.model import FixTarget
from kmsdoctor.errors import UsageError
from kmsdoctor.snapshot import (
    Fetched,
    NamedPolicy,
    PolicyLevel,
    PrincipalInfo,
    Snapshot,
    VpcEndpoint,
)


class WhatIfError(UsageError):
    """A replacement that does not fit the snapshot (no key to give a key policy to, …): the
    user's to fix, so one line and exit 2."""


def with_policy(snapshot: Snapshot, target: FixTarget, document: Any) -> Snapshot:
    """A copy of the snapshot in which the document `target` names is `document`."""
    kind = target.kind
    if kind == "key_policy":
        key = snapshot.source.key
        if key is None:
            raise WhatIfError("the snapshot has no KMS key to give a key policy to")
        named = NamedPolicy(name="default", document=document)
        source = dataclasses.replace(
            snapshot.source, key=dataclasses.replace(key, policy=Fetched.ok(named))
        )
        return dataclasses.replace(snapshot, source=source)
    if kind == "bucket_policy":
        bucket = snapshot.source.bucket
        named = NamedPolicy(name="bucket policy", document=document)
        source = dataclasses.replace(
            snapshot.source, bucket=dataclasses.replace(bucket, policy=Fetched.ok(named))
        )
        return dataclasses.replace(snapshot, source=source)
    if kind in ("role_inline_policy", "user_inline_policy"):
        return _with_principals(snapshot, lambda p: _inline(p, target, document))
    if kind in ("managed_policy", "permissions_boundary"):
        return _with_principals(snapshot, lambda p: _managed(p, target, document))
    if kind == "scp":
        scps = _levels(snapshot.target.scps, target, document)
        return dataclasses.replace(snapshot, target=dataclasses.replace(snapshot.target, scps=scps))
    if kind == "rcp":
        rcps = _levels(snapshot.source.rcps, target, document)
        return dataclasses.replace(snapshot, source=dataclasses.replace(snapshot.source, rcps=rcps))
    if kind == "vpc_endpoint_policy":
        fetched = snapshot.target.vpc_endpoints
        endpoints: list[VpcEndpoint] = []
        for endpoint in fetched.value or []:
            if endpoint.endpoint_id == target.arn:
                named = NamedPolicy(name=endpoint.endpoint_id, document=document)
                endpoint = dataclasses.replace(endpoint, policy=named)
            endpoints.append(endpoint)
        target_side = dataclasses.replace(
            snapshot.target, vpc_endpoints=dataclasses.replace(fetched, value=endpoints)
        )
        return dataclasses.replace(snapshot, target=target_side)
    raise WhatIfError(f"kmsdoctor cannot replace a {kind} document")


def _with_principals(snapshot: Snapshot, change: Any) -> Snapshot:
    principals = [change(p) for p in snapshot.target.principals]
    target = dataclasses.replace(snapshot.target, principals=principals)
    return dataclasses.replace(snapshot, target=target)


def _inline(principal: PrincipalInfo, target: FixTarget, document: Any) -> PrincipalInfo:
    if principal.arn != target.arn:
        return principal
    name = target.policy_name or "kmsdoctor-what-if"
    kept = [p for p in principal.inline_policies.value or [] if p.name != name]
    policies = [*kept, NamedPolicy(name=name, document=document)]
    return dataclasses.replace(principal, inline_policies=Fetched.ok(policies))


def _managed(principal: PrincipalInfo, target: FixTarget, document: Any) -> PrincipalInfo:
    """The same managed policy is replaced for every principal that attaches it."""
    if target.kind == "permissions_boundary":
        boundary = principal.permissions_boundary
        if boundary.value is None or boundary.value.arn != target.arn:
            return principal
        named = dataclasses.replace(boundary.value, document=document)
        return dataclasses.replace(principal, permissions_boundary=Fetched.ok(named))
    attached = principal.attached_policies
    if not any(p.arn == target.arn for p in attached.value or []):
        return principal
    policies = [
        dataclasses.replace(p, document=document) if p.arn == target.arn else p
        for p in attached.value or []
    ]
    return dataclasses.replace(principal, attached_policies=Fetched.ok(policies))


def _levels(
    fetched: Fetched[list[PolicyLevel]], target: FixTarget, document: Any
) -> Fetched[list[PolicyLevel]]:
    levels: list[PolicyLevel] = []
    for level in fetched.value or []:
        policies = [
            dataclasses.replace(p, document=document) if p.arn == target.arn else p
            for p in level.policies
        ]
        levels.append(dataclasses.replace(level, policies=policies))
    return dataclasses.replace(fetched, value=levels)


# --- the what-if flags ------------------------------------------------------------------------


@dataclass
class WhatIf:
    """Policies to put in place of the collected ones before the analysis runs."""

    key_policy: Any = None  # a parsed document, or None to leave it
    bucket_policy: Any = None
    identity_policies: dict[str, Any] = field(default_factory=dict)  # inline name -> document
    sources: dict[str, str] = field(default_factory=dict)  # what -> file, for the notes

    def is_empty(self) -> bool:
        return self.key_policy is None and self.bucket_policy is None and not self.identity_policies


def apply_what_if(snapshot: Any, what_if: WhatIf) -> tuple[Any, list[str]]:
    """The snapshot with the proposed policies in place, and notes saying what was replaced.

    The probe's answers are of the configuration as it is, so they are dropped: comparing them
    with a configuration that does not exist yet would be wrong.
    """
    if hasattr(snapshot, "keys") and isinstance(snapshot.keys, dict):
        return _apply_to_facts(snapshot, what_if)
    notes: list[str] = []
    changed = snapshot
    if what_if.key_policy is not None:
        key = snapshot.source.key
        if key is None or not (key.arn or key.reference):
            raise WhatIfError("--key-policy: the snapshot has no KMS key to give it to")
        target = FixTarget("key_policy", key.arn or key.reference)
        changed = with_policy(changed, target, what_if.key_policy)
        notes.append(
            f"what-if: the key policy is replaced by {what_if.sources.get('key_policy', 'a file')}"
        )
    if what_if.bucket_policy is not None:
        bucket = snapshot.source.bucket
        changed = with_policy(
            changed, FixTarget("bucket_policy", bucket.arn), what_if.bucket_policy
        )
        source = what_if.sources.get("bucket_policy", "a file")
        notes.append(f"what-if: the bucket policy is replaced by {source}")
    if what_if.identity_policies:
        caller = _caller(snapshot)
        kind = "user_inline_policy" if caller.kind == "user" else "role_inline_policy"
        for name, document in what_if.identity_policies.items():
            target = FixTarget(kind, caller.arn, name)  # type: ignore[arg-type]
            changed = with_policy(changed, target, document)
            source = what_if.sources.get(f"identity:{name}", "a file")
            notes.append(f"what-if: inline policy {name} of {caller.arn} is {source}")
    if notes and snapshot.probes:
        changed = dataclasses.replace(changed, probes=[])
        notes.append(
            "what-if: the probe's answers are of the configuration as it is, so they are not "
            "compared with the proposed policies"
        )
    return changed, notes


def _caller(snapshot: Snapshot) -> PrincipalInfo:
    principals = snapshot.target.principals
    for principal in principals:
        if principal.source == "caller":
            return principal
    if len(principals) == 1:
        return principals[0]
    raise WhatIfError(
        "--identity-policy: the snapshot has no caller principal to give the policy to"
    )


def _apply_to_facts(snapshot: Any, what_if: WhatIf) -> tuple[Any, list[str]]:
    """The same replacements in a schema v2 snapshot (facts keyed once): every key's policy,
    every bucket's policy, the caller's inline policies."""
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if what_if.key_policy is not None:
        if not snapshot.keys:
            raise WhatIfError("--key-policy: the snapshot has no KMS key to give it to")
        named = NamedPolicy(name="default", document=what_if.key_policy)
        changes["keys"] = {
            ref: dataclasses.replace(key, policy=Fetched.ok(named))
            for ref, key in snapshot.keys.items()
        }
        source = what_if.sources.get("key_policy", "a file")
        notes.append(f"what-if: the key policy is replaced by {source}")
    if what_if.bucket_policy is not None:
        named = NamedPolicy(name="bucket policy", document=what_if.bucket_policy)
        changes["buckets"] = {
            name: dataclasses.replace(
                bucket, info=dataclasses.replace(bucket.info, policy=Fetched.ok(named))
            )
            for name, bucket in snapshot.buckets.items()
        }
        source = what_if.sources.get("bucket_policy", "a file")
        notes.append(f"what-if: the bucket policy is replaced by {source}")
    if what_if.identity_policies:
        principals = dict(snapshot.principals)
        caller_key = "" if "" in principals else next(iter(principals), None)
        if caller_key is None or (caller_key != "" and len(principals) != 1):
            raise WhatIfError(
                "--identity-policy: the snapshot has no caller principal to give the policy to"
            )
        caller = principals[caller_key]
        kind = "user_inline_policy" if caller.kind == "user" else "role_inline_policy"
        for name, document in what_if.identity_policies.items():
            caller = _inline(caller, FixTarget(kind, caller.arn, name), document)  # type: ignore[arg-type]
            source = what_if.sources.get(f"identity:{name}", "a file")
            notes.append(f"what-if: inline policy {name} of {caller.arn} is {source}")
        principals[caller_key] = caller
        changes["principals"] = principals
    if notes and snapshot.probes:
        changes["probes"] = []
        notes.append(
            "what-if: the probe's answers are of the configuration as it is, so they are not "
            "compared with the proposed policies"
        )
    return dataclasses.replace(snapshot, **changes), notes
