"""No object byte, no plaintext, no ciphertext and no credential reaches text output, JSON
output, the snapshot, or the --debug log.

To make the check meaningful the object body is a recognisable sentence, and the GetObject is
answered in full (as by a server that ignores Range): the probe reads every byte of it and must
still record only the length. The random value is recognisable too (os.urandom patched), and the
ciphertext A makes is captured as it comes back, so both can be looked for."""

from __future__ import annotations

import base64
import contextlib
import copy
import logging

import pytest

import kmsdoctor.probe.decrypt as decrypt_module
from kmsdoctor.collect import CollectRequest, collect_snapshot
from kmsdoctor.probe import ProbeOptions, run_probes
from moto_fixtures.builder import load_scenario
from tests.probe.helpers import capture_requests, run_cli

BODY = "CONFIDENTIAL-REVENUE-ROW emea,42,SECRET-SENTINEL-7f3a\n" * 4
RANDOM_VALUE = b"PLAINTEXT-SENTINEL-0123456789ab!"  # 32 bytes


def _forms(value: bytes) -> list[str]:
    """The ways bytes could show up in text."""
    forms = [base64.b64encode(value).decode(), value.hex()]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(value.decode())
    return forms


@pytest.fixture
def leak_box(sandbox, aws_faults, monkeypatch):
    scenario = copy.deepcopy(load_scenario("healthy-cross-account-read"))
    scenario["source"]["objects"][0]["body"] = BODY
    scenario["probe"]["kms:Decrypt"] = {"ok": True}
    box = sandbox(scenario)
    aws_faults.answer_probes(box)

    def ignore_range(request):
        if "Range" in request.headers:
            del request.headers["Range"]

    capture_requests(monkeypatch, "GetObject", ignore_range)
    monkeypatch.setattr(decrypt_module.os, "urandom", lambda n: RANDOM_VALUE[:n])
    ciphertexts: list[bytes] = []
    original = decrypt_module.call

    def keep_ciphertext(aws_client, operation, **params):
        result = original(aws_client, operation, **params)
        if operation == "Encrypt" and result.ok:
            ciphertexts.append(result.response["CiphertextBlob"])
        return result

    monkeypatch.setattr(decrypt_module, "call", keep_ciphertext)
    # --debug attaches a stderr handler once per process; start clean so it binds to this run.
    monkeypatch.setattr(logging.getLogger("kmsdoctor"), "handlers", [])
    return box, ciphertexts


def _assert_clean(text: str, box, ciphertexts: list[bytes]) -> None:
    forbidden = ["SECRET-SENTINEL", "CONFIDENTIAL-REVENUE", *_forms(RANDOM_VALUE), *box.secrets]
    for ciphertext in ciphertexts:
        forbidden += _forms(ciphertext)
    for needle in forbidden:
        assert needle not in text


def test_text_json_and_debug_log_carry_no_body_plaintext_ciphertext_or_credential(leak_box, caplog):
    box, ciphertexts = leak_box
    caplog.set_level(logging.DEBUG)
    outputs = []
    for fmt in ("text", "json"):
        run = run_cli(*box.cli_args("diagnose", "--probe-decrypt", "--debug", "--format", fmt))
        assert run.exit_code == 0, run.output
        outputs += [run.stdout, run.stderr]
    assert ciphertexts, "the round trip ran"
    assert "aws s3:GetObject ok" in outputs[1]  # --debug did log the calls
    assert "plaintext matched" in outputs[2]  # and the JSON shows the round trip worked
    assert f"read {len(BODY)} byte(s)" in outputs[2]  # the whole body was read, then dropped
    for text in [*outputs, caplog.text]:
        _assert_clean(text, box, ciphertexts)


def test_the_snapshot_records_the_length_of_the_body_and_nothing_of_it(leak_box):
    box, ciphertexts = leak_box
    request = CollectRequest(
        "a", "b", box.bucket, box.scenario["command"]["key"], region=box.region
    )
    snapshot = collect_snapshot(request)
    snapshot.probes.extend(run_probes(request, snapshot, ProbeOptions(decrypt=True)))
    document = snapshot.to_json()

    get = next(p for p in snapshot.probes if p.operation == "s3:GetObject")
    assert get.facts == {"bytes_read": str(len(BODY))}  # every byte was read ... and dropped
    decrypt = next(p for p in snapshot.probes if p.operation == "kms:Decrypt")
    assert decrypt.facts["plaintext_matched"] == "true"
    _assert_clean(document, box, ciphertexts)
