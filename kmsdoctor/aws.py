"""The only place kmsdoctor makes boto3 sessions and clients, and the only way it calls AWS.

Three guarantees live here, so no collector or probe can forget them:

- read-only: every client refuses, before anything is signed or sent, any operation that is not
  on `ALLOWED_OPERATIONS` (a `before-call` handler raises `OperationNotAllowed`);
- resilient: `call()` retries throttling and transient failures with exponential backoff
  (tenacity; botocore's own retries are off so the two do not multiply), and turns every other
  failure into a `CallError` the collectors record as *unknown*;
- clear: credential problems (unknown profile, expired token, SSO login needed, no credentials)
  become one `UsageError` line, exit 2, with no credential in it.

Standard AWS behaviour is kept: profiles, SSO, environment credentials, and `AWS_ENDPOINT_URL`
(read by botocore itself; kmsdoctor never passes an endpoint).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions as bce
from botocore import xform_name
from botocore.config import Config
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from kmsdoctor import __version__
from kmsdoctor.concurrency import Once
from kmsdoctor.errors import UsageError
from kmsdoctor.logs import AWS_LOGGER
from kmsdoctor.redact import redact
from kmsdoctor.service_models import use_slim_models
from kmsdoctor.snapshot import CallError

log = logging.getLogger(AWS_LOGGER)

# Every AWS operation kmsdoctor may make, as "service:Operation". Exact on purpose: what the
# collectors call, plus the named calls of the probe (made as the caller) and the CloudTrail
# lookup. Nothing here changes anything in either account: kms:Encrypt only encrypts a random
# value in memory for the opt-in Decrypt round trip, and s3:GetObject reads one byte.
ALLOWED_OPERATIONS: frozenset[str] = frozenset(
    {
        # identity of each profile; AssumeRole for the probe as a --role-arn
        "sts:GetCallerIdentity",
        "sts:AssumeRole",
        # the bucket and the object (account A)
        "s3:GetBucketLocation",
        "s3:GetBucketPolicy",
        "s3:GetBucketEncryption",
        "s3:GetBucketOwnershipControls",
        "s3:GetPublicAccessBlock",
        "s3:GetBucketAcl",
        "s3:HeadObject",
        "s3:GetObjectAcl",
        # only when a policy in play tests them (collect/tags.py): s3:ExistingObjectTag/K
        "s3:GetObjectTagging",
        # ... and aws:ResourceTag/K on S3 requests: the bucket's ABAC status, then its tags
        "s3:GetBucketAbac",
        "s3:GetBucketTagging",
        # a prefix question lists its objects; which account owns a bucket (many accounts)
        "s3:ListObjectsV2",
        "s3:ListBuckets",
        "s3:GetObject",  # probe: Range bytes=0-0, discarded
        # the key (account A)
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:ListGrants",
        "kms:ListAliases",
        "kms:ListResourceTags",  # the key's tags: aws:ResourceTag/K on the KMS request
        "kms:Encrypt",  # opt-in probe: A encrypts a random value
        "kms:Decrypt",  # opt-in probe: the caller decrypts it
        # the organization: SCPs over B, RCPs over A
        "organizations:DescribeOrganization",
        "organizations:DescribeOrganizationalUnit",
        "organizations:ListParents",
        "organizations:ListPoliciesForTarget",
        "organizations:DescribePolicy",
        # the caller's IAM (account B)
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetUser",
        "iam:ListUserPolicies",
        "iam:GetUserPolicy",
        "iam:ListAttachedUserPolicies",
        "iam:ListGroupsForUser",
        "iam:ListGroupPolicies",
        "iam:GetGroupPolicy",
        "iam:ListAttachedGroupPolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        # who-can: every role, user, group and managed policy of an account, in a few pages
        "iam:GetAccountAuthorizationDetails",
        # VPC endpoints for S3 and KMS in B
        "ec2:DescribeVpcEndpoints",
        # where a denial is recorded
        "cloudtrail:LookupEvents",
        # `kmsdoctor pipeline`: the definition, its CodeBuild projects, one execution's artifacts
        "codepipeline:GetPipeline",
        "codepipeline:ListPipelineExecutions",
        "codepipeline:ListActionExecutions",
        "codebuild:BatchGetProjects",
    }
)

CONNECT_TIMEOUT_S = 5
MAX_POOL_CONNECTIONS = 32
READ_TIMEOUT_S = 10
ATTEMPTS = 4  # one call plus three retries on throttling / transient errors
# Exponential backoff with jitter: ~0.25 s, 0.5 s, 1 s. Module-level so tests can shorten it.
RETRY_WAIT = wait_exponential(multiplier=0.25, max=4) + wait_random(0, 0.25)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
# Error codes that mean "these credentials are no good", whatever the operation: nothing else
# can succeed either, so the run ends with one line instead of a snapshot full of unknowns.
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "RequestExpired",
    }
)
# botocore connection failures, recorded with these codes once retries are exhausted.
_CONNECTION_ERRORS = (bce.ConnectionError, bce.HTTPClientError)
CONNECTION_ERROR_CODES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "SSLError",
        "HTTPClientError",
        "ConnectionError",
    }
)

_SSO_ERRORS = (bce.SSOError, bce.TokenRetrievalError)

# Set once the process's first AWS answer is in: from then on it mostly waits on the network, and
# the CLI imports the analysis and the report in that time instead of after the last answer.
first_answer = threading.Event()

# boto3 sessions are not thread-safe, clients are: client creation is serialised so workers may
# create a client (e.g. KMS in the key's Region) while others are calling AWS.
_CLIENT_LOCK = threading.Lock()


class OperationNotAllowed(RuntimeError):
    """A code path tried an AWS operation that is not on ALLOWED_OPERATIONS. A bug, never an
    input problem: it is raised before the request is signed or sent."""


class AwsCallFailed(Exception):
    """An AWS call that had to succeed for the caller to go on (e.g. sts:AssumeRole for a probe)
    failed; carries the recorded error."""

    def __init__(self, error: CallError) -> None:
        self.error = error
        super().__init__(f"{error.operation} failed with {error.code}: {error.message}")


@dataclass(frozen=True)
class CallResult:
    """One AWS call's outcome: the response, or the error as the snapshot records it."""

    operation: str  # "kms:GetKeyPolicy"
    response: dict[str, Any] | None = None
    error: CallError | None = None
    http_status: int | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None


# --- sessions and clients ---------------------------------------------------------------------


def session_for(profile: str | None, region: str | None) -> boto3.Session:
    """A session with standard AWS resolution (profile, SSO, env). The Region as the AWS CLI v2
    picks it: `region` (--region), else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
    (botocore alone reads only the last two). An unknown profile is a UsageError naming it, also
    when it came from AWS_PROFILE."""
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except bce.ProfileNotFound as exc:
        raise _usage_error_for(exc, profile or _profile_from_env()) from None
    except bce.BotoCoreError as exc:
        raise _usage_error_for(exc, profile or _profile_from_env()) from None
    share_model_loader(session)
    return session


def _profile_from_env() -> str:
    """The profile botocore uses when none is given: AWS_PROFILE, else AWS_DEFAULT_PROFILE."""
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


_shared_loader: Any = None


def share_model_loader(session: boto3.Session) -> None:
    """Every session reads service models through one loader, so a model (IAM's and EC2's are
    large) is parsed once per process, not once per profile."""
    global _shared_loader
    with _CLIENT_LOCK:
        botocore_session = session._session
        if _shared_loader is None:
            _shared_loader = botocore_session.get_component("data_loader")
            _list_services_once(_shared_loader)
            use_slim_models(_shared_loader, ALLOWED_OPERATIONS)
        else:
            botocore_session.register_component("data_loader", _shared_loader)


def _load_models(services: Iterable[str]) -> None:
    """Parse these services' models into the shared loader's cache (what making a client of
    each would parse). A model that cannot be loaded is left for the client that needs it."""
    loader = _shared_loader
    if loader is None:
        return
    try:
        loader.load_data("partitions")
        for service in services:
            loader.load_service_model(service, "service-2")
            loader.load_service_model(service, "endpoint-rule-set-1")
    except bce.BotoCoreError:
        return


def _list_services_once(loader: Any) -> None:
    """The loader lists the services it knows (a directory walk, ~20 ms) once per model type and
    caches it, but threads that ask before the first listing is cached each walk the
    directories: at the start of a collection, dozens of calls paging their first results did
    so side by side. With this lock the first thread walks them and the others wait for its
    cached answer."""
    listing = loader.list_available_services
    lock = threading.Lock()

    def list_available_services(type_name: str) -> Any:
        with lock:
            return listing(type_name)

    loader.list_available_services = list_available_services


def profile_label(session: boto3.Session) -> str:
    return session.profile_name or "default"


def client(session: boto3.Session, service: str, region: str | None = None) -> Any:
    """A client with short timeouts, botocore retries off (tenacity retries in `call`), and the
    allow-list enforced on every operation."""
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": 1, "mode": "standard"},
        # As many connections as the collection planner lets one service have in flight
        # (collect/plan.py SERVICE_LIMITS), so concurrent calls reuse them instead of opening
        # and discarding a connection each.
        max_pool_connections=MAX_POOL_CONNECTIONS,
        user_agent_extra=f"kmsdoctor/{__version__}",
    )
    label = profile_label(session)
    with _CLIENT_LOCK:
        try:
            new_client = session.client(service, region_name=region, config=config)
        except bce.BotoCoreError as exc:
            raise _usage_error_for(exc, label) from None
    new_client.meta.events.register("before-call", _refuse_unlisted_operations(service))
    new_client._kmsdoctor_profile = label  # for one-line credential errors naming the profile
    return new_client


class Sessions:
    """One run's sessions, one per profile, and their clients, one per (profile, service,
    Region), each made once however many threads ask for it.

    Sessions are made here, in the calling thread (boto3 sessions are not thread-safe); clients
    from any thread. `warm()` makes clients ahead of their first use in a background thread:
    client creation is CPU under one lock (about 5 ms a client, plus a service model's first
    parse: 60 ms for EC2's), so a command that waits on AWS before it knows its questions
    (`pipeline` reads the definition first) makes them while that call is in flight instead of
    one after another once the questions are known.
    """

    def __init__(self, profiles: Iterable[str | None], region: str | None) -> None:
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: Once[tuple[str | None, str, str | None], Any] = Once()
        self.open(profiles, region)

    def open(self, profiles: Iterable[str | None], region: str | None) -> None:
        """A session for each profile not opened yet (in the calling thread)."""
        for profile in dict.fromkeys(profiles):
            if profile not in self._sessions:
                self._sessions[profile] = session_for(profile, region)

    @property
    def profiles(self) -> list[str | None]:
        return list(self._sessions)

    def session(self, profile: str | None) -> boto3.Session:
        return self._sessions[profile]

    def client(self, profile: str | None, service: str, region: str | None = None) -> Any:
        session = self._sessions[profile]
        region = region or session.region_name
        # Each service named literally: the read-only scan (tests/trust) checks them. The
        # lambda runs (in Once.get) before the loop moves on.
        for known in (
            "sts",
            "s3",
            "iam",
            "organizations",
            "ec2",
            "kms",
            "codepipeline",
            "codebuild",
        ):
            if known == service:
                return self._clients.get(
                    (profile, known, region),
                    lambda: client(session, known, region),  # noqa: B023
                )
        raise ValueError(f"kmsdoctor makes no {service} client")

    def warm(self, wanted: Iterable[tuple[str | None, str, str | None]]) -> None:
        """Make these (profile, service, Region) clients, in this order, in a daemon thread (a
        run that ends early does not wait for it). A client the run asks for meanwhile is made
        by whichever thread gets there first, once; a client that cannot be made is left for
        the thread that needs it to report."""
        wanted = list(wanted)

        def make_all() -> None:
            # The service models first, outside the client lock: a thread that needs a client of
            # a service already parsed then never waits behind EC2's 60 ms parse.
            _load_models(dict.fromkeys(service for _, service, _ in wanted))
            for profile, service, region in wanted:
                try:
                    self.client(profile, service=service, region=region)  # a listed service
                except Exception:
                    continue

        threading.Thread(target=make_all, name="kmsdoctor-warm", daemon=True).start()


def _refuse_unlisted_operations(service: str):
    def refuse(model: Any, **_: Any) -> None:
        _refuse_off_list(f"{service}:{model.name}")

    return refuse


def assume_role(
    session: boto3.Session, role_arn: str, session_name: str = "kmsdoctor"
) -> boto3.Session:
    """A session as `role_arn`, assumed from `session` (no session policy, so the role's own
    permissions are what the probe sees). Raises AwsCallFailed when AWS refuses."""
    sts = client(session, "sts")
    result = call(sts, "AssumeRole", RoleArn=role_arn, RoleSessionName=session_name)
    if not result.ok:
        assert result.error is not None
        raise AwsCallFailed(result.error)
    assert result.response is not None
    creds = result.response["Credentials"]
    assumed = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name,
    )
    share_model_loader(assumed)
    return assumed


# --- calls --------------------------------------------------------------------------------------


def call(aws_client: Any, operation: str, **params: Any) -> CallResult:
    """Run one API call (`operation` as AWS names it, e.g. "GetKeyPolicy") with retries.

    Returns the response, or the error as a CallError. Raises UsageError for credential
    problems and OperationNotAllowed for an operation off the allow-list.
    """
    _refuse_unlisted(aws_client, operation)
    method = getattr(aws_client, xform_name(operation))
    return _run(aws_client, operation, lambda: method(**params))


def call_pages(
    aws_client: Any, operation: str, result_key: str | tuple[str, ...], **params: Any
) -> CallResult:
    """Run a paginated List call to the end; the response is `{result_key: all items}`, or
    one such entry per key when the pages hold several lists (IAM's
    GetAccountAuthorizationDetails: users, groups, roles and policies).

    A throttled page restarts the listing (the retry wraps the whole walk), which keeps the
    result consistent and costs little for the short lists kmsdoctor reads.
    """
    _refuse_unlisted(aws_client, operation)
    paginator = aws_client.get_paginator(xform_name(operation))
    keys = (result_key,) if isinstance(result_key, str) else result_key

    def walk() -> dict[str, Any]:
        items: dict[str, list[Any]] = {key: [] for key in keys}
        for page in paginator.paginate(**params):
            for key in keys:
                items[key].extend(page.get(key, []))
        return dict(items)

    return _run(aws_client, operation, walk)


def _refuse_unlisted(aws_client: Any, operation: str) -> None:
    """An operation off the allow-list is refused by name, before the client is asked for it: a
    client on a slim model (service_models.py) does not even have it."""
    _refuse_off_list(f"{aws_client.meta.service_model.service_name}:{operation}")


def _refuse_off_list(operation: str) -> None:
    if operation not in ALLOWED_OPERATIONS:
        raise OperationNotAllowed(
            f"{operation} is not on kmsdoctor's allow-list of read-only operations"
        )


def _run(aws_client: Any, operation: str, fn: Any) -> CallResult:
    service = aws_client.meta.service_model.service_name
    name = f"{service}:{operation}"
    label = getattr(aws_client, "_kmsdoctor_profile", "default")
    started = time.monotonic()
    retrying = Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(ATTEMPTS),
        wait=RETRY_WAIT,
        reraise=True,
    )
    attempts = 0
    try:
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response = fn()
        finally:
            first_answer.set()
    except bce.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        _log(name, code, started, attempts)
        if code in CREDENTIAL_ERROR_CODES:
            raise UsageError(
                f"AWS rejected the credentials of profile {label!r} ({code}); refresh them "
                "(new keys, `aws sso login`, or re-assume the role) and retry"
            ) from None
        # AWS's messages name ARNs, never credentials; redact() is the belt to that brace
        # (a presigned URL or a pasted token in a message must not reach a snapshot).
        message = redact(str(error.get("Message") or ""))
        return CallResult(
            name, error=CallError(name, code, message), http_status=status, attempts=attempts
        )
    except _CONNECTION_ERRORS as exc:
        code = type(exc).__name__
        _log(name, code, started, attempts)
        return CallResult(name, error=CallError(name, code, redact(str(exc))), attempts=attempts)
    except bce.ParamValidationError:
        raise  # our bug, not the user's: let the CLI report it as internal
    except bce.BotoCoreError as exc:
        _log(name, type(exc).__name__, started, attempts)
        raise _usage_error_for(exc, label) from None
    _log(name, "ok", started, attempts)
    response.pop("ResponseMetadata", None)
    return CallResult(name, response=response, http_status=200, attempts=attempts)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, bce.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in THROTTLING_CODES or status >= 500
    return isinstance(exc, _CONNECTION_ERRORS)


def _log(name: str, outcome: str, started: float, attempts: int) -> None:
    if log.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.monotonic() - started) * 1000
        retries = f" after {attempts} attempts" if attempts > 1 else ""
        log.debug("aws %s %s (%.0f ms%s)", name, outcome, elapsed_ms, retries)


def _usage_error_for(exc: Exception, label: str) -> UsageError:
    """One line for a credential or configuration problem; never the credentials themselves."""
    if isinstance(exc, bce.ProfileNotFound):
        # botocore's exception names the profile it looked for (AWS_PROFILE included).
        label = getattr(exc, "kwargs", {}).get("profile") or label
        return UsageError(f"profile {label!r} is not in your AWS config files")
    if isinstance(exc, _SSO_ERRORS):
        return UsageError(
            f"the SSO session of profile {label!r} is missing or expired: "
            f"run `aws sso login --profile {label}`"
        )
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return UsageError(f"no usable AWS credentials for profile {label!r}")
    if isinstance(exc, bce.CredentialRetrievalError):
        provider = getattr(exc, "kwargs", {}).get("provider", "the credential provider")
        return UsageError(f"cannot get credentials for profile {label!r} from {provider}")
    if isinstance(exc, bce.NoRegionError):
        return UsageError(
            f"no Region for profile {label!r}: pass --region or set one in the profile"
        )
    if isinstance(exc, bce.InvalidConfigError | bce.InvalidRegionError):
        return UsageError(f"invalid AWS configuration for profile {label!r}: {exc}")
    return UsageError(f"AWS configuration problem for profile {label!r}: {type(exc).__name__}")
