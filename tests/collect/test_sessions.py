"""`kmsdoctor.aws.Sessions`: one session per profile, one client per (profile, service, Region),
made ahead in the background while a command waits on its first answer (`pipeline`)."""

from __future__ import annotations

import threading
import time

import pytest

from kmsdoctor import aws
from kmsdoctor.aws import Sessions


@pytest.fixture
def counted_clients(monkeypatch):
    """Every client `Sessions` makes, as (profile, service, Region)."""
    made: list[tuple[str, str, str | None]] = []
    real_client = aws.client

    def counting_client(session, service, region=None):
        made.append((aws.profile_label(session), service, region))
        return real_client(session, service, region)

    monkeypatch.setattr(aws, "client", counting_client)
    return made


def test_a_client_asked_for_by_many_threads_at_once_is_made_once(sandbox, counted_clients):
    sandbox("key-policy-missing-principal")
    sessions = Sessions(["a", "b"], "eu-west-1")
    threads = 12
    together = threading.Barrier(threads)
    got: list[object] = []

    def ask() -> None:
        together.wait()
        got.append(sessions.client("b", "iam"))

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counted_clients == [("b", "iam", "eu-west-1")]
    assert len(got) == threads and all(client is got[0] for client in got)
    # the session's Region and that Region named are one client
    assert sessions.client("b", "iam", "eu-west-1") is got[0]


def test_warm_makes_the_clients_a_run_needs_next_once_each(sandbox, counted_clients):
    sandbox("key-policy-missing-principal")
    sessions = Sessions(["a", "b"], "eu-west-1")
    wanted = [(p, s, None) for s in ("sts", "s3", "kms") for p in ("a", "b")]
    sessions.warm(wanted)
    for profile, service, _ in wanted:  # the run asks for them meanwhile
        sessions.client(profile, service)
    deadline = time.monotonic() + 60  # a bound on a hung warm-up, not a speed check
    while len(counted_clients) < len(wanted) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(counted_clients) == sorted((p, s, "eu-west-1") for p, s, _ in wanted)


def test_a_service_kmsdoctor_does_not_use_gets_no_client(sandbox):
    sandbox("key-policy-missing-principal")
    sessions = Sessions(["a"], "eu-west-1")
    with pytest.raises(ValueError, match="makes no dynamodb client"):
        sessions.client("a", "dynamodb")


def test_a_client_the_warm_up_cannot_make_is_reported_by_the_run_that_needs_it(sandbox):
    """A Region botocore rejects: the warm-up goes on to the next client, and the run that asks
    for it gets the one-line error, as it would without a warm-up."""
    sandbox("key-policy-missing-principal")
    sessions = Sessions(["a"], "eu-west-1")
    sessions.warm([("a", "kms", "not a region!"), ("a", "sts", None)])
    with pytest.raises(aws.UsageError):
        sessions.client("a", "kms", "not a region!")
    assert sessions.client("a", "sts") is not None
