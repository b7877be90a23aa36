"""The policy benchmark keeps working: its scenario is allowed, and it measures something.

Speed itself is not asserted (see bench/__main__.py: benchmarks never fail a build).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from kmsdoctor.policy import Decision, evaluate_access

BENCH = Path(__file__).resolve().parents[2] / "bench" / "policy_bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("policy_bench_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as `import` does: dataclasses look their module up there.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_bench_scenario_is_a_realistic_allowed_read():
    bench = load_bench()
    scenario = bench.build()
    assert [request.action for _, request in scenario] == ["s3:GetObject", "kms:Decrypt"]
    for inputs, request in scenario:
        decision = evaluate_access(inputs, request)
        assert decision.decision is Decision.ALLOW, decision.reason
        traced = [
            trace
            for layer in decision.layers.values()
            for result in layer.results
            for trace in result.statements
        ]
        assert len(traced) >= 8
    assert bench.run(0.05) > 0


def test_fresh_batches_are_new_to_the_engine_and_allowed():
    # The first-pass figure is only honest if every batch names principals, objects and
    # policies no earlier batch did, and if its reads are the realistic allowed ones.
    bench = load_bench()
    first = bench.build_fresh(40)
    second = bench.build_fresh(40)
    assert len(first.scenario) == 40
    assert first.principals == 20
    assert first.parse_calls == 20 * 6
    assert first.own_policies == 5
    seen = set()
    for batch in (first, second):
        for inputs, request in batch.scenario:
            assert evaluate_access(inputs, request).decision is Decision.ALLOW
            seen.add((request.principal.arn, request.resource, request.action))
    assert len(seen) == 80  # no request repeats, within or across batches
    first_policies = {
        policy.name: policy for inputs, _ in first.scenario for policy in inputs.identity
    }
    second_policies = {
        policy.name: policy for inputs, _ in second.scenario for policy in inputs.identity
    }
    for name in first_policies.keys() & second_policies.keys():
        assert first_policies[name].statements is not second_policies[name].statements
    rate, again, _ = bench.measure_first_pass(20)
    assert rate > 0 and again > 0
