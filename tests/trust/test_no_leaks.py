"""No secrets or data out: access keys, secret keys, session tokens and the object's bytes never
reach a snapshot, text or JSON output, the --debug log, or an error line — through collect,
analyze and diagnose (--no-probe; the probe's own body/plaintext handling is tested with it).

Every credential of the sandbox's profiles is known (`TrustSandbox.secrets`), and the object
holds distinctive bytes, so a leak anywhere is a plain substring match.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kmsdoctor.snapshot import Snapshot
from tests.trust.harness import OBJECT_BODY, USER_PROFILE, CliRun, TrustSandbox, run_kmsdoctor

OBJECT_MARKERS = ("TRUST-OBJECT-BYTES-5d1e0c9a", "emea,42", OBJECT_BODY)


def assert_nothing_secret(text: str, sandbox: TrustSandbox, where: str) -> None:
    assert len(sandbox.secrets) >= 8  # keys, secrets and tokens of A, B and carol
    for secret in sandbox.secrets:
        # A prefix too: a truncated dump of a token is still a leak.
        for piece in {secret, secret[:20]}:
            assert piece not in text, f"credential material in {where}"
    for marker in OBJECT_MARKERS:
        assert marker not in text, f"object bytes in {where}"


@pytest.mark.parametrize("profile", ["b", USER_PROFILE])
def test_collect_snapshot_and_its_debug_log_hold_no_credentials_or_object_bytes(
    profile, trust_sandbox, tmp_path
):
    output = tmp_path / "snapshot.json"
    run = run_kmsdoctor(
        *trust_sandbox.args("collect", "--output", str(output), "--debug", profile=profile)
    )
    assert run.exit_code == 0, run.stderr
    assert "aws kms:GetKeyPolicy ok" in run.stderr  # the debug log did run
    snapshot_text = output.read_text(encoding="utf-8")
    view = Snapshot.from_json(snapshot_text).combined_view()
    assert view.source.object.is_ok  # the object was looked at
    assert_nothing_secret(snapshot_text, trust_sandbox, "the snapshot")
    assert_nothing_secret(run.output, trust_sandbox, "collect's output and --debug log")

    for output_format in ("text", "json"):
        analyzed = run_kmsdoctor("analyze", str(output), "--format", output_format)
        assert analyzed.exit_code in (0, 3), analyzed.output
        assert_nothing_secret(analyzed.output, trust_sandbox, f"analyze --format {output_format}")


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_diagnose_output_and_debug_log_hold_no_credentials_or_object_bytes(
    output_format, trust_sandbox
):
    run = run_kmsdoctor(
        *trust_sandbox.args("diagnose", "--no-probe", "--debug", "--format", output_format)
    )
    assert run.exit_code == 0, run.output
    assert "aws sts:GetCallerIdentity ok" in run.stderr
    assert_nothing_secret(run.output, trust_sandbox, f"diagnose --format {output_format}")


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {self.format(record)}")


@pytest.fixture
def root_logger_at_debug() -> Iterator[_Everything]:
    """What an embedding program with DEBUG logging everywhere would see."""
    root = logging.getLogger()
    handler, level = _Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name in ("botocore", "boto3", "urllib3"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_debug_keeps_botocore_quiet_even_when_the_root_logger_is_at_debug(
    trust_sandbox, root_logger_at_debug
):
    """botocore at DEBUG logs request headers (X-Amz-Security-Token) and bodies; --debug pins
    it to WARNING, so whatever else is configured only kmsdoctor's own lines appear."""
    run = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe", "--debug"))
    assert run.exit_code == 0, run.output
    lines = root_logger_at_debug.lines
    assert any(line.startswith("kmsdoctor.aws: aws kms:GetKeyPolicy ok") for line in lines)
    assert [line for line in lines if line.startswith(("botocore", "urllib3", "boto3"))] == []
    assert_nothing_secret("\n".join(lines), trust_sandbox, "the log records")


# --- internal errors -------------------------------------------------------------------------


def _credentials_of(sandbox: TrustSandbox) -> dict[str, Any]:
    access_key, secret_key, token = sandbox.box.secrets[:3]
    return {
        "aws_access_key_id": access_key,
        "aws_secret_access_key": secret_key,
        "aws_session_token": token,
    }


@pytest.mark.parametrize(
    "message",
    [
        # a dict of credentials in an exception message (repr with keywords)
        lambda creds: f"unexpected credentials object {creds!r}",
        # the bare values, no keyword to tell what they are
        lambda creds: "state: " + " ".join(creds.values()),
        # a multi-line message must still end as one line
        lambda creds: "line one\nsecret " + creds["aws_secret_access_key"] + "\nline three",
    ],
    ids=["credentials-dict", "bare-values", "multi-line"],
)
def test_internal_error_is_one_line_without_traceback_or_credentials(
    message, trust_sandbox, monkeypatch
):
    """A bug of ours surfaces as `kmsdoctor: internal error: TYPE: message` (exit 2), with the
    message scrubbed: it may carry anything the failing code held."""
    text = message(_credentials_of(trust_sandbox))

    def broken_collector(*_: Any, **__: Any) -> Any:
        raise RuntimeError(text)

    monkeypatch.setattr("kmsdoctor.collect.plan.collect_vpc_endpoints", broken_collector)
    run: CliRun = run_kmsdoctor(*trust_sandbox.args("diagnose", "--no-probe"))
    line = run.one_line_error()
    assert line.startswith("kmsdoctor: internal error: RuntimeError: ")
    assert_nothing_secret(run.output, trust_sandbox, "the internal error line")
