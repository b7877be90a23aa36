"""Which objects of one question no policy can tell apart: the key under which work done for one
object is reused, exactly, for another.

Two objects of a bucket lead to the same lock statuses for a principal when everything the
analysis reads about them is the same except their ARN (the same KMS key, the same object
facts: encryption, Bucket Key, owner, tags, whether it exists) and no policy in play can tell
their ARNs apart. The ARN reaches the policies in two places only: the S3 request's resource,
and the encryption context S3 sends to KMS (`kms:EncryptionContext:aws:s3:arn`, the object ARN
without a Bucket Key). So a policy cannot tell two object ARNs of the bucket apart when each of
its Resource / NotResource patterns matches both or neither, and no condition reads the
encryption context; a KMS grant with an encryption-context constraint can tell them apart too.

A pattern that names part of the bucket (`bucket/p1/*`) splits the objects by whether it
matches them, matched as the engine matches a Resource; a policy variable, a condition on the
encryption context, a grant constraint or a document that cannot be read as expected make the
object its own class (its ARN is part of the key). Only what is provable is shared.

Lock *statuses* depend on the object only through these facts; reasons and evidence name the
object, so a user of `object_class` reuses statuses, never text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable
from functools import lru_cache
from typing import Any

from kmsdoctor.policy import wildcard
from kmsdoctor.snapshot import Fetched, NamedPolicy, SnapshotView

_WILDCARDS = ("*", "?")


class SharedWork:
    """What the objects of one question share, made by `answer()` per question:

    - `statuses`: the proofs' re-analyses (lock statuses only), by (who, patch, object class);
    - `policy_sets`: the policies of each layer, compiled once (evaluation.gather_policies),
      by the facts they are read from.

    Keys name facts by identity, so the views they were taken from are kept alive for as long
    as this object (an id is never reused for another object while it is held)."""

    def __init__(self) -> None:
        self.statuses: dict[tuple[Any, ...], Any] = {}
        self.views: list[SnapshotView] = []
        self.judged: dict[int, tuple[Any, Any]] = {}  # each document's telling patterns
        self.policy_sets: dict[tuple[Any, ...], Any] = {}


def object_class(
    view: SnapshotView,
    extra_documents: Iterable[Any] = (),
    judged: dict[int, tuple[Any, Any]] | None = None,
) -> Hashable:
    """A key equal for two views of the same question exactly when sharing lock statuses between
    them is provably right: the facts the locks read (by identity: views of one snapshot share
    their fact objects), the object's own facts without its name, and — unless every policy
    in play treats all of the bucket's objects alike — the object ARN itself.

    `extra_documents` are policy documents that take part besides the view's own (a patched
    document, a stand-in's identity policy). `judged` remembers each document's telling patterns by
    identity, holding the document (the views of one question share their policies)."""
    source, target = view.source, view.target
    key = source.key
    key_facts: Hashable = None
    if key is not None:
        key_facts = (
            key.reference,
            key.found_on,
            key.arn,
            id(key.metadata),
            id(key.policy),
            id(key.grants),
            id(key.aliases),
            id(key.tags),
        )
    obj = source.object
    object_facts: Hashable = None
    if obj is not None:
        info = obj.value
        # Every field of the head except the object's name, compared by value.
        nameless = repr(dataclasses.replace(info, key="", arn="")) if info is not None else None
        object_facts = (obj.status, repr(obj.error), nameless)
    shared = (
        view.request.operation,
        view.request.bucket,
        view.request.key is None,
        view.request.region,
        view.created_at,
        id(source.bucket),
        repr(source.account_id),
        source.profile,
        id(source.organization),
        id(source.rcps),
        target.profile,
        repr(target.account_id),
        id(target.organization),
        id(target.scps),
        id(target.vpc_endpoints),
        key_facts,
        object_facts,
    )
    if view.request.key is None:
        return shared
    patterns = _distinguishing_patterns(view, extra_documents, {} if judged is None else judged)
    if patterns is None:
        return (*shared, "the object itself", view.request.key)
    if not patterns:
        return shared
    # The policies tell objects apart only by which of these patterns match their ARN.
    arn = f"{view.source.bucket.arn}/{view.request.key}"
    return (
        *shared,
        patterns,
        tuple(_resource_matcher(p).matches_normalised(arn) for p in patterns),
    )


def _distinguishing_patterns(
    view: SnapshotView, extra_documents: Iterable[Any], judged: dict[int, tuple[Any, Any]]
) -> tuple[str, ...] | None:
    """The Resource / NotResource patterns of the policies in play that match some objects of
    the bucket and not others, sorted; None when a policy may tell objects apart otherwise (a
    policy variable, an encryption-context condition or grant constraint, a document that
    cannot be read as expected)."""
    bucket_arn = view.source.bucket.arn
    documents: list[Any] = list(extra_documents)
    documents += _named_documents(view.source.bucket.policy)
    key = view.source.key
    if key is not None:
        documents += _named_documents(key.policy)
        grants = key.grants.value if key.grants.is_ok and key.grants.value else []
        if any(grant.constraints for grant in grants):
            return None
    for levels in (view.source.rcps, view.target.scps):
        for level in levels.value or [] if levels.is_ok else []:
            documents += [named.document for named in level.policies]
    endpoints = view.target.vpc_endpoints
    for endpoint in endpoints.value or [] if endpoints.is_ok else []:
        if endpoint.policy is not None:
            documents.append(endpoint.policy.document)
    for principal in view.target.principals:
        for fetched in (principal.inline_policies, principal.attached_policies):
            for named in fetched.value or [] if fetched.is_ok else []:
                documents.append(named.document)
        if principal.group_policies.is_ok:
            documents += [named.document for named in principal.group_policies.value or []]
        documents += _named_documents(principal.permissions_boundary)
        documents += _named_documents(principal.session_policy)
    found: set[str] = set()
    for document in documents:
        seen = judged.get(id(document))
        if seen is None or seen[0] is not document:
            seen = (document, _document_patterns(document, bucket_arn))
            judged[id(document)] = seen
        if seen[1] is None:
            return None
        found.update(seen[1])
    return tuple(sorted(found))


@lru_cache(maxsize=4096)
def _resource_matcher(pattern: str) -> wildcard.WildcardSet:
    """The pattern as the policy engine matches a Resource element (parse._resource_patterns):
    case-sensitive, ARN rules, no policy variables (a pattern with one is never asked here)."""
    tokens = wildcard.tokenize(pattern, wildcards=True, variables=False)
    return wildcard.build_wildcard_set([tokens], ignore_case=False, arn_segments=True)


def _named_documents(fetched: Fetched[NamedPolicy]) -> list[Any]:
    if fetched.is_ok and fetched.value is not None:
        return [fetched.value.document]
    return []


def _document_patterns(document: Any, bucket_arn: str) -> frozenset[str] | None:
    """The document's patterns that tell objects of the bucket apart; None when it may tell
    them apart in a way a pattern match does not capture."""
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    found: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict):
            return None
        for element in ("Resource", "NotResource"):
            patterns = statement.get(element)
            if patterns is None:
                continue
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list):
                return None
            for pattern in patterns:
                if not isinstance(pattern, str) or "$" in pattern:
                    return None  # a policy variable: resolved per request
                if not _pattern_treats_objects_alike(pattern, bucket_arn):
                    found.add(pattern)
        conditions = statement.get("Condition")
        if conditions is None:
            continue
        if not isinstance(conditions, dict):
            return None
        for block in conditions.values():
            if not isinstance(block, dict):
                return None
            for condition_key in block:
                if "encryptioncontext" in str(condition_key).lower():
                    return None
    return frozenset(found)


def _pattern_treats_objects_alike(pattern: str, bucket_arn: str) -> bool:
    """The pattern matches every object ARN of the bucket, or none of them."""
    if "$" in pattern:
        return False  # a policy variable: resolved per request
    object_prefix = bucket_arn + "/"
    every_object = {"*", object_prefix + "*", bucket_arn.partition(":::")[0] + ":::*"}
    if pattern in every_object:
        return True
    cut = min((i for i in (pattern.find(w) for w in _WILDCARDS) if i >= 0), default=-1)
    literal = pattern if cut < 0 else pattern[:cut]
    if cut < 0:
        # Matches one ARN: an object's only when it names one.
        return not literal.startswith(object_prefix)
    # A match starts with the literal text before the first wildcard: a literal that no object
    # ARN of the bucket starts with matches none of them.
    return not (object_prefix.startswith(literal) or literal.startswith(object_prefix))
