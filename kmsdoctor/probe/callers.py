"""Who the probe calls as: the sessions, the clients and the assumed roles.

None of this depends on anything collected, only on the command line, so `kmsdoctor diagnose`
runs `prepare_callers` while the snapshot is being collected; the probe calls themselves wait
for the snapshot (they ask about the key, the object and the Regions it recorded).

- no `--role-arn`: the target profile's own session;
- each `--role-arn`: a session assumed from the target profile (`sts:AssumeRole`, session name
  `kmsdoctor-probe`), or AWS's refusal, which the probe records;
- with `--probe-decrypt`: the source profile's session, for A's Encrypt.

`kmsdoctor check` names principals of several accounts: `assume_principals` assumes each role
from the profile of *its own* account (`[accounts]` of the check file), and `callers_for` gives
the `ProbeCallers` of one such principal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmsdoctor.aws import AwsCallFailed, assume_role, client, session_for
from kmsdoctor.concurrency import Once, worker_pool
from kmsdoctor.probe.subject import ProbePrincipal
from kmsdoctor.snapshot import CallError

if TYPE_CHECKING:
    import boto3

    from kmsdoctor.collect import CollectRequest

PROBE_SESSION_NAME = "kmsdoctor-probe"  # shows in CloudTrail as the session of each probe call
MAX_PRINCIPAL_WORKERS = 8


class Clients:
    """One identity's clients, each made once per Region: ahead of time for the Region the probe
    expects (`ready`), on first use for another one the snapshot names (a key in another
    Region). Clients are thread-safe; the principal's workers share them."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str], Any] = {}
        self._answers: Once[tuple[str, ...], Any] = Once()

    def read_once(self, call_key: tuple[str, ...], make_call: Callable[[], Any]) -> Any:
        """A read-only call's answer as this identity, made once however many probes of one run
        ask it (`check` probes a principal on several objects under one key: one
        GetCallerIdentity and one DescribeKey of that key, not one per object)."""
        return self._answers.get(call_key, make_call)

    def sts(self, region: str) -> Any:
        return self._once("sts", region, lambda: client(self.session, "sts", region))

    def kms(self, region: str) -> Any:
        return self._once("kms", region, lambda: client(self.session, "kms", region))

    def s3(self, region: str) -> Any:
        return self._once("s3", region, lambda: client(self.session, "s3", region))

    def ready(self, region: str | None) -> Clients:
        """Make now the clients a principal's probe calls use in `region` (None: no Region is
        known yet, and the collection will say so)."""
        if region:
            self.sts(region)
            self.kms(region)
            self.s3(region)
        return self

    def _once(self, service: str, region: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if (service, region) not in self._made:
                self._made[service, region] = make()
            return self._made[service, region]


@dataclass(frozen=True)
class ProbeCallers:
    region: str | None  # the Region the sessions were made for (the snapshot's request Region)
    caller: Clients  # the target profile itself
    roles: dict[str, Clients | CallError]  # by --role-arn: its clients, or why AssumeRole failed
    source: Clients | None  # account A, for --probe-decrypt's Encrypt

    def covers(self, principals: list[ProbePrincipal]) -> bool:
        """Whether every principal to probe as has its session here (a snapshot made from
        another request could name a role this was not prepared for)."""
        return all(not p.assume or p.arn in self.roles for p in principals)

    def as_principal(self, principal: ProbePrincipal) -> Clients | CallError:
        return self.roles[principal.arn] if principal.assume else self.caller


def prepare_callers(
    request: CollectRequest, decrypt: bool, region: str | None = None
) -> ProbeCallers:
    """The sessions and clients of every principal the request names, its roles assumed.

    `region` is the snapshot's Region; before there is a snapshot it is resolved as
    `collect_snapshot` resolves it: `--region`, else the source profile's, else the target's.
    """
    if region is None:
        region = (
            request.region
            or session_for(request.source_profile, None).region_name
            or session_for(request.target_profile, None).region_name
        )
    caller = Clients(session_for(request.target_profile, region))
    source = None
    if decrypt:
        source = Clients(session_for(request.source_profile, region))
        if region:
            source.kms(region)
    roles: dict[str, Clients | CallError] = {}
    if request.role_arns:
        arns = list(dict.fromkeys(request.role_arns))
        with worker_pool(min(len(arns), MAX_PRINCIPAL_WORKERS)) as pool:
            futures = [pool.submit(_assume, caller.session, arn, region) for arn in arns]
            roles = {arn: future.result() for arn, future in zip(arns, futures, strict=True)}
    else:
        caller.ready(region)
    return ProbeCallers(region, caller, roles, source)


def _assume(caller: boto3.Session, role_arn: str, region: str | None) -> Clients | CallError:
    try:
        session = assume_role(caller, role_arn, PROBE_SESSION_NAME)
    except AwsCallFailed as failed:
        return failed.error
    return Clients(session).ready(region)


def assume_principals(
    principals: list[str], profiles: dict[str, str | None], region: str | None
) -> dict[str, Clients | CallError]:
    """A session of each role in `principals`, assumed from the profile of the role's own
    account (`profiles`: account id -> profile), or why it could not be: AWS's refusal, or
    no profile for the account. One session per profile, every AssumeRole at once."""
    from kmsdoctor.arn import account_of

    sessions: dict[str, Any] = {}
    for account in dict.fromkeys(account_of(arn) for arn in principals):
        profile = profiles.get(account)
        if profile is not None:
            sessions[account] = session_for(profile, region)
    arns = list(dict.fromkeys(principals))
    assumed: dict[str, Clients | CallError] = {}
    to_assume: list[str] = []
    for arn in arns:
        if account_of(arn) in sessions:
            to_assume.append(arn)
        else:
            assumed[arn] = CallError(
                "sts:AssumeRole",
                "NoProfile",
                f"no profile reads account {account_of(arn)}, so nothing assumes its roles",
            )
    if to_assume:
        with worker_pool(min(len(to_assume), MAX_PRINCIPAL_WORKERS)) as pool:
            futures = [
                pool.submit(_assume, sessions[account_of(arn)], arn, region) for arn in to_assume
            ]
            for arn, future in zip(to_assume, futures, strict=True):
                assumed[arn] = future.result()
    return assumed


def callers_for(principal: str, assumed: Clients, region: str | None) -> ProbeCallers:
    """The callers that probe as `principal` alone, from its assumed session."""
    return ProbeCallers(region, assumed, {principal: assumed}, None)
