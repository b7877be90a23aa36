"""The `who-can` command: list every role and user of each readable account, answer each with
the analysis `diagnose` uses, and print the listing (text table or JSON).

collect (the bucket, object and key once; each account's principals with one paginated call)
→ analyze (`kmsdoctor.analyze.whocan`) → print. The CLI only parses options and calls `run`.

Exit codes (who-can is a listing, not a verdict): 0 when every principal of every account was
answered allow or deny; 3 when something could not be decided (an account whose principals
could not be listed, or a principal whose verdict is unknown); 2 for usage errors. A principal
that cannot is not a failure of the listing, so 1 is never returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

from kmsdoctor import __version__
from kmsdoctor.analyze.whocan import WhoCanResult
from kmsdoctor.errors import EXIT_ALLOW, EXIT_UNKNOWN

# Version of the who-can JSON document. Bump on any incompatible change.
WHO_CAN_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class WhoCanRequest:
    source_profile: str | None  # reads the resource account (bucket, key) and its principals
    target_profile: str | None  # reads the caller account's principals
    bucket: str
    key: str | None
    operation: Literal["read", "write"] = "read"
    region: str | None = None
    kms_key: str | None = None


def exit_code_of(result: WhoCanResult) -> int:
    return EXIT_ALLOW if result.complete else EXIT_UNKNOWN


def run(request: WhoCanRequest) -> WhoCanResult:
    """Collect what the request needs and answer every listed principal.

    Two independent chains run at once: the fact store reads the bucket, object, key and each
    account's organization once (`collect_facts`, as `diagnose` does), and each profile lists
    its account's principals (`iam:GetAccountAuthorizationDetails`). The store's own
    GetCallerIdentity tells which account each listing is of, so nothing is read twice."""
    from kmsdoctor.analyze.whocan import who_can
    from kmsdoctor.aws import client, session_for
    from kmsdoctor.collect import CollectionPlan, ProfilePair, collect_facts
    from kmsdoctor.collect.account_principals import collect_account_principals
    from kmsdoctor.collect.fetch import parallel
    from kmsdoctor.questions import Question

    profiles = list(dict.fromkeys([request.source_profile, request.target_profile]))
    # Clients are made here, in this thread (boto3 sessions are not thread-safe); the plan
    # makes its own.
    iam_clients = [client(session_for(profile, request.region), "iam") for profile in profiles]
    plan = CollectionPlan(
        # The caller profile's own identity stands for its account: the plan then reads that
        # account's organization, SCPs and VPC endpoints; the resource account's organization
        # and RCPs come with the bucket.
        questions=[Question("", request.bucket, request.key, None, request.operation)],
        region=request.region,
        kms_key=request.kms_key,
        pair=ProfilePair(resource=request.source_profile, caller=request.target_profile),
    )
    results = parallel(
        lambda: collect_facts(plan),
        *[(lambda iam=iam: collect_account_principals(iam)) for iam in iam_clients],
    )
    snapshot, listings = results[0], results[1:]
    listed = {}
    for profile, listing in zip(profiles, listings, strict=True):
        account = _account_of_profile(snapshot, profile)
        listed[account] = listing.principals
    return who_can(snapshot, request.bucket, request.key, request.operation, listed)


def _account_of_profile(snapshot: Any, profile: str | None) -> str:
    for account_id, facts in snapshot.accounts.items():
        if facts.profile == profile:
            return account_id
    # The plan identifies every profile it opens before reading anything.
    raise AssertionError(f"profile {profile!r} was not identified")


# --- JSON ------------------------------------------------------------------------------------


def to_document(result: WhoCanResult, generated_at: str | None = None) -> dict[str, Any]:
    """The who-can JSON contract (DESIGN §4; docs/who-can.md)."""
    body = result.to_dict()
    return {
        "schema_version": WHO_CAN_SCHEMA_VERSION,
        "kmsdoctor_version": __version__,
        "generated_at": generated_at or _now(),
        "complete": result.complete,
        **body,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_json(result: WhoCanResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False) + "\n"


# --- text ------------------------------------------------------------------------------------

VERDICT_STYLES = {"allow": "green", "deny": "red", "unknown": "yellow"}
SECTIONS = (
    ("principal", "Roles and users"),
    ("aws_service", "AWS-service roles (only AWS services may assume them)"),
    ("service_linked", "Service-linked roles (made and used by an AWS service)"),
)


def print_text(result: WhoCanResult, stream: IO[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    from kmsdoctor.report.text_report import make_console

    console = make_console(stream)
    what = f"s3://{result.bucket}/{result.key}" if result.key else f"s3://{result.bucket}"
    summary = result.summary()
    console.print(Text(f"Who can {result.operation} {what}?", style="bold"))
    accounts = ", ".join(result.accounts) or "no account"
    console.print(
        Text(f"{summary['allow']} of {_count(summary['principals'], 'principal')} of {accounts}")
    )
    for account, why in result.unreadable_accounts.items():
        console.print(Text(f"? account {account}: principals not listed ({why})", style="yellow"))

    for category, title in SECTIONS:
        rows = [p for p in result.principals if p.category == category]
        if not rows:
            continue
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        table.add_column("account")
        table.add_column("principal", overflow="fold")
        table.add_column("kind")
        table.add_column("verdict")
        table.add_column("first shut lock", overflow="fold")
        for row in rows:
            shut = ""
            if row.first_shut_lock:
                shut = row.first_shut_lock + (f" ({row.code})" if row.code else "")
            elif row.verdict == "unknown":
                shut = "unknown: " + ", ".join(row.locks_unknown)
            table.add_row(
                row.account,
                Text(_name_with_path(row.principal)),
                row.kind,
                Text(row.verdict, style=VERDICT_STYLES[row.verdict]),
                Text(shut),
            )
        console.print(table)

    if result.outside:
        console.print(
            Text(
                "Outside the listed accounts (opened on the resource account's side; their own "
                "account decides):",
                style="bold",
            )
        )
        for outside in result.outside:
            opened = "; ".join(
                o.statement + (f" when {' and '.join(o.conditions)}" if o.conditions else "")
                for o in outside.openings
            )
            line = f"  {outside.principal} [{outside.resource_side}] {opened}"
            if outside.resource_side == "unknown":
                line += f"; whether the rest is open is unknown: {outside.missing}"
            elif outside.missing:
                line += f"; but {outside.missing}"
            if outside.denied_by:
                line += f"; unless denied by {', '.join(outside.denied_by)}"
            console.print(Text(line))
            console.print(Text(f"    {outside.why_outside}", style="dim"))

    console.print(Text("Summary by first shut lock:", style="bold"))
    if not summary["by_first_shut_lock"]:
        console.print(Text("  no principal is shut out"))
    for lock, entry in summary["by_first_shut_lock"].items():
        ranked = sorted(entry["codes"].items(), key=lambda item: (-item[1], item[0]))
        codes = ", ".join(f"{code} x{count}" for code, count in ranked)
        console.print(Text(f"  {lock}: {_count(entry['principals'], 'principal')} ({codes})"))
    console.print(
        Text(
            f"  {summary['allow']} allow, {summary['deny']} deny, {summary['unknown']} unknown"
            + (f"; {summary['outside']} outside principals" if summary["outside"] else "")
        )
    )
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))


def _name_with_path(arn: str) -> str:
    """`arn:aws:iam::B:role/path/Name` -> `path/Name` (the kind is its own column)."""
    resource = arn.split(":", 5)[-1]
    return resource.split("/", 1)[1] if "/" in resource else resource


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def emit(result: WhoCanResult, fmt: str, stream: IO[str]) -> int:
    if fmt == "json":
        stream.write(render_json(result))
        stream.flush()
    else:
        print_text(result, stream)
    return exit_code_of(result)
