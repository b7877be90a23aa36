"""The benches' sandbox: moto in a process of its own, objects written straight into it, the CLI
run through the delay proxy.

A bench that silently measured the wrong thing (an object without its key, moto back in the
bench's process, a server left running) would print plausible numbers: these pin what it does.
"""

from __future__ import annotations

import os
from collections import Counter

from bench.sandbox import BenchSandbox
from moto_fixtures.builder import load_scenario


def test_a_bulk_object_is_diagnosed_like_the_scenario_s_own_under_the_same_key():
    """The demo's broken key policy: a bulk object under the scenario's key is denied by it too,
    so the diagnosis reads that key's policy once, through the proxy."""
    scenario = load_scenario("key-policy-missing-principal")
    bulk = [(f"many/{index:05d}.parquet", "data") for index in range(5)]
    with BenchSandbox(scenario=scenario, bulk_objects=bulk, delay_s=0.0) as sandbox:
        moto_pid = sandbox.pid
        args = [*sandbox.built["cli_args"], "--no-probe"]
        key_at = args.index("--key") + 1
        args[key_at] = "many/00003.parquet"

        run = sandbox.run_cli(args)

        assert moto_pid != os.getpid()  # moto serves from its own process, not the bench's
        assert sandbox.moto_cpu_s() > 0
    operations = Counter(request.operation for request in run.requests)
    assert run.exit_code == 1  # the same denial as the scenario's own object
    assert operations["s3:HeadObject"] == 1
    assert operations["kms:GetKeyPolicy"] == 1
    assert run.cpu_s > 0
    assert not os.path.exists(f"/proc/{moto_pid}")  # stopped with the sandbox
