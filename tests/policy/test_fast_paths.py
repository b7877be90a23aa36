"""The evaluation loop's shortcuts trace every statement as the plain rules do.

Policy.evaluate_traced runs every statement of every policy of every request, so it takes
shortcuts: element fields from a memo keyed by what the statement depends on, a memo keyed
by whether a new resource matched (match_memo, for the object ARN a prefix check meets once),
condition traces read from their memos in place, and the first applying Allow and Deny handed
to the layers for their reasons. The incident these tests prevent: `who-can` or a check over
a prefix, after many requests, reports a statement as matching (or a condition as holding)
because a shortcut answered from another resource or caller than the one asked about.

The reference here uses none of the shortcuts: each statement's elements matched by
`_element_fields` on a policy compiled afresh, each condition evaluated by `_evaluate`
(no memo), the trace built by `construct.statement_trace`, the decision by the documented
rule (a Deny applies: explicit deny; an Allow applies: allow; else implicit deny).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.policy import (
    Decision,
    Policy,
    Request,
    RequestPrincipal,
    construct,
    parse_policy,
)
from kmsdoctor.policy.model import PolicyResult
from kmsdoctor.policy.parse import clear_caches
from kmsdoctor.policy.request_view import view_request
from tests.policy.test_first_sight import requests, richer_scenarios

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_result(policy: Policy, request: Request, principal_has_boundary: bool):
    """(PolicyResult, first applying Allow, first applying Deny) by the plain rules."""
    view = view_request(request)
    traces = []
    for statement in policy.statements:
        fields = statement._element_fields(view, principal_has_boundary)
        conditions = tuple(
            condition._evaluate(view.context.get(condition.key), view.context)
            for condition in statement.conditions
        )
        applies = fields["applies"] and all(condition.matched for condition in conditions)
        traces.append(
            construct.statement_trace(
                policy.name,
                fields["index"],
                fields["sid"],
                fields["effect"],
                fields["action_matched"],
                fields["resource_matched"],
                fields["principal_matched"],
                conditions,
                applies,
                fields["principal_match"],
                fields["notes"],
                fields["text"],
                request,
            )
        )
    first_allow = next((t for t in traces if t.applies and t.effect == "Allow"), None)
    first_deny = next((t for t in traces if t.applies and t.effect == "Deny"), None)
    if first_deny is not None:
        decision = Decision.EXPLICIT_DENY
    elif first_allow is not None:
        decision = Decision.ALLOW
    else:
        decision = Decision.IMPLICIT_DENY
    return PolicyResult(policy.name, decision, tuple(traces)), first_allow, first_deny


def assert_same_traces(result: PolicyResult, expected: PolicyResult, request: Request) -> None:
    assert result == expected
    for trace, expected_trace in zip(result.statements, expected.statements, strict=True):
        assert trace.request is request
        assert trace.text == expected_trace.text


@SETTINGS
@given(
    richer_scenarios(),
    st.lists(requests(), min_size=1, max_size=12),
    st.lists(requests(), min_size=1, max_size=12),
    st.booleans(),
)
def test_warm_shortcuts_trace_each_statement_as_the_plain_rules_do(
    scenario, earlier, asked, principal_has_boundary
):
    # Reference: every document compiled afresh, nothing remembered.
    expected = {}
    for position, (_, kind, document) in enumerate(scenario.entries):
        for index, request in enumerate(asked):
            clear_caches()
            policy = parse_policy(document, name=f"{kind}-{position}", kind=kind)
            expected[position, index] = reference_result(policy, request, principal_has_boundary)

    # The engine, its memos filled first by other callers, objects and actions.
    clear_caches()
    policies = [
        parse_policy(document, name=f"{kind}-{position}", kind=kind)
        for position, (_, kind, document) in enumerate(scenario.entries)
    ]
    for policy in policies:
        for request in earlier:
            policy.evaluate_traced(view_request(request), principal_has_boundary)
    for position, policy in enumerate(policies):
        for index, request in enumerate(asked):
            result, first_allow, first_deny = policy.evaluate_traced(
                view_request(request), principal_has_boundary
            )
            reference, reference_allow, reference_deny = expected[position, index]
            assert_same_traces(result, reference, request)
            assert first_allow == reference_allow
            assert first_deny == reference_deny
            if first_allow is not None:
                assert first_allow is result.statements[first_allow.index]
            if first_deny is not None:
                assert first_deny is result.statements[first_deny.index]


READER = RequestPrincipal(
    "arn:aws:sts::222222222222:assumed-role/Reader/s1",
    "222222222222",
    entity_arn="arn:aws:iam::222222222222:role/Reader",
)
BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TeamPrefix",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::artefacts/team-data/*",
        },
        {
            "Sid": "NotTheVault",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "NotResource": "arn:aws:s3:::artefacts/*",
        },
    ],
}


def test_a_prefix_check_sees_each_object_matched_on_its_own_arn():
    # Objects inside and outside the allowed prefix, one after another: once an object inside
    # has been seen, an object outside must not be read as matching (and the reverse).
    policy = parse_policy(BUCKET_POLICY, name="bucket policy", kind="resource")
    objects = [
        ("arn:aws:s3:::artefacts/team-data/part-0001.parquet", True, True),
        ("arn:aws:s3:::artefacts/team-ops/part-0001.parquet", False, True),
        ("arn:aws:s3:::artefacts/team-data/part-0002.parquet", True, True),
        ("arn:aws:s3:::elsewhere/team-data/part-0001.parquet", False, False),
        ("arn:aws:s3:::artefacts/team-ops/part-0002.parquet", False, True),
    ]
    for object_arn, in_prefix, in_bucket in objects:
        request = Request("s3:GetObject", object_arn, READER)
        result = policy.evaluate(request)
        allow, deny = result.statements
        assert allow.resource_matched is in_prefix, object_arn
        assert deny.resource_matched is not in_bucket, object_arn  # NotResource
        expected = (
            Decision.EXPLICIT_DENY
            if not in_bucket
            else Decision.ALLOW
            if in_prefix
            else Decision.IMPLICIT_DENY
        )
        assert result.decision is expected, object_arn
