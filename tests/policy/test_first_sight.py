"""Shared compiled policies and warm memos never change a decision or a trace.

The engine keeps compiled documents and statements by their text (parse.py), and memoises
matches and condition traces on them (memo.py). The incident these tests prevent: `who-can`
over many roles, or a check over a prefix, answers the hundredth principal from what the first
one left behind — a bucket policy compiled for another principal, a memo filled by another
object — and says something the engine would not have said about that request alone.

Each case is evaluated twice: cold (every cache emptied, every policy compiled afresh, memos
empty: nothing but the straightforward evaluation) and warm (policies parsed through the
caches under other names too, after a stream of other requests has filled every memo); every
layer, policy result and statement trace must be equal, and each trace must carry the request
it was made for.
"""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.policy import (
    AccessDecision,
    PolicyError,
    Request,
    RequestPrincipal,
    evaluate_access,
    parse_policy,
)
from kmsdoctor.policy.parse import clear_caches
from tests.policy.test_properties import (
    KEY,
    OBJECT,
    ROLE_B,
    A,
    B,
    Scenario,
    build,
    scenarios,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Statements that depend on more than the action, resource and principal: policy variables in
# Resource and conditions, a NotPrincipal, an ARN condition on the caller.
VARIABLE_STATEMENTS = [
    {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::artefacts/${aws:username}/*",
    },
    {
        "Effect": "Deny",
        "Action": "*",
        "NotResource": "arn:aws:s3:::artefacts/${aws:PrincipalTag/team}/*",
    },
    {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringLike": {
                "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::artefacts/${aws:username}/*"
            }
        },
    },
    {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{B}:role/team-*"}},
    },
    {
        "Effect": "Allow",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:aws:s3:arn": OBJECT}},
    },
]
PRINCIPAL_KINDS = ("resource", "vpc_endpoint", "rcp")


def with_principal(statement: dict, kind: str, principal: object) -> dict:
    statement = copy.deepcopy(statement)
    if kind in PRINCIPAL_KINDS:
        if kind != "rcp" and statement["Effect"] == "Deny" and principal == "not":
            statement["NotPrincipal"] = {"AWS": [ROLE_B, B]}
        else:
            statement["Principal"] = principal if principal != "not" else "*"
    return statement


@st.composite
def richer_scenarios(draw) -> Scenario:
    """test_properties' scenarios, some policies grown by a statement from VARIABLE_STATEMENTS."""
    scenario = draw(scenarios())
    entries = []
    for slot, kind, document in scenario.entries:
        if draw(st.integers(0, 2)) == 0:
            document = copy.deepcopy(document)
            extra = draw(st.sampled_from(VARIABLE_STATEMENTS))
            principal = draw(st.sampled_from(["*", {"AWS": B}, {"AWS": ROLE_B}, "not"]))
            document["Statement"].append(with_principal(extra, kind, principal))
        entries.append((slot, kind, document))
    return Scenario(
        scenario.service, scenario.grant, entries, scenario.scp_levels, scenario.rcp_levels
    )


# Principals and objects the policies have never seen, next to the ones they name.
role_names = st.sampled_from(["Deploy", "team-data", "team-ops", "Reader", "DEPLOY"])
session_names = st.sampled_from(["s1", "s2", "nightly"])


@st.composite
def principals(draw) -> RequestPrincipal:
    account = draw(st.sampled_from([A, B, "333333333333"]))
    shape = draw(st.sampled_from(["session", "session", "user", "service"]))
    name = draw(role_names)
    if shape == "service":
        return RequestPrincipal("s3.amazonaws.com", "", service="s3.amazonaws.com")
    if shape == "user":
        return RequestPrincipal(f"arn:aws:iam::{account}:user/{name}", account)
    role = f"arn:aws:iam::{account}:role/{name}"
    unique_id = draw(st.sampled_from([None, "AROAEXAMPLEDEPLOYROLE", "AROAEXAMPLEOTHERROLE"]))
    return RequestPrincipal(
        f"arn:aws:sts::{account}:assumed-role/{name}/{draw(session_names)}",
        account,
        entity_arn=role,
        unique_id=unique_id,
    )


objects = st.sampled_from(
    [
        OBJECT,
        "arn:aws:s3:::artefacts/bob/report.csv",
        "arn:aws:s3:::artefacts/team-data/part-0001.parquet",
        "arn:aws:s3:::other/build.zip",
    ]
)


@st.composite
def requests(draw) -> Request:
    principal = draw(principals())
    action = draw(st.sampled_from(["kms:Decrypt", "s3:GetObject", "kms:Encrypt", "S3:getobject"]))
    object_arn = draw(objects)
    resource = KEY if action.lower().startswith("kms") else object_arn
    context: dict[str, object] = {"kms:EncryptionContext:aws:s3:arn": object_arn}
    optional = {
        "aws:PrincipalOrgID": st.sampled_from(["o-abc", "o-other"]),
        "kms:ViaService": st.sampled_from(
            ["s3.eu-west-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]
        ),
        "kms:CallerAccount": st.just(principal.account),
        "aws:SecureTransport": st.sampled_from(["true", "false"]),
        "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        "aws:PrincipalArn": st.just(principal.entity_arn or principal.arn),
        "aws:username": st.sampled_from(["bob", "team-data", "*"]),
        "aws:PrincipalTag/team": st.sampled_from(["data", "ops"]),
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1"]),
        "s3:max-keys": st.sampled_from(["5", "50"]),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            context[key] = draw(values)
    return Request(action, resource, principal, context)


def assert_same(warm: AccessDecision, cold: AccessDecision, request: Request) -> None:
    # Dataclass equality covers every field of every layer, policy result, statement trace and
    # condition trace, except a trace's text and request, checked below.
    assert warm == cold
    for name, layer in warm.layers.items():
        for warm_result, cold_result in zip(layer.results, cold.layers[name].results, strict=True):
            for warm_trace, cold_trace in zip(
                warm_result.statements, cold_result.statements, strict=True
            ):
                assert warm_trace.request is request
                assert warm_trace.text == cold_trace.text


def cold_decision(scenario: Scenario, request: Request) -> AccessDecision:
    """The straightforward evaluation: compiled afresh, every memo empty."""
    clear_caches()
    return evaluate_access(build(scenario), request)


@SETTINGS
@given(
    st.lists(richer_scenarios(), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), requests()), min_size=1, max_size=12),
)
def test_a_warm_engine_decides_every_request_as_a_cold_one_would(scenario_list, stream):
    cases = [(scenario_list[pick % len(scenario_list)], request) for pick, request in stream]
    expected = [cold_decision(scenario, request) for scenario, request in cases]

    clear_caches()
    # Every document parsed through the caches: once under its own name, once more by every
    # other scenario's build, and the inputs of each scenario built twice (equal documents,
    # one compiled form).
    warm_inputs = [build(scenario) for scenario in scenario_list]
    warm_inputs = [build(scenario) for scenario in scenario_list]
    # Fill the memos with every request against every scenario, twice over, then answer the
    # stream in reverse order.
    for inputs in warm_inputs:
        for _ in range(2):
            for _, request in stream:
                evaluate_access(inputs, request)
    for index in reversed(range(len(cases))):
        pick, request = stream[index]
        warm = evaluate_access(warm_inputs[pick % len(scenario_list)], request)
        assert_same(warm, expected[index], request)


@SETTINGS
@given(richer_scenarios(), st.lists(requests(), min_size=2, max_size=20))
def test_each_new_principal_and_object_is_decided_as_if_it_came_first(scenario, stream):
    # A prefix check or who-can: one set of policies, a stream of requests each new to it.
    expected = [cold_decision(scenario, request) for request in stream]
    clear_caches()
    inputs = build(scenario)
    for request, cold in zip(stream, expected, strict=True):
        assert_same(evaluate_access(inputs, request), cold, request)


# --- parse_policy's shared compiled documents --------------------------------------------------

BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OrgRead",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::artefacts/*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
        }
    ],
}


def test_the_same_bucket_policy_parsed_for_two_principals_is_compiled_once():
    first = parse_policy(BUCKET_POLICY, name="bucket policy", kind="resource")
    again = parse_policy(copy.deepcopy(BUCKET_POLICY), name="bucket policy", kind="resource")
    as_text = parse_policy(json.dumps(BUCKET_POLICY), name="bucket policy", kind="resource")
    assert again.statements is first.statements
    assert as_text == first
    # Another kind reads the Principal element differently: compiled on its own.
    try:
        other_kind = parse_policy(BUCKET_POLICY, name="bucket policy", kind="identity")
    except PolicyError as error:
        assert "cannot have a Principal" in error.message
    else:  # pragma: no cover - the identity kind must refuse a Principal
        raise AssertionError(f"an identity policy with a Principal parsed: {other_kind}")


def test_a_shared_document_keeps_each_callers_name_in_traces_and_warnings():
    repeated = (
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",'
        ' "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a"},'
        ' "StringEquals": {"aws:PrincipalOrgID": "o-b"}}}}'
    )
    first = parse_policy(repeated, name="managed policy ReadAll")
    second = parse_policy(repeated, name="inline policy Copy")
    assert [w.policy_name for w in first.warnings] == ["managed policy ReadAll"]
    assert [w.policy_name for w in second.warnings] == ["inline policy Copy"]
    assert [w.message for w in first.warnings] == [w.message for w in second.warnings]
    request = Request("s3:GetObject", OBJECT, RequestPrincipal(f"arn:aws:iam::{B}:user/bob", B), {})
    assert first.evaluate(request).statements[0].policy_name == "managed policy ReadAll"
    assert second.evaluate(request).statements[0].policy_name == "inline policy Copy"


def test_a_broken_document_is_reported_under_each_name_it_is_parsed_with():
    broken = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*"}]}
    for name in ("bucket policy", "key policy"):
        try:
            parse_policy(broken, name=name, kind="resource")
        except PolicyError as error:
            assert error.policy_name == name
            assert error.location == "Statement[0]"
        else:  # pragma: no cover
            raise AssertionError("a statement without Resource parsed")


def test_a_document_with_a_number_for_a_key_is_not_taken_for_its_text_twin():
    # json.dumps writes the key 1 as "1"; the policy with the string key is valid, the other
    # is not, and must still be refused after its twin was compiled.
    valid = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"1": "x"}},
            }
        ],
    }
    parse_policy(valid, name="valid")
    twin = copy.deepcopy(valid)
    twin["Statement"][0]["Condition"]["StringEquals"] = {1: "x"}
    try:
        parse_policy(twin, name="twin")
    except PolicyError as error:
        assert "keys must be strings" in error.message
    else:  # pragma: no cover
        raise AssertionError("a document with a non-string key parsed")


def test_conditions_stay_in_the_order_written_when_documents_differ_only_in_order():
    first = {
        "StringEquals": {"aws:PrincipalOrgID": "o-abc"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    second = dict(reversed(list(first.items())))
    documents = [
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": c}],
        }
        for c in (first, second)
    ]
    one, other = (parse_policy(d, name="p") for d in documents)
    request = Request("s3:GetObject", OBJECT, RequestPrincipal(f"arn:aws:iam::{B}:user/bob", B))
    operators = [
        [c.operator for c in policy.evaluate(request).statements[0].conditions]
        for policy in (one, other)
    ]
    assert operators == [["StringEquals", "Bool"], ["Bool", "StringEquals"]]


def test_the_bucket_policy_asked_for_under_the_same_name_is_the_same_policy():
    # The analysis parses it for every principal and object: one Policy, not thousands.
    first = parse_policy(copy.deepcopy(BUCKET_POLICY), name="bucket policy", kind="resource")
    again = parse_policy(copy.deepcopy(BUCKET_POLICY), name="bucket policy", kind="resource")
    renamed = parse_policy(copy.deepcopy(BUCKET_POLICY), name="bucket policy B", kind="resource")
    assert again is first
    assert renamed.name == "bucket policy B"
    assert renamed.statements is first.statements
