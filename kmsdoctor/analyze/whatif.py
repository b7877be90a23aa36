"""A snapshot with one policy document replaced: what the analysis says after a change.

The analysis is pure (snapshot in, diagnosis out), so "what if this policy were different" is
the same analysis on a copy of the snapshot with that one document swapped. Two users:

- proof.py re-runs the analysis with each fix's `patched_policy` before the fix is shown;
- `kmsdoctor analyze|diagnose --key-policy [KEY=]FILE --bucket-policy [BUCKET=]FILE
  --identity-policy NAME=FILE` check a proposed policy (from a pull request, say) before it is
  applied, for the one key or bucket it names.

The copy shares every fact it does not change (`dataclasses.replace` along the path), so the
original snapshot is never modified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kmsdoctor.analyze.model import FixTarget
from kmsdoctor.arn import alias_name_of, is_alias_reference, key_id_of, split_s3_address
from kmsdoctor.errors import UsageError
from kmsdoctor.snapshot import (
    Fetched,
    KeyInfo,
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
    """Policies to put in place of the collected ones before the analysis runs.

    `key_policies` and `bucket_policies` map the key or bucket the document is for, as the user
    named it (`--key-policy KEY=FILE`: key ARN, key id or alias; `--bucket-policy BUCKET=FILE`),
    to the parsed document; "" (a plain `FILE`) means the snapshot's only key or bucket."""

    key_policies: dict[str, Any] = field(default_factory=dict)
    bucket_policies: dict[str, Any] = field(default_factory=dict)
    identity_policies: dict[str, Any] = field(default_factory=dict)  # inline name -> document
    sources: dict[str, str] = field(default_factory=dict)  # what -> file, for the notes

    def is_empty(self) -> bool:
        return not self.key_policies and not self.bucket_policies and not self.identity_policies


def apply_what_if(snapshot: Any, what_if: WhatIf) -> tuple[Any, list[str]]:
    """The snapshot with the proposed policies in place, and notes saying what was replaced.

    The probe's answers are of the configuration as it is, so they are dropped: comparing them
    with a configuration that does not exist yet would be wrong.
    """
    if not isinstance(snapshot, Snapshot):
        snapshot = Snapshot.from_view(snapshot)
    notes: list[str] = []
    changes: dict[str, Any] = {}
    if what_if.key_policies:
        keys = dict(snapshot.keys)
        for selector, document in what_if.key_policies.items():
            refs = _key_refs(snapshot, selector)
            named = NamedPolicy(name="default", document=document)
            for ref in refs:
                keys[ref] = dataclasses.replace(keys[ref], policy=Fetched.ok(named))
            source = what_if.sources.get(f"key:{selector}", "a file")
            label = _key_identity(snapshot.keys[refs[0]])
            notes.append(f"what-if: the key policy of {label} is replaced by {source}")
        changes["keys"] = keys
    if what_if.bucket_policies:
        buckets = dict(snapshot.buckets)
        for selector, document in what_if.bucket_policies.items():
            name = _bucket_name(snapshot, selector)
            named = NamedPolicy(name="bucket policy", document=document)
            bucket = buckets[name]
            buckets[name] = dataclasses.replace(
                bucket, info=dataclasses.replace(bucket.info, policy=Fetched.ok(named))
            )
            source = what_if.sources.get(f"bucket:{selector}", "a file")
            notes.append(f"what-if: the bucket policy of {name} is replaced by {source}")
        changes["buckets"] = buckets
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


def _key_identity(key: KeyInfo) -> str:
    """One key however it was found (by ARN on an object, by alias as a bucket default)."""
    return key.arn or key.reference


def _key_names(key: KeyInfo) -> set[str]:
    """Every way a user may name the key: as found, its ARN, its id, its aliases."""
    names = {key.reference}
    if key.arn:
        names |= {key.arn, key_id_of(key.arn)}
    if key.metadata.is_ok and key.metadata.value is not None:
        names.add(key.metadata.value.key_id)
    for alias in key.aliases.value or [] if key.aliases.is_ok else []:
        names.add(alias)
    if is_alias_reference(key.reference):
        names.add(alias_name_of(key.reference))
    return names


def _key_refs(snapshot: Snapshot, selector: str) -> list[str]:
    """The snapshot's key references (one key may be found under several) the selector names;
    "" is the only key. A selector that names none, or "" with several keys, is one line."""
    if not snapshot.keys:
        raise WhatIfError("--key-policy: the snapshot has no KMS key to give it to")
    by_key: dict[str, list[str]] = {}
    for ref, key in snapshot.keys.items():
        by_key.setdefault(_key_identity(key), []).append(ref)
    if selector == "":
        if len(by_key) > 1:
            raise WhatIfError(
                f"--key-policy: the snapshot has {len(by_key)} keys ({', '.join(sorted(by_key))});"
                " say which: --key-policy KEY=FILE (key ARN, key id or alias)"
            )
        return next(iter(by_key.values()))
    wanted = alias_name_of(selector) if is_alias_reference(selector) else selector
    for refs in by_key.values():
        if any(wanted in _key_names(snapshot.keys[ref]) for ref in refs):
            return refs
    raise WhatIfError(
        f"--key-policy: no key {selector} in the snapshot (its keys: {', '.join(sorted(by_key))})"
    )


def _bucket_name(snapshot: Snapshot, selector: str) -> str:
    names = sorted(snapshot.buckets)
    if selector == "":
        if len(names) > 1:
            raise WhatIfError(
                f"--bucket-policy: the snapshot has {len(names)} buckets ({', '.join(names)}); "
                "say which: --bucket-policy BUCKET=FILE"
            )
        if not names:
            raise WhatIfError("--bucket-policy: the snapshot has no bucket to give it to")
        return names[0]
    name, _ = split_s3_address(selector)
    if name not in snapshot.buckets:
        raise WhatIfError(
            f"--bucket-policy: no bucket {selector} in the snapshot (its buckets: "
            f"{', '.join(names)})"
        )
    return name
