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
