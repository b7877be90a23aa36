"""The command line. Thin on purpose: parse options, call one stage after another, print.

Nothing here imports boto3 at module level, so `kmsdoctor --help` and `kmsdoctor explain` stay
fast and work without AWS libraries being loaded.
"""

from __future__ import annotations

import atexit
import gc
import os
import re
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kmsdoctor.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError

app = typer.Typer(
    name="kmsdoctor",
    help="Find which lock is shut when a cross-account read of an SSE-KMS S3 object is denied.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


SourceProfile = Annotated[
    str | None,
    typer.Option(help="Profile for account A, which owns the bucket and the KMS key."),
]
TargetProfile = Annotated[
    str | None,
    typer.Option(help="Profile for account B, the caller's account (or the caller itself)."),
]
Bucket = Annotated[str, typer.Option(help="The bucket name (not an ARN).")]
ObjectKey = Annotated[str | None, typer.Option("--key", help="The object key that is denied.")]
RoleArns = Annotated[
    list[str] | None,
    typer.Option(
        "--role-arn",
        help="A role in B to check instead of the target profile's own identity. Repeatable.",
    ),
]
Region = Annotated[str | None, typer.Option(help="Region of the bucket and key.")]
KmsKey = Annotated[
    str | None,
    typer.Option(
        "--kms-key",
        help="The KMS key to check (ARN, id or alias in A), e.g. from the AccessDenied message. "
        "The key recorded on the object still wins when the object can be read.",
    ),
]
OperationOpt = Annotated[
    Operation,
    typer.Option(help="read: GetObject + kms:Decrypt. write: PutObject + GenerateDataKey."),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", help="text for people, json for scripts."),
]
DebugOpt = Annotated[bool, typer.Option(help="Log each AWS call (never credentials or data).")]
KeyPolicyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-policy", help="What if: analyse with this key policy (a JSON file) in place."
    ),
]
BucketPolicyFile = Annotated[
    Path | None,
    typer.Option(
        "--bucket-policy", help="What if: analyse with this bucket policy (a JSON file) in place."
    ),
]
IdentityPolicyFiles = Annotated[
    list[str] | None,
    typer.Option(
        "--identity-policy",
        help="What if: add or replace the caller's inline policy NAME with FILE (NAME=FILE). "
        "Repeatable.",
    ),
]


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


def _what_if(
    key_policy: Path | None, bucket_policy: Path | None, identity_policy: list[str] | None
):
    from kmsdoctor.analyze.whatif import WhatIf

    what_if = WhatIf()
    if key_policy is not None:
        what_if.key_policy = _policy_file("--key-policy", key_policy)
        what_if.sources["key_policy"] = str(key_policy)
    if bucket_policy is not None:
        what_if.bucket_policy = _policy_file("--bucket-policy", bucket_policy)
        what_if.sources["bucket_policy"] = str(bucket_policy)
    for entry in identity_policy or []:
        name, sep, file = entry.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise UsageError(f"--identity-policy: expected NAME=FILE, got {entry!r}")
        name = name.strip()
        what_if.identity_policies[name] = _policy_file("--identity-policy", Path(file.strip()))
        what_if.sources[f"identity:{name}"] = file.strip()
    return what_if


def _setup_logging(debug: bool) -> None:
    if debug:
        from kmsdoctor.logs import enable_debug_logging

        enable_debug_logging()


@app.command()
def collect(
    bucket: Bucket,
    output: Annotated[Path, typer.Option(help="Where to write the snapshot JSON.")],
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
    """Read both accounts' configuration into one snapshot file (read-only)."""
    _setup_logging(debug)
    from kmsdoctor.collect import collect_snapshot

    request = _collect_request(
        source_profile, target_profile, bucket, key, role_arn, region, operation, kms_key
    )
    snapshot = collect_snapshot(request)
    try:
        output.write_text(snapshot.to_json(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    _report_collection(snapshot, output, output_format)


def _report_collection(snapshot, output: Path, output_format: OutputFormat) -> None:
    """What was written, and which facts the profiles could not read (scripts check these)."""
    import json

    from kmsdoctor.snapshot import unknown_facts

    unknown = unknown_facts(snapshot)
    if output_format is OutputFormat.json:
        document = {
            "schema_version": snapshot.schema_version,
            "output": str(output),
            "unknown": [
                {"where": where, "operation": error.operation, "code": error.code}
                for where, error in unknown
            ],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"snapshot written to {output}")
    for where, error in unknown:
        call = f"{error.operation} " if error.operation else ""
        typer.echo(f"  unknown: {where} ({call}{error.code})")


@app.command()
def analyze(
    snapshot_file: Annotated[Path, typer.Argument(help="A snapshot written by `collect`.")],
    output_format: FormatOpt = OutputFormat.text,
    key_policy: KeyPolicyFile = None,
    bucket_policy: BucketPolicyFile = None,
    identity_policy: IdentityPolicyFiles = None,
) -> None:
    """Diagnose offline from a snapshot file. No AWS access.

    With --key-policy, --bucket-policy or --identity-policy, a proposed policy is checked before
    it is applied: the snapshot is analysed with that document in place of the collected one.
    """
    from kmsdoctor.analyze import analyze_snapshot
    from kmsdoctor.report import emit
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
    raise typer.Exit(emit(diagnosis, output_format.value))


@app.command()
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
        bool, typer.Option("--no-probe", help="Analyse policies only; make no calls as the caller.")
    ] = False,
    probe_decrypt: Annotated[
        bool,
        typer.Option(help="Also run a kms:Decrypt round trip (A encrypts a random value)."),
    ] = False,
    cloudtrail: Annotated[
        bool, typer.Option(help="Look up recent denied KMS events in both accounts' CloudTrail.")
    ] = False,
    output_format: FormatOpt = OutputFormat.text,
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
    from kmsdoctor.diagnose import DiagnoseOptions, run_diagnosis

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
    diagnosis = run_diagnosis(request, options)
    from kmsdoctor.report import emit

    code = emit(diagnosis, output_format.value)
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


@app.command()
def explain(
    message: Annotated[
        str | None,
        typer.Argument(help="The error message; read from stdin when omitted or '-'."),
    ] = None,
    output_format: FormatOpt = OutputFormat.text,
) -> None:
    """Read an AccessDenied or KMS error message and say which lock it names. No AWS access."""
    from kmsdoctor.explain import emit_explanation, explain_message

    if message is None or message == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("explain: give the error message as an argument or on stdin")
        message = sys.stdin.read()
    if not message.strip():
        raise UsageError("explain: the error message is empty")
    raise typer.Exit(emit_explanation(explain_message(message), output_format.value))


def main() -> None:
    """Console entry point: contract exit codes, one line on error, never a traceback."""
    # At exit the interpreter's last garbage collection walks every object still alive; after a
    # diagnosis that is boto3's service models and clients, ~0.3 s for nothing (the process is
    # ending). Frozen objects are skipped; files are still flushed and closed as usual.
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process (tests)
    atexit.register(gc.freeze)
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C (KeyboardInterrupt) into Exit(130)
            _exit_interrupted()
    except UsageError as exc:
        typer.echo(f"kmsdoctor: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _exit_interrupted()
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
    if isinstance(exc, _usage_error_types()):
        typer.echo(_usage_line(exc), err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    # A bug of ours: still one line, with the type, and never the locals of a frame.
    typer.echo(
        f"kmsdoctor: internal error: {type(exc).__name__}: {_one_line(str(exc), True)}",
        err=True,
    )
    sys.exit(EXIT_USAGE)
