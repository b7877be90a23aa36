"""`kmsdoctor check`: a validated check file in, a `CheckReport` out.

    check file ─> questions ─> one CollectionPlan ─> collect_facts (each fact read once)
               ─> answer_by_class() per question ─> grouped by outcome ─> probe one object per group
               ─> results

- Every expectation becomes questions (principal × key or prefix × operation). Questions that
  repeat across expectations are collected and answered once, and the objects of a prefix that
  no policy tells apart are analysed once (analyze/object_class.py).
- `readers`/`writers`: every role and user of the `[accounts]` is listed (one
  GetAccountAuthorizationDetails walk per account, as `who-can` lists them) and asked the
  same question; the listed principals' facts are added to the snapshot, not read again.
  The principals outside those accounts that the bucket and key policies (and grants) open
  to are found as `who-can` finds them, on each object, from the facts already read.
- Probes (unless --no-probe): as each role, assumed from the profile of its own account, on
  one object of each group of objects with the same outcome: a prefix of 1,000 objects under
  two keys costs two probes, not 1,000. The group's result is the probed object's diagnosis.
  A role that cannot be assumed, and every IAM user, is analysed from its policies alone, and
  the result says so.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future
from dataclasses import dataclass

from kmsdoctor.analyze.model import PrincipalDiagnosis
from kmsdoctor.arn import account_of, is_role_arn
from kmsdoctor.check.file import CheckFile, Expectation
from kmsdoctor.check.model import (
    CheckReport,
    CheckResult,
    ObjectOutcome,
    OutsideOnObject,
    access_results,
    membership_results,
    status_of,
)
from kmsdoctor.concurrency import worker_pool
from kmsdoctor.probe.callers import Clients, assume_principals
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import CallError, Fetched, PrincipalInfo, Snapshot, listing_id

MAX_PROBE_WORKERS = 8


@dataclass(frozen=True)
class CheckOptions:
    max_objects: int = 1000  # objects checked under each prefix
    probe: bool = True  # probe as each principal that can be assumed
    region: str | None = None  # overrides the check file's


def question_of(expectation: Expectation, principal: str) -> Question:
    return Question(
        principal=principal,
        bucket=expectation.bucket,
        key=expectation.key,
        prefix=expectation.prefix,
        operation=expectation.operation,
    )


def run_check(
    checks: CheckFile, options: CheckOptions, timings: dict[str, float] | None = None
) -> CheckReport:
    """Collect once, answer every expectation, probe one object per outcome, report.
    `timings`, when given, receives the answer stage's CPU time and how many (principal,
    object) pairs it answered (for `make bench`)."""
    from kmsdoctor.collect.plan import CollectionPlan, collect_facts

    region = options.region or checks.region
    profiles: dict[str, str | None] = dict(checks.accounts)
    membership = [e for e in checks.expectations if e.kind != "access"]
    listed = list_account_principals(profiles, region) if membership else {}
    membership_notes: list[str] = []
    if listed is None:
        listed = {}
        membership_notes.append(NOT_LISTED_NOTE)

    # Who each expectation asks about; the plan reads the facts of the principals named in the
    # file, and of one listed principal per account so that account's facts are read too.
    asked: dict[int, list[str]] = {}
    for expectation in checks.expectations:
        if expectation.kind == "access":
            asked[expectation.index] = [expectation.principal or ""]
        else:
            everyone = list(expectation.principals)
            for principals in listed.values():
                for principal in principals.value or []:
                    everyone.append(principal.arn)
            if membership_notes:  # no listing: the principals the file names
                everyone += _named_principals(checks)
            asked[expectation.index] = list(dict.fromkeys(everyone))
    planned: list[Question] = []
    for expectation in checks.expectations:
        named = [expectation.principal] if expectation.kind == "access" else []
        named += list(expectation.principals)
        if expectation.kind != "access" and membership_notes:
            named += _named_principals(checks)
        for account, principals in listed.items():
            first = next(iter(principals.value or []), None)
            if first is not None and not any(account_of(p) == account for p in named):
                named.append(first.arn)
        if not named:  # `readers = []` and no account could be listed: still read the object
            named = [""]
        for principal in named:
            planned.append(question_of(expectation, principal or ""))
    planned = list(dict.fromkeys(q for q in planned if q.principal))
    plan = CollectionPlan(
        questions=planned, profiles=profiles, region=region, max_objects=options.max_objects
    )
    with worker_pool(1) as pool:
        # The roles the file names are assumed for the probe while the facts are collected:
        # who they are depends on nothing collected.
        assumed_f = (
            pool.submit(assume_principals, _named_roles(checks), profiles, region)
            if options.probe
            else None
        )
        snapshot = collect_facts(plan)
        assumed = assumed_f.result() if assumed_f is not None else {}
    _add_listed_principals(snapshot, listed)

    cpu_started = time.process_time()
    outcomes = _answer_every_question(snapshot, checks, asked)
    if timings is not None:
        timings["cpu_s"] = time.process_time() - cpu_started
        timings["pairs"] = sum(len(answers) for answers in outcomes.values())
    # The analysis' assumptions are worded for the whole run: once, not per result.
    report_notes: list[str] = []
    for answers in outcomes.values():
        for outcome in answers:
            for note in outcome.notes:
                if note not in report_notes:
                    report_notes.append(note)
    results: list[CheckResult] = []
    for expectation in checks.expectations:
        per_principal = {
            principal: outcomes[question_of(expectation, principal)]
            for principal in asked[expectation.index]
        }
        notes = _expectation_notes(snapshot, expectation, options.max_objects)
        if expectation.kind == "access":
            found = access_results(expectation, per_principal[expectation.principal or ""])
        else:
            unlisted = {a: p.reason() for a, p in listed.items() if not p.is_ok}
            why = (
                "; ".join(
                    f"the principals of account {a} could not be listed ({r})"
                    for a, r in unlisted.items()
                )
                or None
            )
            readable = {a for a, p in listed.items() if p.is_ok}
            unreadable = {a: p.reason() for a, p in listed.items() if not p.is_ok}
            found = membership_results(
                expectation,
                per_principal,
                notes=membership_notes,
                others_unknown=why,
                outside=_outside_per_object(snapshot, expectation, readable, unreadable),
                accounts=profiles,
            )
        for result in found:
            for note in notes:
                if note not in result.notes:
                    result.notes.append(note)
        results.extend(found)

    if options.probe:
        _probe_groups(snapshot, results, profiles, assumed)
    else:
        report_notes.append("--no-probe: every result is analysed from the policies alone")
    return CheckReport(checks, results, report_notes)


def run_check_timed(checks: CheckFile) -> dict[str, float]:
    """`make bench`: a check without probes; the answer stage's CPU time and pairs."""
    timings: dict[str, float] = {}
    run_check(checks, CheckOptions(probe=False), timings)
    return timings


# -- listing principals (readers / writers) --------------------------------------------------


def list_account_principals(
    profiles: dict[str, str | None], region: str | None
) -> dict[str, Fetched[list[PrincipalInfo]]] | None:
    """Every role and user of each account, read through its profile (who-can's listing,
    one GetAccountAuthorizationDetails walk per account); an account with no profile is
    unknown, naming it."""
    from kmsdoctor.collect.account_principals import list_accounts
    from kmsdoctor.snapshot import no_profile_error

    readable = {account: profile for account, profile in profiles.items() if profile is not None}
    listed = list_accounts(readable, region) if readable else {}
    for account, profile in profiles.items():
        if profile is None:
            listed[account] = Fetched.unknown(no_profile_error(account, "roles and users"))
    return listed


NOT_LISTED_NOTE = (
    "only the principals this check file names were compared: this build cannot list every "
    "role and user of an account (who-can's listing)"
)


def _named_principals(checks: CheckFile) -> list[str]:
    named: list[str] = []
    for expectation in checks.expectations:
        for principal in (expectation.principal, *expectation.principals):
            if principal:
                named.append(principal)
    return list(dict.fromkeys(named))


def _add_listed_principals(
    snapshot: Snapshot, listed: dict[str, Fetched[list[PrincipalInfo]]]
) -> None:
    """The listed principals' facts, where the plan did not read them itself."""
    for principals in listed.values():
        for principal in principals.value or []:
            if principal.arn not in snapshot.principals:
                snapshot.principals[principal.arn] = dataclasses.replace(
                    principal, source="role_arn"
                )


# -- answering -------------------------------------------------------------------------------


def _answer_every_question(
    snapshot: Snapshot, checks: CheckFile, asked: dict[int, list[str]]
) -> dict[Question, list[ObjectOutcome]]:
    """Each distinct question answered once, however many expectations ask it."""
    from kmsdoctor.analyze import answer_by_class

    outcomes: dict[Question, list[ObjectOutcome]] = {}
    for expectation in checks.expectations:
        for principal in asked[expectation.index]:
            question = question_of(expectation, principal)
            if question in outcomes:
                continue
            # Objects no policy tells apart are analysed once and share that diagnosis: the
            # outcome groups are the same, and each group's diagnosis is still its first
            # object's (a class's first object comes first in its group).
            by_object: dict[str | None, ObjectOutcome] = {}
            for found in answer_by_class(snapshot, question):
                notes = tuple(found.notes)
                for object_key in found.object_keys:
                    by_object[object_key] = ObjectOutcome(
                        principal, object_key, found.diagnosis, notes
                    )
            order = snapshot.object_keys(question) or list(by_object)
            outcomes[question] = [by_object[key] for key in order if key in by_object]
    return outcomes


def _outside_per_object(
    snapshot: Snapshot, expectation: Expectation, readable: set[str], unreadable: dict[str, str]
) -> list[OutsideOnObject]:
    """Who-can's outside principals of each object of the expectation: the bucket and key
    policies (and grants) that open to principals outside the listed accounts."""
    from kmsdoctor.analyze.whocan import outside_principals

    question = question_of(expectation, "")
    found: list[OutsideOnObject] = []
    for object_key in snapshot.object_keys(question):
        view = snapshot.view(question, object_key)
        outside, notes = outside_principals(view, readable, unreadable)
        found.append(OutsideOnObject(object_key, outside, notes))
    return found


def _expectation_notes(snapshot: Snapshot, expectation: Expectation, max_objects: int) -> list[str]:
    if expectation.prefix is None:
        return []
    listing = snapshot.listings.get(listing_id(expectation.bucket, expectation.prefix))
    if listing is not None and listing.truncated:
        return [
            f"only the first {max_objects} objects under {expectation.address} were checked "
            f"(--max-objects {max_objects}); S3 lists more"
        ]
    return []


# -- probes ----------------------------------------------------------------------------------


def _named_roles(checks: CheckFile) -> list[str]:
    """The roles the check file names (listed principals are assumed only when needed)."""
    return [principal for principal in _named_principals(checks) if is_role_arn(principal)]


def _probe_groups(
    snapshot: Snapshot,
    results: list[CheckResult],
    profiles: dict[str, str | None],
    assumed: dict[str, Clients | CallError],
) -> None:
    """Probe as the principal on one object of each result's group, and take that object's
    diagnosis, reconciled with AWS's answers, as the group's. The same (principal, object,
    operation) is probed once, however many results share it."""
    to_probe: dict[tuple[str, str, str | None, str], list[CheckResult]] = {}
    for result in results:
        if result.principal is None or result.diagnosis is None:
            continue  # the folded "every other principal", or no object to probe
        if not is_role_arn(result.principal):
            result.notes.append(
                "not probed: an IAM user cannot be assumed; analysed from its policies alone"
            )
            continue
        expectation = result.expectation
        object_key = result.example_keys[0] if result.example_keys else expectation.key
        probe_key = (result.principal, expectation.bucket, object_key, expectation.operation)
        to_probe.setdefault(probe_key, []).append(result)
    if not to_probe:
        return
    missing = [p for p in dict.fromkeys(p for p, _, _, _ in to_probe) if p not in assumed]
    if missing:  # principals listed for readers/writers that turned out to get through
        assumed = {**assumed, **assume_principals(missing, profiles, snapshot.region)}
    with worker_pool(min(len(to_probe), MAX_PROBE_WORKERS)) as pool:
        futures = {
            probe_key: pool.submit(_probe_one, snapshot, sharing[0], assumed)
            for probe_key, sharing in to_probe.items()
        }
        for probe_key, future in futures.items():
            probed, note = future.result()
            for result in to_probe[probe_key]:
                if probed is not None:
                    result.diagnosis = probed
                    result.status = status_of(result.expected, probed.verdict)
                result.notes.append(note)


def _probe_one(
    snapshot: Snapshot, result: CheckResult, assumed: dict
) -> tuple[PrincipalDiagnosis | None, str]:
    """The probed diagnosis of the result's object (None: not probed), and what to say."""
    from kmsdoctor.analyze.api import analyze_principal
    from kmsdoctor.probe import ProbeOptions, run_probes
    from kmsdoctor.probe.callers import callers_for

    principal = result.principal or ""
    clients = assumed.get(principal)
    if not isinstance(clients, Clients):
        why = f"{clients.code}: {clients.message}" if clients is not None else "no session"
        return None, (
            f"not probed: could not assume {principal} from its account's profile ({why}); "
            "analysed from its policies alone"
        )
    expectation = result.expectation
    object_key = result.example_keys[0] if result.example_keys else expectation.key
    view = snapshot.view(question_of(expectation, principal), object_key)
    if not view.target.principals:
        return None, "not probed: nothing is known about the principal"
    prepared: Future = Future()
    prepared.set_result(callers_for(principal, clients, view.request.region))
    calls = run_probes(None, view, ProbeOptions(prepared=prepared))  # type: ignore[arg-type]
    probed = dataclasses.replace(view, probes=calls)
    diagnosis, _ = analyze_principal(probed, probed.target.principals[0])
    where = f" on {object_key}" if expectation.prefix is not None and object_key else ""
    return diagnosis, f"probed as the principal{where}"
