"""Several --role-arn principals: each is assumed from the target profile and probed in its own
worker, at the same time as the others; one that cannot be assumed does not stop the rest."""

from __future__ import annotations

import threading

import botocore.handlers

from moto_fixtures.faults import error_response
from tests.probe.helpers import B, codes_and_locks, diagnose_json

# The fixture's probe section answers DeployExecutionRole's GET with AWS's KMS denial
# (`probe.roles`); the other three roles read their byte.
PIPELINE = "pipeline-execution-role-missing-from-key-policy"
ROLES = ("PipelineRole", "BuildRole", "DeployActionRole", "DeployExecutionRole")


def _by_role(report):
    return {p["principal"].rsplit("/", 1)[-1]: p for p in report["principals"]}


def test_every_role_is_assumed_and_probed_concurrently(sandbox, aws_faults):
    box = sandbox(PIPELINE)
    aws_faults.answer_probes(box)
    # All four AssumeRole calls must be in flight at once, or this barrier breaks.
    barrier = threading.Barrier(len(ROLES), timeout=20)

    def wait_for_the_others(name):
        if name == "sts:AssumeRole":
            barrier.wait()

    aws_faults.observers.append(wait_for_the_others)
    report, exit_code = diagnose_json(box)

    assert exit_code == 1 and report["verdict"] == "deny"
    results = _by_role(report)
    for role in ROLES:
        probe = results[role]["probe"]
        assert probe["status"] == "agrees", (role, probe["summary"])
        who = next(c for c in probe["calls"] if c["operation"] == "sts:GetCallerIdentity")
        assert f"assumed-role/{role}/kmsdoctor-probe" in who["meaning"]
    assert results["DeployExecutionRole"]["verdict"] == "deny"
    assert ("KD706", "key_policy") in {
        (f["code"], f["lock"]) for f in results["DeployExecutionRole"]["findings"]
    }
    assert all(results[r]["verdict"] == "allow" for r in ROLES[:3])


def test_a_role_that_cannot_be_assumed_is_reported_and_the_others_are_probed(
    sandbox, aws_faults, monkeypatch
):
    box = sandbox(PIPELINE)
    aws_faults.answer_probes(box)
    refusal = (
        f"User: arn:aws:sts::{B}:assumed-role/PipelineRole/kmsdoctor-sandbox is not authorized "
        f"to perform: sts:AssumeRole on resource: arn:aws:iam::{B}:role/DeployExecutionRole"
    )

    def refuse_deploy_execution_role(request, event_name, **_):
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if event_name.endswith("sts.AssumeRole") and "DeployExecutionRole" in body:
            return error_response("sts", "AccessDenied", refusal, 403, request.url)
        return None

    handlers = [
        ("before-send", refuse_deploy_execution_role, botocore.handlers.REGISTER_FIRST),
        *botocore.handlers.BUILTIN_HANDLERS,
    ]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    report, exit_code = diagnose_json(box)

    results = _by_role(report)
    refused = results["DeployExecutionRole"]
    assert refused["probe"]["status"] == "partial"
    calls = {c["operation"]: c for c in refused["probe"]["calls"]}
    assert calls["sts:AssumeRole"]["error_code"] == "AccessDenied"
    assert calls["sts:AssumeRole"]["error_message"] == refusal
    assert calls["s3:GetObject"]["outcome"] == "skipped"
    assert ("KD708", "identity") in {(f["code"], f["lock"]) for f in refused["findings"]}
    assert refused["verdict"] == "deny"  # the analysis's own, with nothing from the probe
    for role in ROLES[:3]:
        assert results[role]["probe"]["status"] == "agrees"
    assert exit_code == 1
    assert ("KD708", "identity") in codes_and_locks(report)


def test_roles_are_assumed_once_each_while_the_configuration_is_still_being_read(
    sandbox, aws_faults, monkeypatch
):
    """Whom the probe calls as depends on nothing collected, so the probe's AssumeRoles overlap
    the collection instead of adding a round trip after it — and each role is assumed once."""
    box = sandbox(PIPELINE)
    aws_faults.answer_probes(box)
    probe_assumes: list[str] = []
    all_assumed = threading.Event()
    assumed_before_grants: list[int] = []

    def count_probe_assume_roles(request, event_name, **_):
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if event_name.endswith("sts.AssumeRole") and "kmsdoctor-probe" in body:
            probe_assumes.append(body)
            if len(probe_assumes) == len(ROLES):
                all_assumed.set()
        if event_name.endswith("kms.ListGrants"):  # a collector call, at the end of a chain
            # Were the roles assumed only after the collection, this would wait in vain.
            all_assumed.wait(timeout=15)
            assumed_before_grants.append(len(probe_assumes))
        return None

    handlers = [
        ("before-send", count_probe_assume_roles, botocore.handlers.REGISTER_FIRST),
        *botocore.handlers.BUILTIN_HANDLERS,
    ]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    report, exit_code = diagnose_json(box)

    assert exit_code == 1 and report["verdict"] == "deny"
    assert assumed_before_grants and assumed_before_grants[0] == len(ROLES)
    assert len(probe_assumes) == len(ROLES)
    for role, result in _by_role(report).items():
        assert result["probe"]["status"] == "agrees", (role, result["probe"]["summary"])
