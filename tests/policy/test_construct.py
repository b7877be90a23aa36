"""The fast builders in kmsdoctor.policy.construct must fill every field of the model types.

If someone adds a field to a model dataclass, the builders must learn it too; this test says so.
"""

from __future__ import annotations

import dataclasses

import pytest

from kmsdoctor.policy import construct
from kmsdoctor.policy.model import (
    AccessDecision,
    ConditionTrace,
    Decision,
    LayerResult,
    PolicyResult,
    StatementTrace,
)


def built_examples():
    condition = construct.condition_trace("StringEquals", "k", ("v",), ("v",), True, "")
    statement = construct.statement_trace(
        "p", 0, "Sid", "Allow", True, True, None, (condition,), True, "account", (), None, None
    )
    result = construct.policy_result("p", Decision.ALLOW, (statement,))
    layer = construct.layer_result("identity", Decision.ALLOW, (result,), "allowed")
    decision = construct.access_decision(Decision.ALLOW, {"identity": layer}, None, "allowed")
    return [
        (decision, AccessDecision(Decision.ALLOW, {"identity": layer}, None, "allowed")),
        (condition, ConditionTrace("StringEquals", "k", ("v",), ("v",), True, "")),
        (
            statement,
            StatementTrace(
                "p",
                0,
                "Sid",
                "Allow",
                True,
                True,
                None,
                (condition,),
                True,
                via_account_principal=True,
                principal_match="account",
            ),
        ),
        (result, PolicyResult("p", Decision.ALLOW, (statement,))),
        (layer, LayerResult("identity", Decision.ALLOW, (result,), "allowed")),
    ]


@pytest.mark.parametrize(("built", "expected"), built_examples())
def test_builders_match_the_dataclass_constructors(built, expected):
    field_names = {field.name for field in dataclasses.fields(type(expected))}
    assert set(vars(built)) == field_names
    assert built == expected
    assert repr(built) == repr(expected)
    if not isinstance(built, AccessDecision):  # its layers mapping is a dict: unhashable
        assert hash(built) == hash(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.policy_name = "changed"  # type: ignore[misc]
