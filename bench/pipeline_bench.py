"""`kmsdoctor pipeline` against slow AWS: a pipeline of 5 stages and 4 accounts.

The reference-000 pipeline (moto_fixtures/pipeline.py: tooling owns the pipeline, build project,
bucket and key; dev, staging and prod each hold a deploy role and a CloudFormation execution
role) is built straight into a local moto server; a `DelayProxy` adds DELAY_S to every request.
The real CLI runs as a subprocess, `kmsdoctor pipeline --no-probe`, reading all four accounts.

Reported (median of RUNS, as bench/diagnose_bench.py measures them): the AWS calls, the AWS
phase, the dependency depth and the ratio AWS phase / (DELAY_S x depth) — target <= 1.5 — and
whether any fact was read twice (the same operation with the same parameters, as the same
identity: counted by an instrumented run).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.delay_proxy import DelayProxy
from bench.diagnose_bench import DELAY_S, ROOT, _report, _run_cli, measure

REPEATS_FILE_ENV = "KMSDOCTOR_BENCH_REPEATS_FILE"


def install_call_recorder(output: str) -> None:
    """Record (operation, parameters, access key) of every AWS call; written at exit. Called
    from a generated sitecustomize in the instrumented run."""
    import atexit
    import threading

    import botocore.client

    calls: list[str] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def recorded(client_self, operation_name, api_params):
        service = client_self.meta.service_model.service_name
        creds = client_self._request_signer._credentials
        key = creds.access_key if creds is not None else ""
        entry = json.dumps(
            [f"{service}:{operation_name}", api_params, key], sort_keys=True, default=str
        )
        with lock:
            calls.append(entry)
        return original(client_self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = recorded
    atexit.register(lambda: Path(output).write_text(json.dumps(calls), encoding="utf-8"))


_SITECUSTOMIZE = """
import os
from bench.pipeline_bench import install_call_recorder
install_call_recorder(os.environ["{env}"])
"""


def repeated_reads(args: list[str], env: dict[str, str], proxy: DelayProxy) -> list[str]:
    """The calls made more than once with the same parameters by the same identity."""
    with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
        site = Path(workdir, "site")
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            _SITECUSTOMIZE.format(env=REPEATS_FILE_ENV), encoding="utf-8"
        )
        output = Path(workdir, "calls.json")
        traced_env = {
            **env,
            REPEATS_FILE_ENV: str(output),
            "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")]),
        }
        _run_cli(args, traced_env, proxy)
        counts = Counter(json.loads(output.read_text(encoding="utf-8")))
    return [f"{json.loads(entry)[0]} x{n}" for entry, n in counts.items() if n > 1]


def main() -> None:
    from moto.server import ThreadedMotoServer

    from moto_fixtures.builder import LEAKY_ENV
    from moto_fixtures.pipeline import PIPELINE, build_pipeline, pipeline_scenario
    from moto_fixtures.sandbox import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    saved_env = dict(os.environ)
    try:
        host, port = server.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        for variable in LEAKY_ENV:
            os.environ.pop(variable, None)
        os.environ["AWS_ENDPOINT_URL"] = moto_url  # the builder writes straight into moto
        with tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-") as workdir:
            # The server runs in this process: the builder's in-process moto tweaks apply.
            box = build_pipeline(pipeline_scenario("healthy-cross-account-pipeline"), Path(workdir))
            base_env = {k: v for k, v in os.environ.items() if k not in box.env_removed}
            base_env.update(box.env_overrides)
            args = [
                "pipeline", "--source-profile", "tooling", "--name", PIPELINE,
                *box.account_profiles(), "--no-probe", "--format", "json",
            ]  # fmt: skip
            with DelayProxy(moto_url, DELAY_S) as proxy:
                env = {**base_env, "AWS_ENDPOINT_URL": proxy.url}
                # moto builds each account's defaults on first use: not AWS latency.
                _run_cli(args, {**env, "AWS_ENDPOINT_URL": moto_url}, proxy)
                print(
                    f"pipeline {PIPELINE}: 5 stages, 4 accounts; "
                    f"{DELAY_S * 1000:.0f} ms added to every AWS request"
                )
                _report(measure("pipeline --no-probe", args, env, proxy))
                repeats = repeated_reads(args, {**env, "AWS_ENDPOINT_URL": moto_url}, proxy)
                print(f"  facts read twice     {len(repeats)}   {', '.join(repeats)}".rstrip())
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
