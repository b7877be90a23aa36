"""The one way every bench gets slow AWS: a moto server in a process of its own, a scenario built
into it, bulk objects and extra principals added inside it, and a `DelayProxy` in front.

    with BenchSandbox(scenario=scenario_dict, bulk_objects=[("p0/x", "curated")]) as sandbox:
        sandbox.warm(["check", ...])              # moto's per-account defaults: not AWS latency
        run = sandbox.run_cli(["check", ...])     # through the proxy: DELAY_S per request
        sandbox.env                               # a CLI subprocess's environment (the proxy)
        sandbox.direct_env                        # the same, straight at moto (no delay)

Why a process of its own: moto is a Python server, so in the bench's process it shared one GIL
with the proxy's threads and the code populating it, and served a request in ~37 ms instead of a
few. The child (`python -m bench.sandbox --spec FILE`) starts `ThreadedMotoServer`, builds the
scenario (`moto_fixtures.builder.build_scenario`, or `moto_fixtures.pipeline.build_pipeline`,
whose in-process tweaks of moto's backends then apply to the server), writes `bulk_objects`
straight into moto's S3 backend (thousands of objects in about a second, not thousands of HTTP
puts), runs an optional `populate` hook ("module:function", called with the built sandbox in the
child, returning JSON), prints one JSON line describing what it built, and serves until its
stdin closes. The bench process then only runs the proxy and waits on CLI subprocesses, so the
proxy does not share a GIL with anything busy either.

Loopback only: the server and the proxy listen on 127.0.0.1.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.delay_proxy import DelayProxy, ProxiedRequest

ROOT = Path(__file__).resolve().parents[1]
DELAY_S = 0.1  # the round trip to the AWS API every bench stands for
READY_TIMEOUT_S = 600  # building is seconds on an idle machine; minutes on a loaded one


def compile_kmsdoctor() -> None:
    """Byte-compile kmsdoctor, as `pip install` does for an installed package. A checkout is
    compiled on first import only where bytecode may be written; with PYTHONDONTWRITEBYTECODE
    set (this machine sets it) every run compiled all of kmsdoctor from source again, ~0.15 s
    of CPU a run that no installed kmsdoctor pays. compileall writes whatever that says."""
    import compileall

    compileall.compile_dir(ROOT / "kmsdoctor", quiet=1)


def progress(message: str) -> None:
    """A line on stderr for a step that takes a while (stdout carries the figures)."""
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Run:
    """One CLI process run through the proxy."""

    exit_code: int
    started: float  # time.monotonic() when the process was started (the proxy's clock)
    wall_s: float
    requests: list[ProxiedRequest]
    stdout: str = ""
    cpu_s: float = 0.0  # the CLI process's CPU time (user + system)
    moto_cpu_s: float = 0.0  # the moto server process's CPU time meanwhile
    # (time.monotonic(), the CLI process's CPU seconds so far), sampled while it ran
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def first_request_s(self) -> float:
        """Process start to the first AWS request: start-up, imports, sessions, clients."""
        return min(r.started for r in self.requests) - self.started

    @property
    def after_last_response_s(self) -> float:
        """Last AWS response to process exit: analysis, report, interpreter teardown."""
        return self.started + self.wall_s - max(r.ended for r in self.requests)

    @property
    def idle_s(self) -> float:
        """Time inside the AWS phase with no request in flight: the tool computing or setting
        up (e.g. clients for a later stage) while nothing waits on AWS."""
        idle, busy_until = 0.0, None
        for request in sorted(self.requests, key=lambda r: r.started):
            if busy_until is not None and request.started > busy_until:
                idle += request.started - busy_until
            busy_until = request.ended if busy_until is None else max(busy_until, request.ended)
        return idle

    @property
    def aws_phase_s(self) -> float:
        return max(r.ended for r in self.requests) - min(r.started for r in self.requests)

    @property
    def most_in_flight(self) -> int:
        return most_in_flight(self.requests)

    @property
    def aws_phase_cpu_s(self) -> float:
        """The CLI's CPU time between its first request and its last response. Its Python
        threads run one at a time (one GIL), so the AWS phase lasts at least this long
        however concurrent its calls: near the phase's length, the phase is CPU-bound."""
        first = min(r.started for r in self.requests)
        last = max(r.ended for r in self.requests)
        return _cpu_at(self.cpu_samples, last) - _cpu_at(self.cpu_samples, first)


def _cpu_at(samples: list[tuple[float, float]], moment: float) -> float:
    """The CPU seconds of the last sample at or before `moment` (0 before the first)."""
    cpu = 0.0
    for when, seconds in samples:
        if when > moment:
            break
        cpu = seconds
    return cpu


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process `pid` has used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _sample_cpu(process: subprocess.Popen[str], samples: list[tuple[float, float]]) -> None:
    """Every 2 ms until the process ends: (now, its CPU seconds). The kernel counts CPU time
    in clock ticks (10 ms here), so a figure made from two samples is good to about 10 ms."""
    while process.poll() is None:
        seconds = process_cpu_s(process.pid)
        if seconds is not None:
            samples.append((time.monotonic(), seconds))
        time.sleep(0.002)


def most_in_flight(requests: list[ProxiedRequest]) -> int:
    """The largest number of requests the proxy held at once."""
    events = sorted([(r.started, 1) for r in requests] + [(r.ended, -1) for r in requests])
    in_flight = most = 0
    for _, step in events:
        in_flight += step
        most = max(most, in_flight)
    return most


@dataclass
class BenchSandbox:
    """A moto server process with a scenario in it, and a DelayProxy in front of it.

    Exactly one of `scenario` (a scenario dict, format in moto_fixtures/README.md) and
    `pipeline` (a name for `moto_fixtures.pipeline.pipeline_scenario`) is given.
    `bulk_objects`: (object key, key name of the scenario's `keys`) pairs written into the
    scenario's bucket with SSE-KMS under that key, after the scenario is built.
    `populate`: "module:function" run in the server process with the built sandbox; what it
    returns (JSON) is `self.populated`.
    """

    scenario: dict[str, Any] | None = None
    pipeline: str | None = None
    bulk_objects: list[tuple[str, str]] = field(default_factory=list)
    populate: str | None = None
    delay_s: float = DELAY_S
    # Filled by start():
    built: dict[str, Any] = field(default_factory=dict)  # what the child says it built
    proxy: DelayProxy | None = None
    _process: subprocess.Popen[str] | None = None
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> BenchSandbox:
        if (self.scenario is None) == (self.pipeline is None):
            raise ValueError("give exactly one of scenario and pipeline")
        compile_kmsdoctor()
        self._workdir = tempfile.TemporaryDirectory(prefix="kmsdoctor-bench-")
        spec = Path(self._workdir.name, "spec.json")
        spec.write_text(
            json.dumps(
                {
                    "scenario": self.scenario,
                    "pipeline": self.pipeline,
                    "bulk_objects": self.bulk_objects,
                    "populate": self.populate,
                    "workdir": str(Path(self._workdir.name, "aws")),
                }
            ),
            encoding="utf-8",
        )
        started = time.monotonic()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.sandbox", "--spec", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # the child's one line, once it is built
        if not line:
            code = self._process.wait(timeout=READY_TIMEOUT_S)
            self.stop()
            raise RuntimeError(f"the moto server process exited {code} before it was ready")
        self.built = json.loads(line)
        progress(
            f"moto server process {self._process.pid} ready in "
            f"{time.monotonic() - started:.1f} s ({len(self.bulk_objects)} bulk objects; "
            f"load average {os.getloadavg()[0]:.1f})"
        )
        self.proxy = DelayProxy(self.moto_url, self.delay_s).start()
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()  # the child serves until its stdin closes
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> BenchSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- what was built ----------------------------------------------------------------------

    @property
    def moto_url(self) -> str:
        return self.built["moto_url"]

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def moto_cpu_s(self) -> float:
        """CPU seconds the moto server process has used so far (Linux /proc; 0 elsewhere)."""
        return process_cpu_s(self.pid) or 0.0

    @property
    def populated(self) -> Any:
        return self.built.get("populated")

    @property
    def direct_env(self) -> dict[str, str]:
        """A CLI subprocess's environment straight at moto: this process's, minus credentials
        and profile selection, plus the sandbox's config files and Region."""
        env = {k: v for k, v in os.environ.items() if k not in self.built["env_removed"]}
        env.update(self.built["env_overrides"])
        env["AWS_ENDPOINT_URL"] = self.moto_url
        return env

    @property
    def env(self) -> dict[str, str]:
        """As direct_env, through the delay proxy."""
        assert self.proxy is not None, "start() the sandbox first"
        return {**self.direct_env, "AWS_ENDPOINT_URL": self.proxy.url}

    # --- running the CLI ---------------------------------------------------------------------

    def run_cli(self, args: list[str], env: dict[str, str] | None = None) -> Run:
        """`python -m kmsdoctor ARGS` through the proxy; the requests it made."""
        assert self.proxy is not None, "start() the sandbox first"
        self.proxy.clear()
        moto_cpu = self.moto_cpu_s()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        running = subprocess.Popen(
            [sys.executable, "-m", "kmsdoctor", *args],
            env=self.env if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        samples: list[tuple[float, float]] = []
        sampler = threading.Thread(target=_sample_cpu, args=(running, samples), daemon=True)
        sampler.start()
        stdout, stderr = running.communicate()
        wall = time.monotonic() - started
        sampler.join()
        process = subprocess.CompletedProcess(running.args, running.returncode, stdout, stderr)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI has been waited for
        cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        moto_cpu = self.moto_cpu_s() - moto_cpu
        if self.proxy.upstream_failures:
            failures = self.proxy.upstream_failures
            raise RuntimeError(
                f"kmsdoctor {' '.join(args)}: moto failed {len(failures)} request(s), "
                f"first: {failures[0]}"
            )
        if process.returncode not in (0, 1, 3):
            raise RuntimeError(
                f"kmsdoctor {' '.join(args)} exited {process.returncode}: "
                f"{process.stderr.strip()[-2000:]}"
            )
        return Run(
            process.returncode,
            started,
            wall,
            list(self.proxy.requests),
            process.stdout,
            cpu_s=cpu,
            moto_cpu_s=moto_cpu,
            cpu_samples=samples,
        )

    def warm(self, args: list[str]) -> None:
        """One run straight at moto: moto builds each account's defaults (VPCs, IAM's managed
        policies) on first use, a cost that is not AWS latency."""
        started = time.monotonic()
        self.run_cli(args, self.direct_env)
        progress(f"warm-up run {time.monotonic() - started:.1f} s")


# --- the server process ---------------------------------------------------------------------


def _bulk_put(box: Any, objects: list[list[str]]) -> None:
    """Objects written into moto's S3 backend directly (this process is the server), each
    SSE-KMS under its key, as a PutObject with those headers would store them."""
    from moto.s3.models import s3_backends

    account = box.scenario["accounts"]["source"]
    backend = s3_backends[account]["global"]
    for object_key, key_name in objects:
        backend.put_object(
            box.bucket,
            object_key,
            b"x",
            encryption="aws:kms",
            kms_key_id=box.key_arns[key_name],
            bucket_key_enabled="false",
        )


def _describe_scenario(box: Any) -> dict[str, Any]:
    return {
        "name": box.name,
        "region": box.region,
        "bucket": box.bucket,
        "key_arns": box.key_arns,
        "role_arns": box.role_arns,
        "cli_args": box.cli_args("diagnose"),
    }


def _cache_moto_module_list() -> None:
    """moto's server asks `list_of_moto_modules()` twice per request, and each call lists its
    package directory and stats its ~180 entries: measured at ~175 stat calls a request, the
    largest piece of moto's time per HeadObject that is not the answer itself. The directory
    does not change while the server runs, so it is listed once."""
    import moto.backends

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules


def serve(spec: dict[str, Any]) -> None:
    from moto.server import ThreadedMotoServer

    from moto_fixtures.builder import LEAKY_ENV, build_scenario
    from moto_fixtures.sandbox import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    _cache_moto_module_list()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    for variable in LEAKY_ENV:
        os.environ.pop(variable, None)
    os.environ["AWS_ENDPOINT_URL"] = moto_url  # the builders write through the server
    workdir = Path(spec["workdir"])
    if spec["pipeline"] is not None:
        from moto_fixtures.pipeline import build_pipeline, pipeline_scenario

        box: Any = build_pipeline(pipeline_scenario(spec["pipeline"]), workdir)
        built: dict[str, Any] = {"profiles": box.account_profiles()}
    else:
        box = build_scenario(spec["scenario"], workdir)
        built = _describe_scenario(box)
        _bulk_put(box, spec["bulk_objects"])
    if spec["populate"]:
        os.environ.update(box.env_overrides)  # the hook's boto3 sessions see the profiles
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        module, function = spec["populate"].split(":")
        built["populated"] = getattr(importlib.import_module(module), function)(box)
    built.update(
        {
            "moto_url": moto_url,
            "env_overrides": box.env_overrides,
            "env_removed": list(box.env_removed),
        }
    )
    print(json.dumps(built), flush=True)
    sys.stdin.read()  # until the bench closes our stdin (or exits)
    server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--spec"] or len(sys.argv) != 3:
        sys.exit("usage: python -m bench.sandbox --spec FILE (started by BenchSandbox)")
    serve(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
