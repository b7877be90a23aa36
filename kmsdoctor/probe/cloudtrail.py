"""`--cloudtrail`: recent denied KMS events for each principal and the key, in BOTH accounts.

Where a denial of the S3 → KMS call is recorded tells the locks apart (reference 002):

- the key owner's trail (A) → the key policy said no;
- the caller's trail (B) → the caller's own identity policy said no;
- no KMS event at all → the request stopped at S3 (bucket policy), before KMS was asked.

KMS events are management events, so `cloudtrail:LookupEvents` finds them without a trail
configured for data events. The lookup is read-only and bounded: the last `LOOKBACK` of events
named Decrypt (GenerateDataKey for writes) in the key's Region, at most `MAX_PAGES` pages of
`PAGE_SIZE`. Each event's own CloudTrail JSON is read for errorCode, the principal and the key;
only those fields are kept (an event also carries an access key id, which is never copied).

The result for each principal and account is one `ProbeCall` (`cloudtrail:LookupEvents`) whose
`facts` say what was found; the analysis reads them offline like any other probe result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from kmsdoctor.arn import account_of, name_of, parse_arn, partition_of
from kmsdoctor.aws import call, client, session_for
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.probe.subject import probe_subject
from kmsdoctor.redact import redact
from kmsdoctor.snapshot import CallError, PrincipalInfo, ProbeCall, Snapshot, SnapshotView

if TYPE_CHECKING:
    from kmsdoctor.collect import CollectRequest

LOOKBACK = timedelta(minutes=60)
MAX_PAGES = 5
PAGE_SIZE = 50  # the most LookupEvents returns per page

TrailSide = Literal["source", "target"]


@dataclass(frozen=True)
class DeniedEvent:
    """The few fields of one denied KMS event that the diagnosis needs."""

    event_id: str
    event_time: str
    event_name: str
    error_code: str
    error_message: str
    principal: str  # userIdentity.arn, or accountId/principalId when the trail shows no ARN
    principal_account: str
    principal_id: str
    session_issuer: str
    key_arns: tuple[str, ...]


@dataclass(frozen=True)
class TrailPage:
    """Everything one account's lookup returned (or why it could not be read)."""

    side: TrailSide
    account: str
    events: list[DeniedEvent]
    pages_read: int
    truncated: bool  # more pages were left unread
    error: CallError | None = None


def lookup_denials(
    request: CollectRequest, snapshot: Snapshot | SnapshotView, now: datetime | None = None
) -> list[ProbeCall]:
    """One `cloudtrail:LookupEvents` ProbeCall per principal and account (A, then B)."""
    if isinstance(snapshot, Snapshot):
        snapshot = snapshot.combined_view()
    subject = probe_subject(snapshot)
    region = subject.key_region
    event_name = "GenerateDataKey" if snapshot.request.operation == "write" else "Decrypt"
    end = now or datetime.now(UTC)
    start = end - LOOKBACK
    accounts: list[tuple[TrailSide, str | None, str]] = [
        ("source", request.source_profile, _account(snapshot, "source")),
        ("target", request.target_profile, _account(snapshot, "target")),
    ]
    sessions = [(side, session_for(profile, region), acct) for side, profile, acct in accounts]
    with worker_pool(len(sessions)) as pool:
        futures = [
            pool.submit(_read_trail, side, session, account, region, event_name, start, end)
            for side, session, account in sessions
        ]
        trails = [future.result() for future in futures]
    calls: list[ProbeCall] = []
    for principal in snapshot.target.principals:
        for trail in trails:
            calls.append(_lookup_call(principal, trail, subject.key_arn, event_name))
    return calls


def _account(snapshot: SnapshotView, side: TrailSide) -> str:
    fetched = snapshot.source.account_id if side == "source" else snapshot.target.account_id
    return (fetched.value or "") if fetched.is_ok else ""


def _read_trail(
    side: TrailSide,
    session: Any,
    account: str,
    region: str,
    event_name: str,
    start: datetime,
    end: datetime,
) -> TrailPage:
    trail = client(session, "cloudtrail", region)
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": event_name}],
        "StartTime": start,
        "EndTime": end,
        "MaxResults": PAGE_SIZE,
    }
    events: list[DeniedEvent] = []
    pages = 0
    next_token: str | None = None
    while pages < MAX_PAGES:
        if next_token:
            params["NextToken"] = next_token
        result = call(trail, "LookupEvents", **params)
        if not result.ok:
            return TrailPage(side, account, events, pages, False, result.error)
        assert result.response is not None
        pages += 1
        for raw in result.response.get("Events", []):
            event = _denied_event(raw)
            if event is not None:
                events.append(event)
        next_token = result.response.get("NextToken")
        if not next_token:
            break
    return TrailPage(side, account, events, pages, truncated=bool(next_token))


def _denied_event(raw: dict[str, Any]) -> DeniedEvent | None:
    """The event's own record, when it is an AccessDenied* KMS event; else None."""
    try:
        record = json.loads(raw.get("CloudTrailEvent") or "{}")
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    error_code = str(record.get("errorCode") or "")
    if not error_code.startswith("AccessDenied"):
        return None
    identity = record.get("userIdentity") or {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn", "")
    account = str(identity.get("accountId") or "")
    principal_id = str(identity.get("principalId") or "")
    principal = str(identity.get("arn") or f"{account}/{principal_id}")
    keys = {str(r.get("ARN")) for r in record.get("resources") or [] if r.get("ARN")}
    keys |= {
        str(r.get("ResourceName"))
        for r in raw.get("Resources") or []
        if parse_arn(str(r.get("ResourceName", ""))) is not None
    }
    return DeniedEvent(
        event_id=str(record.get("eventID") or raw.get("EventId") or ""),
        event_time=str(record.get("eventTime") or _iso(raw.get("EventTime"))),
        event_name=str(record.get("eventName") or raw.get("EventName") or ""),
        error_code=error_code,
        error_message=redact(str(record.get("errorMessage") or "")),
        principal=principal,
        principal_account=account,
        principal_id=principal_id,
        session_issuer=str(issuer or ""),
        key_arns=tuple(sorted(keys)),
    )


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def event_is_for(event: DeniedEvent, principal: PrincipalInfo, key_arn: str | None) -> bool:
    """The event is this principal's, about this key (when the event names a key)."""
    if key_arn and event.key_arns and key_arn not in event.key_arns:
        return False
    if principal.arn in (event.session_issuer, event.principal):
        return True
    partition, account, name = (
        partition_of(principal.arn),
        account_of(principal.arn),
        name_of(principal.arn),
    )
    if principal.kind == "role" and event.principal.startswith(
        f"arn:{partition}:sts::{account}:assumed-role/{name}/"
    ):
        return True
    # The key owner's copy of a cross-account event may show only the account and principalId
    # ("AROA…:session"): match the role's unique id, as it is now.
    entity = principal.entity.value if principal.entity.is_ok else None
    if entity is not None and entity.unique_id and event.principal_account == account:
        return event.principal_id.split(":", 1)[0] == entity.unique_id
    return False


def _lookup_call(
    principal: PrincipalInfo, trail: TrailPage, key_arn: str | None, event_name: str
) -> ProbeCall:
    who = "A" if trail.side == "source" else "B"
    place = f"{who}'s trail ({trail.account or 'account not known'})"
    facts = {
        "trail_side": trail.side,
        "trail_account": trail.account,
        "event_name": event_name,
        "window_minutes": str(int(LOOKBACK.total_seconds() // 60)),
        "pages_read": str(trail.pages_read),
        "truncated": "true" if trail.truncated else "false",
    }
    if trail.error is not None:
        return ProbeCall(
            principal_arn=principal.arn,
            operation="cloudtrail:LookupEvents",
            outcome="error",
            error_code=trail.error.code,
            error_message=trail.error.message,
            detail=f"{place} could not be searched",
            facts=facts,
        )
    mine = [e for e in trail.events if event_is_for(e, principal, key_arn)]
    mine.sort(key=lambda e: e.event_time, reverse=True)
    facts["denied_events"] = str(len(mine))
    detail = f"{place}: no denied {event_name} for this principal and key in the last hour"
    if mine:
        latest = mine[0]
        facts.update(
            {
                "latest_event_id": latest.event_id,
                "latest_event_time": latest.event_time,
                "latest_error_code": latest.error_code,
                "latest_error_message": latest.error_message,
                "latest_principal": latest.principal,
            }
        )
        detail = (
            f"{place}: {len(mine)} denied {event_name} event(s) for this principal and key in "
            f"the last hour (latest {latest.event_time}, {latest.error_code})"
        )
    if trail.truncated:
        detail += f"; only the newest {trail.pages_read} page(s) were read"
    return ProbeCall(
        principal_arn=principal.arn,
        operation="cloudtrail:LookupEvents",
        outcome="ok",
        http_status=200,
        detail=detail,
        facts=facts,
    )
