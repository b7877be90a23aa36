"""The command line. Thin on purpose: parse options, call one stage after another, print.

Nothing here imports boto3 at module level, so `kmsdoctor --help` and `kmsdoctor explain` stay
fast and work without AWS libraries being loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import sys
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kmsdoctor import plain_options
from kmsdoctor.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError

plain_options.install()  # option values without pydantic: see plain_options.py (start-up time)


def _example(*lines: str) -> str:
    """A help example that pastes as one command: click keeps a paragraph after \\b as it is."""
    body = " \\\n      ".join(lines)
    return f"Example:\n\n\b\n    {body}"


app = typer.Typer(
    name="kmsdoctor",
    help="Find which lock is shut when a cross-account read of an SSE-KMS S3 object is denied.",
    epilog=_example(
        "kmsdoctor diagnose --source-profile a --target-profile b",
        "--bucket s3://datalake-curated-a/sales/2026/q1/regions.parquet",
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    # Plain help: no boxes around the examples (they are copied), no <str>/<bool> type column.
    rich_markup_mode=None,
)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class Operation(StrEnum):
    read = "read"
    write = "write"


class Expected(StrEnum):
    allow = "allow"
    deny = "deny"


# Metavars are set on every option: typer's defaults (<str>, <bool>, <list[str]>) say nothing a
# user can act on; a flag gets none.
SourceProfile = Annotated[
    str | None,
    typer.Option(
        metavar="PROFILE",
        help="Profile for the resource account (A), which owns the bucket and the KMS key.",
    ),
]
TargetProfile = Annotated[
    str | None,
    typer.Option(
        metavar="PROFILE",
        help="Profile for the caller account (B), or for the caller itself.",
    ),
]
Bucket = Annotated[
    str,
    typer.Option(
        metavar="BUCKET",
        help="The bucket: a name, s3://BUCKET/KEY or an S3 object ARN (which also give --key).",
    ),
]
ObjectKey = Annotated[
    str | None, typer.Option("--key", metavar="KEY", help="The object key that is denied.")
]
RoleArns = Annotated[
    list[str] | None,
    typer.Option(
        "--role-arn",
        metavar="ARN",
        help="A role in B to check instead of the target profile's own identity. Repeatable.",
    ),
]
Region = Annotated[
    str | None,
    typer.Option(
        metavar="REGION",
        help="Region of the bucket and key (else AWS_REGION, AWS_DEFAULT_REGION, the profile's).",
    ),
]
KmsKey = Annotated[
    str | None,
    typer.Option(
        "--kms-key",
        metavar="KEY_ID",
        help="The KMS key to check (ARN, id or alias in A), e.g. from the AccessDenied message. "
        "The key recorded on the object still wins when the object can be read.",
    ),
]
OperationOpt = Annotated[
    Operation,
    typer.Option(
        metavar="read|write",
        help="read: GetObject + kms:Decrypt. write: PutObject + GenerateDataKey.",
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", metavar="text|json", help="text for people, json for scripts."),
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", metavar="", help="Log each AWS call (never credentials or data)."),
]
KeyPolicyFile = Annotated[
    list[str] | None,
    typer.Option(
        "--key-policy",
        metavar="[KEY=]FILE",
        help="What if: analyse with this key policy (a JSON file) in place of KEY's (key ARN, "
        "key id or alias); FILE alone when the snapshot has one key. Repeatable.",
    ),
]
BucketPolicyFile = Annotated[
    list[str] | None,
    typer.Option(
        "--bucket-policy",
        metavar="[BUCKET=]FILE",
        help="What if: analyse with this bucket policy (a JSON file) in place of BUCKET's; "
        "FILE alone when the snapshot has one bucket. Repeatable.",
    ),
]
IdentityPolicyFiles = Annotated[
    list[str] | None,
    typer.Option(
        "--identity-policy",
        metavar="NAME=FILE",
        help="What if: add or replace the caller's inline policy NAME with FILE (NAME=FILE). "
        "Repeatable.",
    ),
]
FixDir = Annotated[
    Path | None,
    typer.Option(
        "--fix-dir",
        metavar="DIR",
        help="Write each fix's patched policy to a file in DIR, named after the policy it "
        "replaces; the command that would apply it is printed beside it (never run).",
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from kmsdoctor import __version__

        typer.echo(f"kmsdoctor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar="",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Find which lock is shut when a cross-account read of an SSE-KMS S3 object is denied."""


# --- what the user asked ------------------------------------------------------------------------

# botocore's own check of a bucket name (legacy names included); anything else would come back
# as botocore's ParamValidationError with its regular expression.
_BUCKET_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")


def _bucket_and_key(bucket: str, key: str | None) -> tuple[str, str | None]:
    """The bucket name and object key from --bucket (a name, s3://BUCKET/KEY or an S3 object
    ARN) and --key. Bad input is a UsageError; a key that looks like a typo gets a hint."""
    from kmsdoctor.arn import split_s3_address

    if key is not None and (key.startswith("s3://") or _is_s3_arn(key)):
        raise UsageError(
            f"--key {key!r} is an S3 address, not a key: pass it as --bucket {key} "
            "(the key is taken from it)"
        )
    name, address_key = split_s3_address(bucket)
    if not _BUCKET_NAME.match(name):
        raise UsageError(
            f"--bucket {bucket!r}: {name!r} is not a bucket name "
            "(give a name, s3://BUCKET/KEY or an S3 object ARN)"
        )
    if address_key is not None:
        if key is not None and key != address_key:
            raise UsageError(
                f"--bucket {bucket!r} names the key {address_key!r} but --key says {key!r}: "
                "give one of them"
            )
        key = address_key
    if key is not None and key.startswith("/"):
        _hint(
            f"the key {key!r} starts with '/': S3 keys rarely do (s3://{name}{key} has key "
            f"{key[1:]!r}); checking it as given"
        )
    return name, key


def _is_s3_arn(text: str) -> bool:
    from kmsdoctor.arn import parse_arn

    parsed = parse_arn(text)
    return parsed is not None and parsed.service == "s3"


def _hint(message: str) -> None:
    typer.echo(f"kmsdoctor: hint: {message}", err=True)


def _collect_request(
    source_profile: str | None,
    target_profile: str | None,
    bucket: str,
    key: str | None,
    role_arn: list[str] | None,
    region: str | None,
    operation: Operation,
    kms_key: str | None = None,
):
    from kmsdoctor.collect import CollectRequest

    bucket, key = _bucket_and_key(bucket, key)
    return CollectRequest(
        source_profile=source_profile,
        target_profile=target_profile,
        bucket=bucket,
        key=key,
        role_arns=list(role_arn or []),
        region=region,
        operation=operation.value,
        kms_key=kms_key,
    )


def _policy_file(flag: str, path: Path):
    """One proposed policy document from a file; a bad file is one line and exit 2."""
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc}") from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{flag}: {path} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise UsageError(f"{flag}: {path} is not a policy document (a JSON object)")
    return document


def _target_and_file(flag: str, entry: str) -> tuple[str, Path]:
    """`TARGET=FILE` or a plain `FILE` (target ""). A path that exists is a file even when it
    has an "=" in it."""
    target, sep, file = entry.partition("=")
    if not sep or Path(entry).exists():
        return "", Path(entry)
    if not target.strip() or not file.strip():
        raise UsageError(f"{flag}: expected FILE or TARGET=FILE, got {entry!r}")
    return target.strip(), Path(file.strip())


def _what_if(
    key_policy: list[str] | None, bucket_policy: list[str] | None, identity_policy: list[str] | None
):
    from kmsdoctor.analyze.whatif import WhatIf

    what_if = WhatIf()
    for entry in key_policy or []:
        key, path = _target_and_file("--key-policy", entry)
        if key in what_if.key_policies:
            raise UsageError(f"--key-policy: given twice for {key or 'the key'}")
        what_if.key_policies[key] = _policy_file("--key-policy", path)
        what_if.sources[f"key:{key}"] = str(path)
    for entry in bucket_policy or []:
        bucket, path = _target_and_file("--bucket-policy", entry)
        if bucket in what_if.bucket_policies:
            raise UsageError(f"--bucket-policy: given twice for {bucket or 'the bucket'}")
        what_if.bucket_policies[bucket] = _policy_file("--bucket-policy", path)
        what_if.sources[f"bucket:{bucket}"] = str(path)
    for entry in identity_policy or []:
        name, sep, file = entry.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise UsageError(f"--identity-policy: expected NAME=FILE, got {entry!r}")
        name = name.strip()
        what_if.identity_policies[name] = _policy_file("--identity-policy", Path(file.strip()))
        what_if.sources[f"identity:{name}"] = file.strip()
    return what_if


def _setup_logging(debug: bool) -> None:
    from kmsdoctor.logs import disable_debug_logging, enable_debug_logging

    if debug:
        enable_debug_logging()
    else:
        disable_debug_logging()


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner line on stderr while AWS is being read, only when stderr is a terminal: a
    script or a log file gets nothing."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _import_while_waiting(*modules: str) -> None:
    """Import what comes after collection (the analysis, the report) while the collection waits
    on AWS, instead of after its last answer: started on the first answer, so it does not slow
    the start-up before the first request either. A daemon thread: it never delays an exit."""

    def run() -> None:
        import importlib

        from kmsdoctor.aws import first_answer

        first_answer.wait()
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the main thread imports it again and reports any error
                return

    threading.Thread(target=run, name="kmsdoctor-import-ahead", daemon=True).start()


STDOUT_PATH = Path("-")


@app.command(
    short_help="Read both accounts' configuration into a snapshot file.",
    epilog=_example(
        "kmsdoctor collect --source-profile a --target-profile b",
        "--bucket s3://datalake-curated-a/sales/2026/q1/regions.parquet",
        "--output snapshot.json",
    ),
)
def collect(
    bucket: Bucket,
    output: Annotated[
        Path,
        typer.Option(metavar="FILE", help="Where to write the snapshot JSON; - for stdout."),
    ],
    source_profile: SourceProfile = None,
    target_profile: TargetProfile = None,
    key: ObjectKey = None,
    role_arn: RoleArns = None,
    region: Region = None,
    operation: OperationOpt = Operation.read,
    kms_key: KmsKey = None,
    output_format: FormatOpt = OutputFormat.text,
    debug: DebugOpt = False,
) -> None:
    """Read both accounts' configuration into one snapshot file (read-only); analyse it later
    with `kmsdoctor analyze`, offline."""
    _setup_logging(debug)
    from kmsdoctor.collect import collect_snapshot

    request = _collect_request(
        source_profile, target_profile, bucket, key, role_arn, region, operation, kms_key
    )
    with _progress("reading both accounts' configuration…"):
        snapshot = collect_snapshot(request)
    if output == STDOUT_PATH:
        # The snapshot is the output; what was written and what is unknown go to stderr.
        from kmsdoctor.report import write_stdout

        write_stdout(snapshot.to_json())
        _report_collection(snapshot, None, output_format, err=True)
        return
    try:
        output.write_text(snapshot.to_json(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    _report_collection(snapshot, output, output_format)


def _report_collection(
    snapshot, output: Path | None, output_format: OutputFormat, err: bool = False
) -> None:
    """What was written, and which facts the profiles could not read (scripts check these)."""
    import json

    from kmsdoctor.report import document_header, request_of, write_stdout
    from kmsdoctor.snapshot import unknown_facts

    unknown = unknown_facts(snapshot)
    where = "-" if output is None else str(output)
    if output_format is OutputFormat.json:
        document = {
            "schema_version": snapshot.schema_version,
            **document_header(request_of(snapshot)),
            "output": where,
            "unknown": [
                {"where": where, "operation": error.operation, "code": error.code}
                for where, error in unknown
            ],
        }
        text = json.dumps(document, indent=2) + "\n"
    else:
        lines = ["snapshot written to stdout" if output is None else f"snapshot written to {where}"]
        for fact, error in unknown:
            call = f"{error.operation} " if error.operation else ""
            lines.append(f"  unknown: {fact} ({call}{error.code})")
        text = "\n".join(lines) + "\n"
    if err:
        sys.stderr.write(text)
    else:
        write_stdout(text)


@app.command(
    short_help="Diagnose offline from a snapshot file. No AWS access.",
    epilog=_example("kmsdoctor analyze snapshot.json --fix-dir fixes/")
    + "\n\n"
    + _example(
        "kmsdoctor analyze snapshot.json",
        "--key-policy alias/datalake=proposed-key-policy.json",
    ),
)
def analyze(
    # Described in the docstring: typer would print a <path> type beside an argument.
    snapshot_file: Annotated[Path, typer.Argument(metavar="SNAPSHOT", hidden=True)],
    output_format: FormatOpt = OutputFormat.text,
    key_policy: KeyPolicyFile = None,
    bucket_policy: BucketPolicyFile = None,
    identity_policy: IdentityPolicyFiles = None,
    fix_dir: FixDir = None,
) -> None:
    """Diagnose offline from a snapshot file. No AWS access.

    SNAPSHOT is a file written by `kmsdoctor collect`. With --key-policy, --bucket-policy or
    --identity-policy, a proposed policy is checked before it is applied: the snapshot is
    analysed with that document in place of the collected one. When the snapshot holds several
    keys or buckets, name the one the document is for: --key-policy KEY=FILE (key ARN, key id
    or alias), --bucket-policy BUCKET=FILE.
    """
    from kmsdoctor.analyze import analyze_snapshot
    from kmsdoctor.report import emit, request_of
    from kmsdoctor.snapshot import Snapshot, SnapshotError

    what_if = _what_if(key_policy, bucket_policy, identity_policy)

    try:
        text = snapshot_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {snapshot_file}: {exc}") from None
    try:
        snapshot = Snapshot.from_json(text)
    except SnapshotError as exc:
        raise UsageError(f"{snapshot_file}: {exc}") from None
    what_if_notes: list[str] = []
    if not what_if.is_empty():
        from kmsdoctor.analyze.whatif import apply_what_if

        snapshot, what_if_notes = apply_what_if(snapshot, what_if)
    diagnosis = analyze_snapshot(snapshot)
    diagnosis.notes.extend(what_if_notes)
    raise typer.Exit(emit(diagnosis, output_format.value, request_of(snapshot), fix_dir))


@app.command(
    short_help="Collect, probe, analyse: which lock is shut and how to open it.",
    epilog=_example(
        "kmsdoctor diagnose --source-profile a --target-profile b",
        "--bucket s3://datalake-curated-a/sales/2026/q1/regions.parquet",
        "--role-arn arn:aws:iam::222222222222:role/BIAnalyticsRole",
    ),
)
def diagnose(
    bucket: Bucket,
    source_profile: SourceProfile = None,
    target_profile: TargetProfile = None,
    key: ObjectKey = None,
    role_arn: RoleArns = None,
    region: Region = None,
    operation: OperationOpt = Operation.read,
    kms_key: KmsKey = None,
    no_probe: Annotated[
        bool,
        typer.Option(
            "--no-probe", metavar="", help="Analyse policies only; make no calls as the caller."
        ),
    ] = False,
    probe_decrypt: Annotated[
        bool,
        typer.Option(
            "--probe-decrypt",
            metavar="",
            help="Also run a kms:Decrypt round trip (A encrypts a random value).",
        ),
    ] = False,
    cloudtrail: Annotated[
        bool,
        typer.Option(
            "--cloudtrail",
            metavar="",
            help="Look up recent denied KMS events in both accounts' CloudTrail.",
        ),
    ] = False,
    output_format: FormatOpt = OutputFormat.text,
    fix_dir: FixDir = None,
    debug: DebugOpt = False,
    expect: Annotated[
        Expected | None,
        typer.Option(
            help="For CI: exit 0 when the verdict is this, 1 when not, 3 when undecidable."
        ),
    ] = None,
    key_policy: KeyPolicyFile = None,
    bucket_policy: BucketPolicyFile = None,
    identity_policy: IdentityPolicyFiles = None,
) -> None:
    """Collect, probe as the caller, analyse, and say which lock is shut and how to open it.

    With --key-policy, --bucket-policy or --identity-policy the live configuration is analysed
    with the proposed policy in place (nothing is written to AWS, and no probe is run: its
    answers would be of the configuration as it is).
    """
    _setup_logging(debug)
    from kmsdoctor.diagnose import DiagnoseOptions, run_diagnosis_with_snapshot

    what_if = _what_if(key_policy, bucket_policy, identity_policy)
    request = _collect_request(
        source_profile, target_profile, bucket, key, role_arn, region, operation, kms_key
    )
    options = DiagnoseOptions(
        probe=not no_probe and what_if.is_empty(),
        probe_decrypt=probe_decrypt,
        cloudtrail=cloudtrail,
        what_if=None if what_if.is_empty() else what_if,
    )
    report_module = "kmsdoctor.report." + (
        "json_report" if output_format.value == "json" else "text_report"
    )
    _import_while_waiting("kmsdoctor.analyze", report_module)
    doing = "reading both accounts' configuration"
    if options.probe:
        doing += " and probing as the caller"
    with _progress(doing + "…"):
        snapshot, diagnosis = run_diagnosis_with_snapshot(request, options)
    from kmsdoctor.report import emit, request_of

    code = emit(diagnosis, output_format.value, request_of(snapshot), fix_dir)
    if expect is not None:
        from kmsdoctor.check.model import expectation_exit_code

        code = expectation_exit_code(expect.value, diagnosis.verdict)
    raise typer.Exit(code)


@app.command()
def check(
    check_file: Annotated[Path, typer.Argument(help="The TOML check file (docs/check.md).")],
    output_format: FormatOpt = OutputFormat.text,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")
    ] = None,
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write a SARIF 2.1.0 report here.")
    ] = None,
    max_objects: Annotated[
        int, typer.Option(min=1, help="Objects checked under each prefix (the first N listed).")
    ] = 1000,
    region: Annotated[
        str | None, typer.Option(help="Region of the buckets and keys (overrides the file's).")
    ] = None,
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help="Analyse policies only; make no calls as anyone.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Smoke test: every expectation of a check file, one run (0 held, 1 failed, 3 undecided)."""
    _setup_logging(debug)
    from kmsdoctor.check import emit_check_report, load_check_file

    checks = load_check_file(check_file)  # every mistake is exit 2 before any AWS call
    from kmsdoctor.check.run import CheckOptions, run_check

    options = CheckOptions(max_objects=max_objects, probe=not no_probe, region=region)
    report = run_check(checks, options)
    raise typer.Exit(
        emit_check_report(
            report,
            output_format.value,
            str(junit) if junit else None,
            str(sarif) if sarif else None,
        )
    )


@app.command("who-can")
def who_can(
    bucket: Annotated[
        str, typer.Option(help="The bucket name, or an s3://bucket/key URI or object ARN.")
    ],
    source_profile: SourceProfile = None,
    target_profile: TargetProfile = None,
    key: Annotated[str | None, typer.Option("--key", help="The object key.")] = None,
    region: Region = None,
    operation: OperationOpt = Operation.read,
    kms_key: KmsKey = None,
    output_format: FormatOpt = OutputFormat.text,
    debug: DebugOpt = False,
) -> None:
    """Every role and user of both accounts that can (and cannot) do it, and why not.

    Exit 0 when every principal was answered, 3 when an account or a principal could not be
    decided (a listing, not a verdict: a principal that cannot is not a failure)."""
    _setup_logging(debug)
    from kmsdoctor.arn import split_s3_address
    from kmsdoctor.whocan import WhoCanRequest, emit, run

    bucket_name, key_in_address = split_s3_address(bucket)
    if key is not None and key_in_address is not None and key != key_in_address:
        raise UsageError(f"--key {key!r} differs from the key in {bucket!r}")
    request = WhoCanRequest(
        source_profile=source_profile,
        target_profile=target_profile,
        bucket=bucket_name,
        key=key if key is not None else key_in_address,
        operation=operation.value,
        region=region,
        kms_key=kms_key,
    )
    raise typer.Exit(emit(run(request), output_format.value, sys.stdout))


@app.command(
    epilog=_example(
        "kmsdoctor pipeline --source-profile tooling --name service-pipeline",
        "--account-profile 222222222222=dev --execution latest",
    )
)
def pipeline(
    name: Annotated[str, typer.Option("--name", help="The CodePipeline's name.")],
    source_profile: Annotated[
        str | None,
        typer.Option(help="Profile of the pipeline's (tooling) account: pipeline, bucket, key."),
    ] = None,
    account_profile: Annotated[
        list[str] | None,
        typer.Option(
            "--account-profile",
            help="ACCOUNT_ID=PROFILE: the profile that reads another account's roles. "
            "Repeatable; an account without one is unknown on its side.",
        ),
    ] = None,
    execution: Annotated[
        str | None,
        typer.Option(help="latest, or an execution id: check that run's real artifact objects."),
    ] = None,
    region: Region = None,
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help="Analyse policies only; make no calls as the roles.")
    ] = False,
    output_format: FormatOpt = OutputFormat.text,
    debug: DebugOpt = False,
) -> None:
    """Find every principal of a CodePipeline and check each action's artifact reads and writes."""
    _setup_logging(debug)
    from kmsdoctor.pipeline.render import emit_pipeline
    from kmsdoctor.pipeline.run import PipelineRequest, parse_account_profiles, run_pipeline

    request = PipelineRequest(
        source_profile=source_profile,
        name=name,
        account_profiles=parse_account_profiles(list(account_profile or [])),
        execution=execution,
        region=region,
        probe=not no_probe,
    )
    raise typer.Exit(emit_pipeline(run_pipeline(request), output_format.value))


@app.command(
    short_help="Say which lock an AccessDenied message names. No AWS access.",
    epilog=_example("pbpaste | kmsdoctor explain")
    + "\n\n"
    + _example("kmsdoctor explain --format json < cloudtrail-event.json"),
)
def explain(
    message: Annotated[
        str | None,
        # Described in the docstring: typer would print a <str> type beside an argument.
        typer.Argument(metavar="MESSAGE", hidden=True),
    ] = None,
    output_format: FormatOpt = OutputFormat.text,
) -> None:
    """Read an AccessDenied or KMS error message and say which lock it names. No AWS access.

    MESSAGE is the error message, or a CloudTrail event (JSON); read from stdin when omitted
    or '-'.
    """
    from kmsdoctor.explain import emit_explanation, explain_message

    if message is None or message == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("explain: give the error message as an argument or on stdin")
        message = sys.stdin.read()
    if not message.strip():
        raise UsageError("explain: the error message is empty")
    raise typer.Exit(emit_explanation(explain_message(message), output_format.value))


_GC_THRESHOLDS = (20_000, 20, 20)  # Python's defaults: (700, 10, 10)


def main() -> None:
    """Console entry point: contract exit codes, one line on error, never a traceback."""
    # At exit the interpreter's last garbage collection walks every object still alive; after a
    # diagnosis that is boto3's service models and clients, ~0.3 s for nothing (the process is
    # ending). Frozen objects are skipped; files are still flushed and closed as usual.
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process (tests)
    atexit.register(gc.freeze)
    # The cycle collector, at its defaults, ran ~370 times in a `pipeline` run and took ~0.2 s
    # of its ~1.1 s of CPU, most of it walking boto3's service models again and again while
    # the AWS calls were in flight (bench/pipeline_bench.py). kmsdoctor's garbage is acyclic
    # (responses, dicts, lists) and freed by reference counting; collecting cycles less often
    # costs no memory that shows (who-can over 1,050 principals: the same peak RSS).
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(prog_name="kmsdoctor", standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C (KeyboardInterrupt) into Exit(130)
            _exit_interrupted()
    except UsageError as exc:
        typer.echo(f"kmsdoctor: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _exit_interrupted()
    except BrokenPipeError:
        # `kmsdoctor … | head` closed the pipe while something other than a report was being
        # written (help, a snapshot): nothing more to say, and nobody left to say it to.
        from kmsdoctor.report import silence_stdout

        silence_stdout()
        sys.exit(0)
    except Exception as exc:  # click usage errors and anything unexpected
        _exit_on_unexpected(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _exit_interrupted() -> None:
    typer.echo("kmsdoctor: interrupted", err=True)
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.current_thread()
    ):
        # Collector threads may still be waiting on AWS (up to the read timeout, per retry).
        # A normal exit joins them first, so Ctrl-C would hang; leave now, output flushed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_INTERRUPTED)


# Runs of the secret-key alphabet at least as long as a secret access key (40). The message of
# an unexpected exception may hold anything the failing code held, and nothing that long in it
# is worth the risk of being a credential without a keyword before it (which redact() needs).
_LONG_TOKEN = re.compile(r"[A-Za-z0-9/+=]{40,}")
_MAX_LINE = 400


def _one_line(message: str, mask_long_tokens: bool = False) -> str:
    """`message` on one line, credentials masked by redact(), bounded in length."""
    from kmsdoctor.redact import REDACTED, redact

    line = redact(" ".join(message.split()))
    if mask_long_tokens:
        line = _LONG_TOKEN.sub(REDACTED, line)
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def _usage_error_types() -> tuple[type[Exception], ...]:
    """The exception types of a mistyped command line (missing option, bad value, no such
    command). typer 0.29 ships its own copy of click, whose errors derive from
    typer.TyperException; earlier typer raised click's own."""
    found: list[type[Exception]] = []
    typer_base = getattr(typer, "TyperException", None)
    if typer_base is not None:
        found.append(typer_base)
    try:
        import click

        found.append(click.ClickException)
    except ImportError:  # pragma: no cover - typer without a separate click
        pass
    return tuple(found)


def _usage_line(exc: Exception) -> str:
    """A command-line mistake as one line, with where to read the options."""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    context = getattr(exc, "ctx", None)
    command_path = getattr(context, "command_path", None) or "kmsdoctor"
    return f"kmsdoctor: {_one_line(message)} (see `{command_path} --help`)"


def _exit_on_unexpected(exc: Exception) -> None:
    if isinstance(exc, typer.Abort):
        _exit_interrupted()
    if type(exc).__name__ == "NoArgsIsHelpError":
        # `kmsdoctor` alone: the help, as --help prints it, and no (empty) error line.
        context = getattr(exc, "ctx", None)
        if context is not None:
            typer.echo(context.get_help())
        sys.exit(0)
    if isinstance(exc, _usage_error_types()):
        typer.echo(_usage_line(exc), err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    # A bug of ours: still one line, with the type, and never the locals of a frame.
    typer.echo(
        f"kmsdoctor: internal error: {type(exc).__name__}: {_one_line(str(exc), True)}",
        err=True,
    )
    sys.exit(EXIT_USAGE)
