"""IAM policy evaluation engine: parse policies once, evaluate requests fast, explain why.

Pure Python; knows nothing of boto3, snapshots or the CLI. See docs/policy-engine.md.
"""

from kmsdoctor.policy.compiled import Policy
from kmsdoctor.policy.describe import describe_condition, describe_statement
from kmsdoctor.policy.evaluate import evaluate_access, evaluate_levels, evaluate_policies
from kmsdoctor.policy.model import (
    AccessDecision,
    AccessInputs,
    ConditionTrace,
    ContextValue,
    Decision,
    LayerName,
    LayerResult,
    PolicyError,
    PolicyKind,
    PolicyResult,
    PolicyWarning,
    PrincipalMatch,
    Request,
    RequestPrincipal,
    StatementText,
    StatementTrace,
)
from kmsdoctor.policy.parse import parse_policy

__all__ = [
    "AccessDecision",
    "AccessInputs",
    "ConditionTrace",
    "ContextValue",
    "Decision",
    "LayerName",
    "LayerResult",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "PolicyResult",
    "PolicyWarning",
    "PrincipalMatch",
    "Request",
    "RequestPrincipal",
    "StatementText",
    "StatementTrace",
    "describe_condition",
    "describe_statement",
    "evaluate_access",
    "evaluate_levels",
    "evaluate_policies",
    "parse_policy",
]
