"""`python -m moto_fixtures.sandbox [SCENARIO]`: the demo, with no AWS account needed.

Starts a moto server on 127.0.0.1 (a free port), builds the scenario's two accounts in it, and
runs the real `kmsdoctor` CLI as a subprocess against it, exactly as a user would with two
profiles: `diagnose --no-probe` when the analysis is installed, else `collect` and the snapshot.
(moto enforces no bucket or key policy, so probing as the caller would prove nothing here.)

`demo` is the broken configuration of the reference write-up: BIAnalyticsRole in B, bucket
policy allows it, the key policy does not name it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from moto_fixtures.builder import (
    LEAKY_ENV,
    Sandbox,
    ScenarioError,
    build_scenario,
    load_scenario,
)

ALIASES = {"demo": "key-policy-missing-principal"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def describe(box: Sandbox) -> str:
    source, target = box.scenario["source"], box.scenario["target"]
    accounts = box.scenario["accounts"]
    lines = [
        f"kmsdoctor sandbox: {box.name}",
        f"  {box.scenario.get('description', '')}",
        f"  account A {accounts['source']} (profile a): bucket {source['bucket']['name']} "
        f"in {box.region}",
    ]
    lines += [f"    key {name}: {arn}" for name, arn in box.key_arns.items()]
    lines += [
        f"    object {o['key']} ({o.get('sse_algorithm', 'bucket default')})"
        for o in source.get("objects", [])
    ]
    lines.append(f"  account B {accounts['target']} (profile b = a session of {target['caller']})")
    lines += [f"    role {arn}" for arn in box.role_arns.values()]
    return "\n".join(lines)


def run(name: str) -> int:
    scenario = load_scenario(ALIASES.get(name, name))
    from moto.server import ThreadedMotoServer

    # The server's per-request access log would bury the diagnosis.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for variable in LEAKY_ENV:
            os.environ.pop(variable, None)
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory(prefix="kmsdoctor-sandbox-") as workdir:
            box = build_scenario(scenario, Path(workdir))
            print(describe(box))
            print(f"  moto server: {os.environ['AWS_ENDPOINT_URL']}\n", flush=True)
            return run_cli(box)
    finally:
        server.stop()


def run_cli(box: Sandbox) -> int:
    """The real CLI as a subprocess against the sandbox, as an engineer would run it."""
    expected = box.scenario.get("expect", {}).get("exit_code")
    # moto does not enforce bucket or key policies, so a live probe here would read the object
    # whatever the policies say; the sandbox shows the analysis alone.
    args = box.cli_args("diagnose", "--no-probe")
    print("(--no-probe: moto does not enforce bucket or key policies, so the analysis speaks)")
    print("$ kmsdoctor " + " ".join(args), flush=True)
    code = subprocess.run([sys.executable, "-m", "kmsdoctor", *args], env=box.env, check=False)
    print(f"\nkmsdoctor exited {code.returncode} (this scenario expects {expected})")
    # The demo is broken on purpose: exit 1 is the right answer, not a failed demo.
    return 0 if expected is None or code.returncode == expected else 1


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "demo"
    try:
        return run(name)
    except ScenarioError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
