"""The pipeline's probe: a one-byte GET of each real artifact, as each role that reads it.

Only with `--execution` (there must be a real object) and only for roles whose account has a
profile: the role is assumed from that profile. The calls are the probe's own
(`kmsdoctor.probe.calls`: GetCallerIdentity, DescribeKey, HeadObject, GetObject of one byte),
each tagged with the object it was about, so the analysis reconciles a principal's answer for
one artifact with the probe of that artifact only. Writes are never probed (read-only).
"""

from __future__ import annotations

from typing import Any

from kmsdoctor.aws import AwsCallFailed, assume_role, session_for
from kmsdoctor.collect.fetch import parallel
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.probe.callers import Clients
from kmsdoctor.probe.calls import describe_key, get_one_byte, head_object, who_am_i
from kmsdoctor.probe.subject import ProbeSubject, probe_subject
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import ProbeCall

MAX_ROLES_AT_ONCE = 8


def probe_artifacts(
    snapshot: Any, questions: list[Question], profiles: dict[str, str | None], region: str
) -> list[ProbeCall]:
    by_principal: dict[str, list[Question]] = {}
    for question in questions:
        if question.operation != "read" or question.key is None:
            continue
        account = question.principal.split(":")[4] if question.principal.count(":") >= 5 else ""
        if profiles.get(account):
            by_principal.setdefault(question.principal, []).append(question)
    if not by_principal:
        return []
    calls: list[ProbeCall] = []
    with worker_pool(min(len(by_principal), MAX_ROLES_AT_ONCE)) as pool:
        futures = [
            pool.submit(_probe_role, snapshot, principal, owned, profiles, region)
            for principal, owned in by_principal.items()
        ]
        for future in futures:
            calls.extend(future.result())
    return calls


def _probe_role(
    snapshot: Any,
    principal: str,
    questions: list[Question],
    profiles: dict[str, str | None],
    region: str,
) -> list[ProbeCall]:
    account = principal.split(":")[4]
    profile = profiles[account]
    try:
        clients = Clients(
            assume_role(session_for(profile, region), principal, "kmsdoctor-pipeline")
        )
    except AwsCallFailed as exc:
        return [
            _tagged(
                ProbeCall(
                    principal_arn=principal,
                    operation="sts:AssumeRole",
                    outcome="error",
                    error_code=exc.error.code,
                    error_message=exc.error.message,
                    detail=f"profile {profile!r} could not assume this role: nothing was probed "
                    "as it",
                ),
                question,
            )
            for question in questions
        ]
    calls: list[ProbeCall] = []
    for question in questions:
        subject = probe_subject(snapshot.view(question, question.key))
        calls.extend(
            _tagged(call, question) for call in _probe_object(clients, principal, subject, region)
        )
    return calls


def _probe_object(
    clients: Clients, principal: str, subject: ProbeSubject, region: str
) -> list[ProbeCall]:
    """The probe's four calls about one object, at once (as `diagnose` makes them)."""
    return parallel(
        lambda: who_am_i(clients, principal, region),
        lambda: describe_key(clients, principal, subject),
        lambda: head_object(clients, principal, subject),
        lambda: get_one_byte(clients, principal, subject),
    )


def _tagged(call: ProbeCall, question: Question) -> ProbeCall:
    call.facts = {**call.facts, "object_key": question.key or "", "bucket": question.bucket}
    return call
