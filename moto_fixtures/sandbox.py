"""`python -m moto_fixtures.sandbox`: try kmsdoctor on a broken two-account setup, no AWS needed.

    python -m moto_fixtures.sandbox list             # the scenarios, one line each
    python -m moto_fixtures.sandbox demo [SCENARIO]  # build it, run kmsdoctor once, stop
    python -m moto_fixtures.sandbox serve SCENARIO   # build it and keep the server running

Each starts a moto server on 127.0.0.1, builds the scenario's two accounts in it (A owns the
bucket and the key, B the caller), and writes an AWS config with profiles `a` and `b`. `demo`
runs the real `kmsdoctor` CLI against it as a subprocess, exactly as a user would with two
profiles, and checks the exit code the scenario expects. `serve` prints the environment lines
to paste into another shell, and profile lines (role_arn profiles, no secrets) to add to your
own config, then waits for Ctrl-C.

kmsdoctor is run with `--no-probe`: moto enforces no bucket or key policy, so the probe's calls
as the caller would succeed whatever the policies say. The analysis speaks.

`demo` (the default scenario) is the broken configuration of the reference write-up:
BIAnalyticsRole in B, the bucket policy allows it, the key policy does not name it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from moto_fixtures.builder import (
    CALLER_SESSION_NAME,
    FIXTURE_ADMIN_ROLE,
    LEAKY_ENV,
    PROFILE_SOURCE,
    PROFILE_TARGET,
    Sandbox,
    ScenarioError,
    build_scenario,
    load_scenario,
    scenario_names,
)

ALIASES = {"demo": "key-policy-missing-principal"}
# Profile names printed by `serve` for one's own config files (not to clash with `a` and `b`).
BASE_PROFILE = "kmsdoctor-sandbox"
OWN_SOURCE_PROFILE = "sandbox-a"
OWN_TARGET_PROFILE = "sandbox-b"
DEFAULT_SCENARIO = "demo"


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


def summary_line(name: str) -> str:
    """`name — the description's first sentence` for `list`."""
    try:
        description = str(load_scenario(name).get("description", ""))
    except ScenarioError as exc:
        return f"{name} — (cannot be read: {exc})"
    first = description.split(". ", 1)[0].rstrip(".")
    return f"{name} — {first}" if first else name


class MotoServer:
    """A moto server on 127.0.0.1, quiet, with the process environment pointed at it (and
    cleared of any credentials or profile the user's shell holds) while it runs."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._saved_env: dict[str, str] = {}

    def __enter__(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        # The server's per-request access log would bury the diagnosis.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self._saved_env = dict(os.environ)
        for variable in LEAKY_ENV:
            os.environ.pop(variable, None)
        os.environ["AWS_ENDPOINT_URL"] = self.url
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.environ.clear()
        os.environ.update(self._saved_env)
        if self._server is not None:
            self._server.stop()


# --- demo ---------------------------------------------------------------------------------------


def demo(name: str) -> int:
    scenario = load_scenario(ALIASES.get(name, name))
    with MotoServer() as server, tempfile.TemporaryDirectory(prefix="kmsdoctor-sandbox-") as work:
        box = build_scenario(scenario, Path(work))
        print(describe(box))
        print(f"  moto server: {server.url}\n", flush=True)
        return run_cli(box)


def run_cli(box: Sandbox) -> int:
    """The real CLI as a subprocess against the sandbox, as an engineer would run it."""
    expected = box.scenario.get("expect", {}).get("exit_code")
    args = box.cli_args("diagnose", "--no-probe")
    print("(--no-probe: moto does not enforce bucket or key policies, so the analysis speaks)")
    print("$ kmsdoctor " + " ".join(args), flush=True)
    code = subprocess.run([sys.executable, "-m", "kmsdoctor", *args], env=box.env, check=False)
    print(f"\nkmsdoctor exited {code.returncode} (this scenario expects {expected})")
    # The demo is broken on purpose: exit 1 is the right answer, not a failed demo.
    return 0 if expected is None or code.returncode == expected else 1


# --- serve --------------------------------------------------------------------------------------


def serve(name: str, port: int | None, workdir: Path | None, stop: threading.Event) -> int:
    """Build the scenario in a moto server that keeps running until `stop` is set (Ctrl-C)."""
    scenario = load_scenario(ALIASES.get(name, name))
    with MotoServer(port) as server, tempfile.TemporaryDirectory(prefix="kmsdoctor-sandbox-") as t:
        directory = workdir or Path(t)
        box = build_scenario(scenario, directory)
        print(describe(box))
        print()
        print(serve_instructions(box, server.url), flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops it
            stop.wait()
        print("\nsandbox stopped", flush=True)
    return 0


def serve_instructions(box: Sandbox, url: str) -> str:
    """What to paste into another shell, and profile lines for one's own AWS config."""
    command = ["kmsdoctor", *box.cli_args("diagnose", "--no-probe")]
    own_command = [
        OWN_TARGET_PROFILE if word == PROFILE_TARGET else word
        for word in [OWN_SOURCE_PROFILE if word == PROFILE_SOURCE else word for word in command]
    ]
    source_account = box.scenario["accounts"]["source"]
    caller_arn = box.role_arns[box.scenario["target"]["caller"]]
    lines = [
        f"moto server running at {url}; Ctrl-C (or kill {os.getpid()}) stops it.",
        "",
        "In another shell, paste:",
        "",
        f"  export AWS_ENDPOINT_URL={url}",
        f"  export AWS_CONFIG_FILE={shlex.quote(str(box.config_path))}",
        f"  export AWS_SHARED_CREDENTIALS_FILE={shlex.quote(str(box.credentials_path))}",
        f"  export AWS_DEFAULT_REGION={box.region}",
        "  unset " + " ".join(name for name in LEAKY_ENV),
        "  " + shlex.join(command),
        "",
        "Or keep your own AWS config files and add these profiles (moto gives an assumed",
        "role's session the role's account, so two accounts need two role_arn profiles):",
        "",
        "  # ~/.aws/credentials (moto accepts any keys)",
        f"  [{BASE_PROFILE}]",
        "  aws_access_key_id = testing",
        "  aws_secret_access_key = testing",
        "",
        "  # ~/.aws/config",
        f"  [profile {OWN_SOURCE_PROFILE}]",
        f"  role_arn = arn:aws:iam::{source_account}:role/{FIXTURE_ADMIN_ROLE}",
        f"  source_profile = {BASE_PROFILE}",
        f"  region = {box.region}",
        f"  [profile {OWN_TARGET_PROFILE}]",
        f"  role_arn = {caller_arn}",
        f"  role_session_name = {CALLER_SESSION_NAME}",
        f"  source_profile = {BASE_PROFILE}",
        f"  region = {box.region}",
        "",
        "then:",
        "",
        f"  export AWS_ENDPOINT_URL={url}",
        "  " + shlex.join(own_command),
    ]
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m moto_fixtures.sandbox",
        description="Try kmsdoctor on a broken two-account setup held by a local moto server "
        "(no AWS account needed).",
        epilog="Examples: python -m moto_fixtures.sandbox list; "
        "python -m moto_fixtures.sandbox demo key-disabled; "
        "python -m moto_fixtures.sandbox serve key-policy-missing-principal --port 5000",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="list the scenarios, one line each")
    run = commands.add_parser(
        "demo", help="build a scenario, run `kmsdoctor diagnose` on it once, stop"
    )
    run.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        metavar="SCENARIO",
        help="a name from `list` (default: demo = key-policy-missing-principal)",
    )
    keep = commands.add_parser(
        "serve",
        help="build a scenario and keep the moto server running; print what to paste",
    )
    keep.add_argument("scenario", metavar="SCENARIO", help="a name from `list`, or demo")
    keep.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    keep.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write the AWS config and credentials files (default: a temporary "
        "directory, removed when the server stops)",
    )
    return top


def main(argv: list[str]) -> int:
    # The old form `sandbox SCENARIO` still runs the demo of that scenario.
    if argv and argv[0] not in ("list", "demo", "serve") and not argv[0].startswith("-"):
        argv = ["demo", *argv]
    args = parser().parse_args(argv or ["demo"])
    try:
        if args.command == "list":
            for name in ["demo", *scenario_names()]:
                print(summary_line(ALIASES.get(name, name)) if name != "demo" else _demo_line())
            return 0
        if args.command == "serve":
            stop = threading.Event()
            # Ctrl-C in the foreground; `kill` (SIGTERM) when started in the background, where a
            # shell without job control makes the process ignore SIGINT.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            return serve(args.scenario, args.port, args.dir, stop)
        return demo(args.scenario)
    except ScenarioError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `… list | head`
        from kmsdoctor.report.pipe import silence_stdout

        silence_stdout()
        return 0


def _demo_line() -> str:
    return f"demo — the default: {ALIASES['demo']}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
