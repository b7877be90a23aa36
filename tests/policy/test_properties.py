"""Property tests: no crash on any input; explicit deny is monotone; order does not matter."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.policy import (
    AccessInputs,
    Decision,
    PolicyError,
    Request,
    RequestPrincipal,
    evaluate_access,
    parse_policy,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

A = "111111111111"
B = "222222222222"
KEY = f"arn:aws:kms:eu-west-1:{A}:key/1234abcd"
OBJECT = "arn:aws:s3:::artefacts/build.zip"
ROLE_B = f"arn:aws:iam::{B}:role/Deploy"
SESSION_B = f"arn:aws:sts::{B}:assumed-role/Deploy/s1"
ROLE_A = f"arn:aws:iam::{A}:role/Deploy"
SESSION_A = f"arn:aws:sts::{A}:assumed-role/Deploy/s1"

# --- any input ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)

# Keys and values drawn from the policy vocabulary, so that random documents get deep into the
# compiler instead of failing at the first key.
element_names = st.sampled_from(
    [
        "Version",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "StringEquals",
        "ForAllValues:StringLike",
        "ArnLikeIfExists",
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "Bool",
        "BinaryEquals",
        "Null",
        "aws:PrincipalOrgID",
    ]
)
vocabulary = st.sampled_from(
    [
        "2012-10-17",
        "2008-10-17",
        "Allow",
        "Deny",
        "*",
        "kms:Decrypt",
        "s3:Get*",
        KEY,
        OBJECT,
        B,
        ROLE_B,
        SESSION_B,
        "AROAEXAMPLEDEPLOYROLE",
        "arn:aws:iam::*:role/${aws:username}",
        "${aws:PrincipalTag/team, 'x'}",
        "10.0.0.0/8",
        "2024-01-01T00:00:00Z",
        "true",
        "QUJD",
        "",
    ]
)
policy_like = st.recursive(
    vocabulary | st.integers(-5, 5) | st.booleans() | st.none(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(element_names, children, max_size=5)
    ),
    max_leaves=40,
)

SESSION = RequestPrincipal(SESSION_B, B, entity_arn=ROLE_B)
ANY_REQUEST = Request(
    "kms:Decrypt",
    KEY,
    SESSION,
    {"aws:PrincipalOrgID": "o-abc", "aws:TagKeys": ["a", "b"], "aws:username": "bob"},
)


def parse_or_policy_error(document, kind):
    try:
        return parse_policy(document, name="fuzz", kind=kind)
    except PolicyError:
        return None


kinds = st.sampled_from(
    ["identity", "resource", "permissions_boundary", "session", "scp", "rcp", "vpc_endpoint"]
)


@SETTINGS
@given(json_values, kinds)
def test_any_json_value_gives_a_policy_or_a_policy_error(value, kind):
    parse_or_policy_error(value, kind)
    parse_or_policy_error(json.dumps(value), kind)


@SETTINGS
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_or_bytes_gives_a_policy_or_a_policy_error(text):
    parse_or_policy_error(text, "identity")


@SETTINGS
@given(policy_like, kinds)
def test_policy_like_documents_parse_cleanly_and_evaluate(document, kind):
    for candidate in (document, {"Version": "2012-10-17", "Statement": document}):
        policy = parse_or_policy_error(candidate, kind)
        if policy is not None:
            result = policy.evaluate(ANY_REQUEST, principal_has_boundary=True)
            assert len(result.statements) == len(policy.statements)


# --- well-formed scenarios -----------------------------------------------------------------

ACTIONS = ["kms:Decrypt", "kms:*", "kms:De*", "s3:GetObject", "s3:Get*", "*", "iam:PassRole"]
RESOURCES = [
    KEY,
    "*",
    OBJECT,
    "arn:aws:s3:::artefacts/*",
    "arn:aws:kms:*:111111111111:key/*",
    "arn:aws:s3:::other/*",
]
PRINCIPALS = [
    "*",
    {"AWS": "*"},
    {"AWS": B},
    {"AWS": A},
    {"AWS": f"arn:aws:iam::{B}:root"},
    {"AWS": ROLE_B},
    {"AWS": SESSION_B},
    {"AWS": ROLE_A},
    {"AWS": SESSION_A},
    {"AWS": "AROAEXAMPLEDEPLOYROLE"},
    {"Service": "s3.amazonaws.com"},
    {"AWS": [B, ROLE_B, SESSION_B]},
]
CONDITIONS = [
    {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
    {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
    {"StringNotEquals": {"kms:CallerAccount": B}},
    {"Bool": {"aws:SecureTransport": "false"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAllValues:StringLike": {"aws:TagKeys": "a*"}},
    {"StringEqualsIfExists": {"aws:PrincipalTag/team": "pay"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Deploy"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NumericLessThan": {"s3:max-keys": "10"}},
    {
        "StringEquals": {
            "aws:PrincipalOrgID": "o-abc",
            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
        }
    },
]
PRINCIPAL_KINDS = ("resource", "vpc_endpoint", "rcp")


@st.composite
def statements(draw, kind: str, effect: str | None = None) -> dict:
    effect = effect or draw(st.sampled_from(["Allow", "Allow", "Deny"]))
    statement: dict = {"Effect": effect}
    action_element = draw(st.sampled_from(["Action", "Action", "NotAction"]))
    statement[action_element] = draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2))
    resource_element = draw(st.sampled_from(["Resource", "Resource", "NotResource"]))
    statement[resource_element] = draw(st.sampled_from(RESOURCES))
    if kind in PRINCIPAL_KINDS:
        not_principal = effect == "Deny" and kind != "rcp" and draw(st.booleans())
        principal_element = "NotPrincipal" if not_principal else "Principal"
        statement[principal_element] = draw(st.sampled_from(PRINCIPALS))
    if draw(st.booleans()):
        statement["Condition"] = copy.deepcopy(draw(st.sampled_from(CONDITIONS)))
    return statement


def full_access(kind: str) -> dict:
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    if kind in PRINCIPAL_KINDS:
        statement["Principal"] = "*"
    return statement


@st.composite
def documents(draw, kind: str) -> dict:
    items = draw(st.lists(statements(kind), max_size=3))
    # Often a broad allow (as AWS's FullAWSAccess is for ceilings): without it nearly every
    # scenario is shut before the interesting layers are reached, and the allow-side property
    # would rarely be exercised.
    if draw(st.integers(0, 3)) > (1 if kind in ("identity", "resource") else 0):
        items.insert(0, full_access(kind))
    return {"Version": "2012-10-17", "Statement": items}


@dataclass
class Scenario:
    service: str
    grant: bool
    # (slot, kind, document); slot places the policy: ("identity", i), ("resource",),
    # ("boundary",), ("session", i), ("scp", level), ("rcp", level), ("vpce", i)
    entries: list[tuple[tuple, str, dict]]
    scp_levels: int | None
    rcp_levels: int | None


@st.composite
def scenarios(draw) -> Scenario:
    entries: list[tuple[tuple, str, dict]] = []
    for index in range(draw(st.integers(0, 2))):
        entries.append((("identity", index), "identity", draw(documents("identity"))))
    if draw(st.integers(0, 3)) > 0:
        entries.append((("resource",), "resource", draw(documents("resource"))))
    if draw(st.booleans()):
        entries.append(
            (("boundary",), "permissions_boundary", draw(documents("permissions_boundary")))
        )
    if draw(st.booleans()):
        entries.append((("session", 0), "session", draw(documents("session"))))
    scp_levels = draw(st.none() | st.integers(1, 2))
    for level in range(scp_levels or 0):
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
            entries.append((("scp", level), "scp", draw(documents("scp"))))
    rcp_levels = draw(st.none() | st.integers(1, 2))
    for level in range(rcp_levels or 0):
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
            entries.append((("rcp", level), "rcp", draw(documents("rcp"))))
    if draw(st.booleans()):
        entries.append((("vpce", 0), "vpc_endpoint", draw(documents("vpc_endpoint"))))
    return Scenario(
        service=draw(st.sampled_from(["s3", "kms"])),
        grant=draw(st.booleans()),
        entries=entries,
        scp_levels=scp_levels,
        rcp_levels=rcp_levels,
    )


def build(scenario: Scenario) -> AccessInputs:
    inputs = AccessInputs(
        resource_account=A,
        resource_service=scenario.service,  # type: ignore[arg-type]
        resource_allowed_by_grant=scenario.grant,
        scps=[[] for _ in range(scenario.scp_levels)] if scenario.scp_levels else None,
        rcps=[[] for _ in range(scenario.rcp_levels)] if scenario.rcp_levels else None,
    )
    identity, sessions, endpoints = [], [], []
    for position, (slot, kind, document) in enumerate(scenario.entries):
        policy = parse_policy(document, name=f"{kind}-{position}", kind=kind)  # type: ignore[arg-type]
        if slot[0] == "identity":
            identity.append(policy)
        elif slot[0] == "resource":
            inputs.resource_policy = policy
        elif slot[0] == "boundary":
            inputs.permissions_boundary = policy
        elif slot[0] == "session":
            sessions.append(policy)
        elif slot[0] == "scp":
            inputs.scps[slot[1]].append(policy)  # type: ignore[index, union-attr]
        elif slot[0] == "rcp":
            inputs.rcps[slot[1]].append(policy)  # type: ignore[index, union-attr]
        else:
            endpoints.append(policy)
    inputs.identity = identity
    inputs.session_policies = sessions
    inputs.vpc_endpoint_policies = endpoints
    return inputs


callers = st.sampled_from(
    [
        RequestPrincipal(SESSION_B, B, entity_arn=ROLE_B, unique_id="AROAEXAMPLEDEPLOYROLE"),
        RequestPrincipal(SESSION_A, A, entity_arn=ROLE_A),
        RequestPrincipal(f"arn:aws:iam::{A}:user/Bob", A),
        RequestPrincipal("s3.amazonaws.com", "", service="s3.amazonaws.com"),
    ]
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "aws:PrincipalOrgID": st.sampled_from(["o-abc", "o-other"]),
        "kms:ViaService": st.sampled_from(
            ["s3.eu-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]
        ),
        "kms:CallerAccount": st.sampled_from([A, B]),
        "aws:SecureTransport": st.sampled_from(["true", "false"]),
        "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c", "ab"]), max_size=3),
        "aws:PrincipalArn": st.sampled_from([ROLE_A, ROLE_B]),
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1"]),
        "aws:TokenIssueTime": st.just("2024-01-01T00:00:00Z"),
        "s3:max-keys": st.sampled_from(["5", "50"]),
    },
)
requests = st.builds(
    lambda principal, action, resource, context: Request(action, resource, principal, context),
    callers,
    st.sampled_from(["kms:Decrypt", "s3:GetObject", "kms:Encrypt"]),
    st.sampled_from([KEY, OBJECT]),
    contexts,
)


def with_extra_statement(scenario: Scenario, pick: int, statement: dict) -> Scenario:
    entries = list(scenario.entries)
    slot, kind, document = entries[pick % len(entries)]
    grown = copy.deepcopy(document)
    grown["Statement"].append(statement)
    entries[pick % len(entries)] = (slot, kind, grown)
    return Scenario(
        scenario.service, scenario.grant, entries, scenario.scp_levels, scenario.rcp_levels
    )


@SETTINGS
@given(scenarios(), requests, st.integers(0, 100), st.data())
def test_adding_a_deny_never_turns_a_deny_into_an_allow(scenario, request, pick, data):
    if not scenario.entries:
        return
    kind = scenario.entries[pick % len(scenario.entries)][1]
    deny = data.draw(statements(kind, effect="Deny"))
    before = evaluate_access(build(scenario), request)
    after = evaluate_access(build(with_extra_statement(scenario, pick, deny)), request)
    if before.decision is not Decision.ALLOW:
        assert after.decision is not Decision.ALLOW
    if before.decision is Decision.EXPLICIT_DENY:
        assert after.decision is Decision.EXPLICIT_DENY


@SETTINGS
@given(scenarios(), requests)
def test_an_explicit_deny_in_any_layer_that_takes_part_wins(scenario, request):
    decision = evaluate_access(build(scenario), request)
    for layer in decision.layers.values():
        policy_denies = any(result.decision is Decision.EXPLICIT_DENY for result in layer.results)
        if layer.decision is not None and policy_denies:
            assert layer.decision is Decision.EXPLICIT_DENY
            assert decision.decision is Decision.EXPLICIT_DENY


@SETTINGS
@given(scenarios(), requests, st.integers(0, 100), st.data())
def test_adding_an_allow_never_turns_an_allow_into_a_deny(scenario, request, pick, data):
    if not scenario.entries:
        return
    kind = scenario.entries[pick % len(scenario.entries)][1]
    allow = data.draw(statements(kind, effect="Allow"))
    before = evaluate_access(build(scenario), request)
    after = evaluate_access(build(with_extra_statement(scenario, pick, allow)), request)
    if before.decision is Decision.ALLOW:
        assert after.decision is Decision.ALLOW


@SETTINGS
@given(scenarios(), requests, st.randoms(use_true_random=False))
def test_statement_order_never_changes_the_decision(scenario, request, random):
    shuffled_entries = []
    for slot, kind, document in scenario.entries:
        shuffled = copy.deepcopy(document)
        random.shuffle(shuffled["Statement"])
        shuffled_entries.append((slot, kind, shuffled))
    shuffled_scenario = Scenario(
        scenario.service, scenario.grant, shuffled_entries, scenario.scp_levels, scenario.rcp_levels
    )
    original = evaluate_access(build(scenario), request)
    reordered = evaluate_access(build(shuffled_scenario), request)
    assert reordered.decision is original.decision
    assert reordered.deciding_layer == original.deciding_layer
