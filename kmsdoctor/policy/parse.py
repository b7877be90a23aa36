"""`parse_policy`: JSON text (or an already-decoded object) in, a compiled `Policy` out.

Everything malformed becomes a `PolicyError` naming the policy and the place inside it; no
other exception escapes, whatever the input. Structure follows the IAM "Grammar of the IAM JSON
policy language" page; element rules follow the "IAM JSON policy elements reference".
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import get_args

from kmsdoctor.policy import wildcard
from kmsdoctor.policy.compiled import CompiledStatement, Effect, Policy, ResourceElement
from kmsdoctor.policy.conditions import CompiledCondition, compile_condition
from kmsdoctor.policy.invalid import InvalidPolicy
from kmsdoctor.policy.memo import remember
from kmsdoctor.policy.model import PolicyError, PolicyKind, PolicyWarning, StatementText
from kmsdoctor.policy.principals import PrincipalSet, parse_principal_element

# Limits well above anything AWS stores (key policies 32 KiB, bucket policies 20 KiB, managed
# policies 6 KiB, SCPs 5 KiB), low enough that a hostile input cannot cost real time.
MAX_POLICY_CHARACTERS = 256 * 1024
MAX_STATEMENTS = 1000
MAX_JSON_NODES = 100_000
MAX_JSON_DEPTH = 32

VERSION_WITH_VARIABLES = "2012-10-17"
KNOWN_VERSIONS = ("2012-10-17", "2008-10-17")

# Policy kinds by where their Principal element stands.
_NO_PRINCIPAL_KINDS = ("identity", "permissions_boundary", "session", "scp")
_PRINCIPAL_REQUIRED_KINDS = ("resource", "vpc_endpoint", "rcp")
_POLICY_KINDS = get_args(PolicyKind)

_TOP_LEVEL_ELEMENTS = ("Version", "Id", "Statement")
_STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


class _JsonObject(dict):
    """A decoded JSON object that remembers keys the text held more than once."""

    duplicate_keys: tuple[str, ...] = ()


def _object_keeping_duplicates(pairs: list[tuple[str, object]]) -> _JsonObject:
    decoded = _JsonObject()
    duplicates: list[str] = []
    for key, value in pairs:
        if key in decoded and key not in duplicates:
            duplicates.append(key)
        # Last one wins, as with json.loads: see _warn_duplicates for why.
        decoded[key] = value
    if duplicates:
        decoded.duplicate_keys = tuple(duplicates)
    return decoded


def _reject_constant(name: str) -> object:
    raise InvalidPolicy("<document>", f"{name} is not a JSON value")


@dataclass
class _Compiler:
    kind: PolicyKind
    name: str
    variables: bool = False
    warnings: list[PolicyWarning] = field(default_factory=list)

    def warn(self, location: str, message: str) -> None:
        self.warnings.append(PolicyWarning(self.name, location, message))

    def warn_duplicates(self, value: object, location: str) -> None:
        # The grammar page says an element "must not contain multiple instances of the same
        # key", but AWS does not document what a service does with a stored policy that has
        # them. Like json.loads (and most JSON readers) the engine keeps the last one, and says
        # so: in a Condition this silently drops a whole operator block, e.g. the second
        # "StringEquals" in reference/000 replaces the aws:PrincipalOrgID test with the
        # kms:ViaService one.
        for key in getattr(value, "duplicate_keys", ()):
            self.warn(
                location,
                f"{key!r} appears more than once; the policy grammar forbids this, and only "
                "the last one is read",
            )


# --- compiled documents, shared -------------------------------------------------------------
#
# The analysis hands every principal's policies to parse_policy for that principal: the bucket
# policy, the key policy, the SCPs and each managed policy come back once per principal (and,
# for a check over a prefix, once per object). Compiling is by far the dearest step (about
# 0.2 ms for a small policy), and a compiled policy is immutable apart from its memos, which
# hold pure results. So the compiled statements are kept by the document's text and kind, and
# every Policy parsed from an equal document shares them, memos included: the second principal
# to meet the bucket policy finds its wildcard matches and condition traces already worked out.
#
# The key is the text itself for JSON text, and json.dumps(document) for a decoded document,
# which keeps the order of keys (conditions are traced in the order written) and tells 1,
# 1.0 and true apart. json.dumps also writes non-string keys (1, None) as strings, which
# parse_policy rejects; the decoded form of the key text is kept and compared with `==`, so
# such a document never matches a cached one. Mappings json.dumps cannot write (cycles,
# non-JSON values) are not cached.
#
# Statements are also kept by their own text, position and the policy's kind and Version: a
# new document (a role's own inline policy) that repeats statements of others (its
# organization's standard ones) compiles only the statements that are new. Below them,
# conditions are kept by operator, key, values and Version (sharing their memos), and Action
# and Resource elements by their text.

DOCUMENT_CACHE_LIMIT = 2048
STATEMENT_CACHE_LIMIT = 8192
CONDITION_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class _CompiledDocument:
    decoded: object  # for a decoded document: json.loads of its key text; None for text
    version: str | None
    statements: tuple[CompiledStatement, ...]
    warnings: tuple[tuple[str, str], ...]  # (location, message): warnings name their policy
    error: tuple[str, str] | None  # (location, message) of the PolicyError it raises
    # The Policy under each name it was asked for (a Policy is immutable): the analysis asks
    # for the bucket policy under one name for every principal and object.
    by_name: dict[str, Policy] = field(default_factory=dict, compare=False)

    def policy(self, name: str, kind: PolicyKind) -> Policy:
        """The Policy parse_policy returns for this document under `name`."""
        if self.error is not None:
            raise PolicyError(name, self.error[0], self.error[1])
        policy = self.by_name.get(name)
        if policy is None:
            policy = Policy(
                name=name,
                kind=kind,
                version=self.version,
                statements=self.statements,
                warnings=tuple(
                    PolicyWarning(name, location, message) for location, message in self.warnings
                ),
            )
            remember(self.by_name, name, policy)
        return policy


_DOCUMENTS: dict[tuple[object, ...], _CompiledDocument] = {}
_STATEMENTS: dict[tuple[object, ...], CompiledStatement] = {}
_CONDITIONS: dict[tuple[object, ...], CompiledCondition] = {}


def _remember_bounded(cache: dict, limit: int, key: object, value: object) -> None:
    # Emptied when full, as the memos are (memo.py): bounded and cheap, and the documents in
    # use are compiled again at the next call.
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _document_key(document: object, kind: object) -> tuple[tuple[object, ...], str | None] | None:
    """(cache key, its JSON text for a decoded document) when `document` can be cached."""
    if kind not in _POLICY_KINDS:
        return None
    document_type = type(document)
    # Documents over the size limit are refused anyway; they are not worth keeping.
    if document_type is str or document_type is bytes:
        if len(document) > MAX_POLICY_CHARACTERS:  # type: ignore[arg-type]
            return None
        return ("text" if document_type is str else "bytes", kind, document), None
    if document_type is dict:
        try:
            text = json.dumps(document)
        except (TypeError, ValueError, RecursionError):
            return None
        if len(text) > MAX_POLICY_CHARACTERS:
            return None
        return ("json", kind, text), text
    return None


def _cached_document(
    keyed: tuple[tuple[object, ...], str | None], document: object
) -> _CompiledDocument | None:
    key, key_text = keyed
    compiled = _DOCUMENTS.get(key)
    if compiled is None or key_text is None:
        return compiled
    try:
        same = compiled.decoded == document
    except Exception:  # a value whose == fails: compile it instead
        return None
    return compiled if same else None


def _remember_document(
    keyed: tuple[tuple[object, ...], str | None],
    version: str | None,
    statements: tuple[CompiledStatement, ...],
    warnings: tuple[tuple[str, str], ...],
    error: tuple[str, str] | None,
) -> _CompiledDocument | None:
    key, key_text = keyed
    decoded: object = None
    if key_text is not None:
        try:
            decoded = json.loads(key_text)
        except (ValueError, RecursionError):  # not expected of json.dumps' own output
            return None
    compiled = _CompiledDocument(decoded, version, statements, warnings, error)
    _remember_bounded(_DOCUMENTS, DOCUMENT_CACHE_LIMIT, key, compiled)
    return compiled


def clear_caches() -> None:
    """Forget every compiled document, statement and condition, memos with them (the tests
    use it to evaluate with nothing remembered)."""
    _DOCUMENTS.clear()
    _STATEMENTS.clear()
    _CONDITIONS.clear()


def parse_policy(
    document: str | bytes | Mapping[str, object],
    *,
    name: str,
    kind: PolicyKind = "identity",
) -> Policy:
    """Parse and compile a policy once, so that `Policy.evaluate` is fast.

    `document` is the JSON text (URL-encoded text, as IAM's API returns it, is decoded too) or
    an already-decoded JSON object. `kind` decides the Principal rules: identity policies,
    permissions boundaries, session policies and SCPs may not have one; resource policies, VPC
    endpoint policies and RCPs must. Raises `PolicyError` for anything malformed, and never any
    other exception.

    Equal documents of the same kind share one compiled form (see "compiled documents" above):
    parsing the same policy for many principals costs one compilation.
    """
    policy_name = name if isinstance(name, str) else repr(name)
    keyed = _document_key(document, kind)
    if keyed is not None:
        compiled = _cached_document(keyed, document)
        if compiled is not None:
            return compiled.policy(policy_name, kind)  # type: ignore[arg-type]
    error: tuple[str, str] | None = None
    try:
        policy = _parse(document, policy_name, kind)
    except PolicyError:
        raise
    except InvalidPolicy as invalid:
        error = (invalid.location, invalid.message)
    except RecursionError:
        raise PolicyError(policy_name, "<document>", "nested too deeply") from None
    except Exception as unexpected:  # the promise: any input gives a PolicyError
        raise PolicyError(
            policy_name,
            "<document>",
            f"could not be read ({type(unexpected).__name__}: {unexpected})",
        ) from None
    if keyed is not None:
        if error is not None:
            _remember_document(keyed, None, (), (), error)
        else:
            warnings = tuple((warning.location, warning.message) for warning in policy.warnings)
            compiled = _remember_document(keyed, policy.version, policy.statements, warnings, None)
            if compiled is not None:
                compiled.by_name[policy_name] = policy
    if error is not None:
        raise PolicyError(policy_name, error[0], error[1])
    return policy


def _parse(document: object, name: str, kind: object) -> Policy:
    if kind not in _POLICY_KINDS:
        raise InvalidPolicy("<kind>", f"unknown policy kind {kind!r}")
    compiler = _Compiler(kind=kind, name=name)  # type: ignore[arg-type]
    data = _decode(document)
    has_duplicates = _check_size(data)
    if not isinstance(data, Mapping):
        raise InvalidPolicy("<document>", "a policy must be a JSON object")
    compiler.warn_duplicates(data, "<document>")
    for key in data:
        if key not in _TOP_LEVEL_ELEMENTS:
            raise InvalidPolicy(str(key), f"unknown policy element {key!r}")

    version = data.get("Version")
    if version is not None and version not in KNOWN_VERSIONS:
        raise InvalidPolicy("Version", f"unknown policy language version {version!r}")
    compiler.variables = version == VERSION_WITH_VARIABLES
    policy_id = data.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise InvalidPolicy("Id", "Id must be a string")

    if "Statement" not in data:
        raise InvalidPolicy("<document>", "the policy has no Statement")
    raw_statements = data["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list | tuple):
        raise InvalidPolicy("Statement", "Statement must be an object or a list of objects")
    if len(raw_statements) > MAX_STATEMENTS:
        raise InvalidPolicy("Statement", f"more than {MAX_STATEMENTS} statements")

    statements = tuple(
        _statement(compiler, raw, index, shareable=not has_duplicates)
        for index, raw in enumerate(raw_statements)
    )
    return Policy(
        name=name,
        kind=compiler.kind,
        version=version,
        statements=statements,
        warnings=tuple(compiler.warnings),
    )


def _decode(document: object) -> object:
    if isinstance(document, bytes | bytearray):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPolicy("<document>", "the policy text is not UTF-8") from None
    if isinstance(document, str):
        if len(document) > MAX_POLICY_CHARACTERS:
            raise InvalidPolicy(
                "<document>", f"the policy is larger than {MAX_POLICY_CHARACTERS} characters"
            )
        text = document.strip()
        if text[:3].upper() == "%7B":
            # IAM's GetRolePolicy / GetPolicyVersion return URL-encoded documents.
            text = urllib.parse.unquote(text)
        try:
            return json.loads(
                text,
                object_pairs_hook=_object_keeping_duplicates,
                parse_constant=_reject_constant,
            )
        except json.JSONDecodeError as error:
            raise InvalidPolicy(
                f"line {error.lineno} column {error.colno}", f"not valid JSON: {error.msg}"
            ) from None
        except RecursionError:
            raise InvalidPolicy("<document>", "the JSON is nested too deeply") from None
        except ValueError as error:  # e.g. an integer with thousands of digits
            raise InvalidPolicy("<document>", f"not valid JSON: {error}") from None
    if isinstance(document, Mapping):
        return document
    raise InvalidPolicy(
        "<document>", f"expected JSON text or a decoded JSON object, got {type(document).__name__}"
    )


def _check_size(data: object) -> bool:
    """Walk the decoded value without recursion: bounded size and depth, JSON types only.

    This is what keeps already-decoded input (which has no text length to check) from costing
    unbounded time, and cycles in it from looping forever. Returns whether the text held a
    key more than once somewhere (see _Compiler.warn_duplicates).
    """
    stack: list[tuple[object, int]] = [(data, 0)]
    nodes = 0
    characters = 0
    has_duplicates = False
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise InvalidPolicy("<document>", f"the policy has more than {MAX_JSON_NODES} values")
        if depth > MAX_JSON_DEPTH:
            raise InvalidPolicy("<document>", f"the policy is nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(value, str):
            characters += len(value)
        elif isinstance(value, Mapping):
            if getattr(value, "duplicate_keys", ()):
                has_duplicates = True
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidPolicy("<document>", f"object keys must be strings, not {key!r}")
                characters += len(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list | tuple):
            for item in value:
                stack.append((item, depth + 1))
        elif value is None or isinstance(value, bool | int | float):
            pass
        else:
            raise InvalidPolicy("<document>", f"{type(value).__name__} is not a JSON value")
        if characters > MAX_POLICY_CHARACTERS:
            raise InvalidPolicy(
                "<document>", f"the policy is larger than {MAX_POLICY_CHARACTERS} characters"
            )
    return has_duplicates


def _strings(value: object, location: str, element: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise InvalidPolicy(location, f"{element} is an empty list")
    strings: list[str] = []
    for index, item in enumerate(items):
        item_location = f"{location}[{index}]" if isinstance(value, list | tuple) else location
        if not isinstance(item, str):
            raise InvalidPolicy(item_location, f"each {element} must be a string")
        if not item:
            raise InvalidPolicy(item_location, f"empty {element}")
        strings.append(item)
    return tuple(strings)


def _one_of(
    statement: Mapping[str, object], positive: str, negative: str, location: str
) -> tuple[str, object] | None:
    if positive in statement and negative in statement:
        raise InvalidPolicy(location, f"a statement cannot have both {positive} and {negative}")
    if positive in statement:
        return positive, statement[positive]
    if negative in statement:
        return negative, statement[negative]
    return None


def _statement(compiler: _Compiler, raw: object, index: int, shareable: bool) -> CompiledStatement:
    """The compiled statement, shared with every earlier equal one (see "compiled documents").

    Only after _check_size: every key is then a string and every value a JSON value, so the
    statement's JSON text says all that compiling reads. A statement with a repeated key is
    compiled afresh, as its warnings name the policy.
    """
    if not shareable or not isinstance(raw, dict):
        return _compile_statement(compiler, raw, index)
    try:
        text = json.dumps(raw)
    except (TypeError, ValueError, RecursionError):
        return _compile_statement(compiler, raw, index)
    key = (compiler.kind, compiler.variables, index, text)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _compile_statement(compiler, raw, index)
        _remember_bounded(_STATEMENTS, STATEMENT_CACHE_LIMIT, key, statement)
    return statement


def _compile_statement(compiler: _Compiler, raw: object, index: int) -> CompiledStatement:
    location = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidPolicy(location, "a statement must be a JSON object")
    compiler.warn_duplicates(raw, location)
    for key in raw:
        if key not in _STATEMENT_ELEMENTS:
            raise InvalidPolicy(f"{location}.{key}", f"unknown statement element {key!r}")

    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise InvalidPolicy(f"{location}.Sid", "Sid must be a string")
    effect = _effect(raw, location)

    action_element = _one_of(raw, "Action", "NotAction", location)
    if action_element is None:
        raise InvalidPolicy(location, "the statement has no Action or NotAction")
    action_name, action_value = action_element
    action_texts = _strings(action_value, f"{location}.{action_name}", "action")
    for action_index, action in enumerate(action_texts):
        if action != "*" and ":" not in action:
            raise InvalidPolicy(
                f"{location}.{action_name}[{action_index}]",
                f"{action!r} is not an action (expected service:Action, e.g. kms:Decrypt)",
            )
    actions = _action_set(action_texts)

    resources, resource_texts = _resource_element(compiler, raw, location)
    principals, principal_name = _principal_element(compiler, raw, effect, location)
    conditions = _conditions(compiler, raw.get("Condition"), f"{location}.Condition")

    text = StatementText(
        actions=action_texts,
        actions_negated=action_name == "NotAction",
        resources=resource_texts,
        resources_negated=resources.negated,
        principals=principals.written if principals is not None else (),
        principals_negated=principal_name == "NotPrincipal",
    )
    resource_matters, principal_matters, boundary_matters, principal_by_account = _memo_shape(
        resources, principals, principal_name == "NotPrincipal"
    )
    return CompiledStatement(
        index=index,
        sid=sid or None,
        effect=effect,
        actions=actions,
        actions_negated=action_name == "NotAction",
        resources=resources,
        principals=principals,
        principals_negated=principal_name == "NotPrincipal",
        conditions=conditions,
        text=text,
        resource_matters=resource_matters,
        principal_matters=principal_matters,
        boundary_matters=boundary_matters,
        principal_by_account=principal_by_account,
    )


def _memo_shape(
    resources: ResourceElement, principals: PrincipalSet | None, not_principal: bool
) -> tuple[bool, bool, bool, bool]:
    """(resource matters, caller matters, the caller's boundary matters, only the caller's
    account and kind matter) to the outcome of a statement's Action, Resource and Principal
    elements; see CompiledStatement."""
    # Resource "*" matches every resource, NotResource "*" none (variables are resolved per
    # request, so a Resource holding one always matters).
    resource_matters = bool(resources.with_variables) or not resources.static.matches_everything
    if principals is None:
        return resource_matters, False, False, False
    if not_principal:
        # A NotPrincipal Deny applies to any caller with a boundary, whatever it lists.
        return resource_matters, True, True, False
    if principals.wildcard:
        # Principal "*" names every caller the same way ("wildcard").
        return resource_matters, False, False, False
    # PrincipalSet.match on a set of accounts alone: a service is never named (no services
    # listed), anyone else by account ("account") or not at all.
    accounts_only = not (
        principals.roles
        or principals.users
        or principals.exact_arns
        or principals.unique_ids
        or principals.services
    )
    return resource_matters, True, False, accounts_only


def _effect(raw: Mapping[str, object], location: str) -> Effect:
    if "Effect" not in raw:
        raise InvalidPolicy(location, "the statement has no Effect")
    effect = raw["Effect"]
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise InvalidPolicy(f"{location}.Effect", f"Effect must be Allow or Deny, not {effect!r}")
    return "Allow" if effect.lower() == "allow" else "Deny"


def _resource_element(
    compiler: _Compiler, raw: Mapping[str, object], location: str
) -> tuple[ResourceElement, tuple[str, ...]]:
    element = _one_of(raw, "Resource", "NotResource", location)
    if element is None:
        if compiler.kind == "vpc_endpoint":
            # Endpoint policies may leave Resource out: the statement covers every resource.
            everything = wildcard.build_wildcard_set(
                [(wildcard.STAR,)], ignore_case=False, arn_segments=True
            )
            return ResourceElement(everything, (), False), ()
        raise InvalidPolicy(location, "the statement has no Resource or NotResource")
    element_name, value = element
    texts = _strings(value, f"{location}.{element_name}", "resource")
    return _resource_patterns(texts, compiler.variables, element_name == "NotResource"), texts


# Elements compiled once per distinct text: statements of different policies name the same
# actions and ARNs over and over (the compiled forms are immutable and hold no memo).
@lru_cache(maxsize=4096)
def _action_set(action_texts: tuple[str, ...]) -> wildcard.WildcardSet:
    # Action names ignore case and never hold policy variables.
    return wildcard.build_wildcard_set(
        (wildcard.tokenize(action, wildcards=True, variables=False) for action in action_texts),
        ignore_case=True,
    )


@lru_cache(maxsize=4096)
def _resource_patterns(texts: tuple[str, ...], variables: bool, negated: bool) -> ResourceElement:
    static: list[tuple[wildcard.Token, ...]] = []
    with_variables: list[tuple[wildcard.Token, ...]] = []
    for text in texts:
        tokens = wildcard.tokenize(text, wildcards=True, variables=variables)
        if wildcard.has_variables(tokens):
            with_variables.append(tokens)
        else:
            static.append(tokens)
    return ResourceElement(
        static=wildcard.build_wildcard_set(static, ignore_case=False, arn_segments=True),
        with_variables=tuple(with_variables),
        negated=negated,
    )


def _principal_element(
    compiler: _Compiler, raw: Mapping[str, object], effect: Effect, location: str
) -> tuple[PrincipalSet | None, str | None]:
    element = _one_of(raw, "Principal", "NotPrincipal", location)
    kind = compiler.kind
    if kind in _NO_PRINCIPAL_KINDS:
        if element is not None:
            raise InvalidPolicy(
                f"{location}.{element[0]}",
                f"a {kind.replace('_', ' ')} policy cannot have a {element[0]} element "
                "(the principal is whoever the policy is attached to)",
            )
        return None, None
    if element is None:
        raise InvalidPolicy(
            location, f"a {kind.replace('_', ' ')} policy statement needs a Principal"
        )
    element_name, value = element
    element_location = f"{location}.{element_name}"
    if element_name == "NotPrincipal":
        if kind == "rcp":
            raise InvalidPolicy(element_location, "RCPs do not support NotPrincipal")
        if effect == "Allow":
            # "NotPrincipal must be used with "Effect":"Deny". Using it with "Effect":"Allow"
            # is not supported." (IAM "AWS JSON policy elements: NotPrincipal")
            raise InvalidPolicy(element_location, "NotPrincipal is supported only with Deny")
    compiler.warn_duplicates(value, element_location)
    return parse_principal_element(value, element_location), element_name


def _conditions(compiler: _Compiler, raw: object, location: str) -> tuple[CompiledCondition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise InvalidPolicy(location, "Condition must be a JSON object")
    compiler.warn_duplicates(raw, location)
    conditions: list[CompiledCondition] = []
    for operator_written, block in raw.items():
        block_location = f"{location}.{operator_written}"
        if not isinstance(block, Mapping):
            raise InvalidPolicy(block_location, "expected an object of condition keys")
        if not block:
            raise InvalidPolicy(block_location, "no condition keys")
        compiler.warn_duplicates(block, block_location)
        for key_written, values in block.items():
            conditions.append(
                _condition(
                    operator_written, key_written, values, compiler.variables, block_location
                )
            )
    return tuple(conditions)


def _condition(
    operator_written: str, key_written: str, values: object, variables: bool, location: str
) -> CompiledCondition:
    """The compiled condition, shared with every earlier equal one, memo included: its trace
    depends only on the operator and key as written, the values and the request's values for
    the key. As for statements, only after _check_size, so the values' JSON text says all;
    errors are raised afresh (they name the place)."""
    try:
        key = (operator_written, key_written, json.dumps(values), variables)
    except (TypeError, ValueError, RecursionError):
        key = None
    condition = _CONDITIONS.get(key) if key is not None else None
    if condition is None:
        condition = compile_condition(
            operator_written, key_written, values, variables=variables, location=location
        )
        if key is not None:
            _remember_bounded(_CONDITIONS, CONDITION_CACHE_LIMIT, key, condition)
    return condition
