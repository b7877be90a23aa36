"""Policy engine throughput: full request evaluations per second on one core.

A full request evaluation is one `evaluate_access` call with every statement of every policy
traced, as in a real diagnosis. The scenario is a cross-account GetObject of an SSE-KMS object,
which takes two of them: the `s3:GetObject` authorization against the bucket policy, and the
`kms:Decrypt` authorization against a four-statement key policy (IAM delegation, key
administrators, an org-wide decrypt statement with aws:PrincipalOrgID and kms:ViaService
conditions, a deny without TLS); each with two identity policies, a permissions boundary and
one SCP level. The benchmark alternates the two and reports both rates.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, replace
from statistics import median

from kmsdoctor.policy import (
    AccessInputs,
    Decision,
    Request,
    RequestPrincipal,
    evaluate_access,
    parse_policy,
)

KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OBJECT_ARN = "arn:aws:s3:::tooling-pipeline-artefacts/commit-abc123.zip"

KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EnableIAMUserPermissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "AllowKeyAdministrators",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:role/KeyAdmin"},
            "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:Put*", "kms:Update*"],
            "Resource": "*",
        },
        {
            "Sid": "AllowOrgMembersToDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalOrgID": "o-exampleorg",
                    "kms:ViaService": "s3.eu-west-1.amazonaws.com",
                },
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::tooling-*"},
            },
        },
        {
            "Sid": "DenyWithoutTLS",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}

IDENTITY_POLICIES = [
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadArtefacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
                "Resource": [
                    "arn:aws:s3:::tooling-pipeline-artefacts",
                    "arn:aws:s3:::tooling-pipeline-artefacts/*",
                ],
            },
            {
                "Sid": "DecryptArtefacts",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": KEY_ARN,
            },
        ],
    },
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudFormation",
                "Effect": "Allow",
                "Action": "cloudformation:*",
                "Resource": "arn:aws:cloudformation:eu-west-1:222222222222:stack/app/*",
            },
            {
                "Sid": "PassExecutionRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::222222222222:role/CfnExecution",
            },
        ],
    },
]

BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OrgRead",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
            "Resource": [
                "arn:aws:s3:::tooling-pipeline-artefacts",
                "arn:aws:s3:::tooling-pipeline-artefacts/*",
            ],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg"}},
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::tooling-pipeline-artefacts/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}

BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
    ],
}

SCP = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Sid": "DenyOutsideRegions",
            "Effect": "Deny",
            "NotAction": ["iam:*", "sts:*", "organizations:*"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
        },
    ],
}


def _request(action: str, resource: str) -> Request:
    return Request(
        action=action,
        resource=resource,
        principal=RequestPrincipal(
            arn="arn:aws:sts::222222222222:assumed-role/StagingDeployRole/deploy",
            account="222222222222",
            entity_arn="arn:aws:iam::222222222222:role/StagingDeployRole",
            unique_id="AROAEXAMPLEROLEID0001",
        ),
        context={
            "aws:PrincipalOrgID": "o-exampleorg",
            "aws:PrincipalAccount": "222222222222",
            "aws:PrincipalArn": "arn:aws:iam::222222222222:role/StagingDeployRole",
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": "eu-west-1",
            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
            "kms:CallerAccount": "222222222222",
            "kms:EncryptionContext:aws:s3:arn": OBJECT_ARN,
        },
    )


def build() -> list[tuple[AccessInputs, Request]]:
    """The two authorizations of one cross-account GetObject: s3:GetObject, then kms:Decrypt."""
    identity = [
        parse_policy(document, name=f"identity-{index}")
        for index, document in enumerate(IDENTITY_POLICIES)
    ]
    boundary = parse_policy(BOUNDARY, name="boundary", kind="permissions_boundary")
    scps = [[parse_policy(SCP, name="scp-root", kind="scp")]]
    s3_half = AccessInputs(
        resource_account="111111111111",
        resource_service="s3",
        identity=identity,
        resource_policy=parse_policy(BUCKET_POLICY, name="bucket-policy", kind="resource"),
        permissions_boundary=boundary,
        scps=scps,
    )
    kms_half = AccessInputs(
        resource_account="111111111111",
        resource_service="kms",
        identity=identity,
        resource_policy=parse_policy(KEY_POLICY, name="key-policy", kind="resource"),
        permissions_boundary=boundary,
        scps=scps,
    )
    return [
        (s3_half, _request("s3:GetObject", OBJECT_ARN)),
        (kms_half, _request("kms:Decrypt", KEY_ARN)),
    ]


def measure(seconds: float) -> tuple[float, float]:
    """(evaluate_access calls per second, whole reads per second), over about `seconds`."""
    scenario = build()
    _check_allowed(scenario)
    return _rates(scenario, seconds, len(scenario))


def measure_unseen(seconds: float, requests: int = 4000) -> float:
    """evaluate_access calls per second when every read is of a new object.

    The engine memoises per statement what it matched for an action, resource and caller, and
    per condition its outcome for given request values (kmsdoctor/policy/memo.py); `measure`
    repeats two requests, so those memos always hit. Here each read is of its own object, as
    for the first question about an object: the memos keyed by the object's ARN miss (the
    bucket side, and the key policy's encryption-context condition).
    """
    (s3_inputs, s3_request), (kms_inputs, kms_request) = build()
    scenario: list[tuple[AccessInputs, Request]] = []
    for index in range(requests // 2):
        object_arn = f"arn:aws:s3:::tooling-pipeline-artefacts/commit-{index:06d}.zip"
        context = dict(s3_request.context)
        context["kms:EncryptionContext:aws:s3:arn"] = object_arn
        scenario.append((s3_inputs, replace(s3_request, resource=object_arn, context=context)))
        scenario.append((kms_inputs, replace(kms_request, context=context)))
    _check_allowed(scenario[:2])
    per_call, _ = _rates(scenario, seconds, len(scenario))
    return per_call


# --- first pass on fresh requests --------------------------------------------------------------
#
# `who-can` over an account's roles and a check over a prefix of objects ask questions the
# engine has never seen: every request names a new principal and a new object, and some
# principals bring policies of their own. Each run below builds such a batch from scratch, with
# names no earlier run used (so nothing of it is in the engine's memos or caches), the way the
# analysis does it: every principal's policies are handed to `parse_policy` for that principal
# (the documents it shares with other principals are equal, as read from one snapshot), and one
# pass over the batch is timed.

FRESH_REQUESTS = 2000
# Issue 10, "Requests seen for the first time": first-pass evaluations per second on fresh
# requests, printed next to the measured figure.
FIRST_PASS_TARGET = 20_000
# One principal in this many brings an inline policy of its own (who-can's roles each have
# some); every principal also attaches one of a few managed policies shared by many.
FRESH_POLICY_EVERY = 4
SHARED_MANAGED_POLICIES = 8

_fresh_runs = itertools.count()


@dataclass
class FreshBatch:
    """One batch of never-seen requests, the policies they meet, and what parsing them cost."""

    scenario: list[tuple[AccessInputs, Request]]
    principals: int
    parse_calls: int  # parse_policy calls made while building the batch
    own_policies: int  # principals with an inline policy no other principal has
    parse_cpu_seconds: float


def _renamed(document: dict, replacements: dict[str, str]) -> dict:
    """`document` with every occurrence of each key of `replacements` replaced: new text, so a
    policy no earlier run has parsed."""
    text = json.dumps(document)
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.loads(text)


def build_fresh(requests: int = FRESH_REQUESTS) -> FreshBatch:
    """`requests` evaluations (s3:GetObject and kms:Decrypt halves) of never-seen reads.

    Each read is by its own principal (a new role and session in the caller account, with its
    own unique id) of its own object. Every principal has the bucket policy, key policy,
    boundary, SCP and one of SHARED_MANAGED_POLICIES managed policies, each parsed for it;
    every FRESH_POLICY_EVERY-th principal also has an inline policy of its own, the others a
    shared one. Everything is named after the run, so the batch is new to the engine however
    many runs came before.
    """
    run = next(_fresh_runs)
    bucket = f"fresh-run{run}-artefacts"
    key_arn = f"arn:aws:kms:eu-west-1:111111111111:key/{run:08d}-12ab-34cd-56ef-1234567890ab"
    names = {
        "tooling-pipeline-artefacts": bucket,
        "tooling-*": "fresh-*",
        KEY_ARN: key_arn,
        "StagingDeployRole": f"Run{run}Deploy",
        "o-exampleorg": f"o-run{run}org",
    }
    key_document = _renamed(KEY_POLICY, names)
    bucket_document = _renamed(BUCKET_POLICY, names)
    boundary_document = _renamed(BOUNDARY, names)
    scp_document = _renamed(SCP, names)
    shared_inline = _renamed(IDENTITY_POLICIES[1], names)
    managed_documents = []
    for index in range(SHARED_MANAGED_POLICIES):
        document = _renamed(IDENTITY_POLICIES[0], names)
        document["Statement"][0]["Sid"] = f"ReadArtefacts{index}"
        document["Statement"][0]["Resource"].append(f"arn:aws:s3:::{bucket}-team{index}/*")
        managed_documents.append(document)

    principal_count = max(1, requests // 2)
    scenario: list[tuple[AccessInputs, Request]] = []
    parse_cpu = 0.0
    parse_calls = 0
    own_policies = 0
    for index in range(principal_count):
        role = f"Run{run}Role{index:05d}"
        role_arn = f"arn:aws:iam::222222222222:role/{role}"
        object_arn = f"arn:aws:s3:::{bucket}/{role}/part-{index:06d}.parquet"
        inline_document = shared_inline
        if index % FRESH_POLICY_EVERY == 0:
            inline_document = _renamed(IDENTITY_POLICIES[1], names)
            inline_document["Statement"].append(
                {
                    "Sid": "OwnPrefix",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/{role}/*",
                }
            )
            own_policies += 1

        started = time.process_time()
        managed = index % SHARED_MANAGED_POLICIES
        identity = [
            parse_policy(managed_documents[managed], name=f"managed policy Shared{managed}"),
            parse_policy(inline_document, name=f"inline policy {role}"),
        ]
        bucket_policy = parse_policy(bucket_document, name="bucket policy", kind="resource")
        key_policy = parse_policy(key_document, name="key policy", kind="resource")
        boundary = parse_policy(
            boundary_document, name="permissions boundary", kind="permissions_boundary"
        )
        scps = [[parse_policy(scp_document, name="SCP FullAWSAccess on root", kind="scp")]]
        parse_cpu += time.process_time() - started
        parse_calls += 6

        principal = RequestPrincipal(
            arn=f"arn:aws:sts::222222222222:assumed-role/{role}/session{index}",
            account="222222222222",
            entity_arn=role_arn,
            unique_id=f"AROA{run:06d}{index:011d}",
        )
        context = {
            "aws:PrincipalOrgID": f"o-run{run}org",
            "aws:PrincipalAccount": "222222222222",
            "aws:PrincipalArn": role_arn,
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": "eu-west-1",
            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
            "kms:CallerAccount": "222222222222",
            "kms:EncryptionContext:aws:s3:arn": object_arn,
        }
        for service, action, resource, policy in (
            ("s3", "s3:GetObject", object_arn, bucket_policy),
            ("kms", "kms:Decrypt", key_arn, key_policy),
        ):
            inputs = AccessInputs(
                resource_account="111111111111",
                resource_service=service,  # type: ignore[arg-type]
                identity=identity,
                resource_policy=policy,
                permissions_boundary=boundary,
                scps=scps,
            )
            scenario.append((inputs, Request(action, resource, principal, context)))
    return FreshBatch(
        scenario=scenario[:requests],
        principals=principal_count,
        parse_calls=parse_calls,
        own_policies=own_policies,
        parse_cpu_seconds=parse_cpu,
    )


def measure_first_pass(requests: int = FRESH_REQUESTS) -> tuple[float, float, FreshBatch]:
    """(first-pass evaluations per CPU-second, second-pass ones, the batch) for a new batch."""
    batch = build_fresh(requests)
    scenario = batch.scenario
    started = time.process_time()
    for inputs, request in scenario:
        evaluate_access(inputs, request)
    first = len(scenario) / max(time.process_time() - started, 1e-9)
    started = time.process_time()
    for inputs, request in scenario:
        evaluate_access(inputs, request)
    second = len(scenario) / max(time.process_time() - started, 1e-9)
    return first, second, batch


# --- a whole analysis, per (principal, object) seen for the first time --------------------------

ANALYSIS_GROUPS = 300


def measure_analysis(groups: int = ANALYSIS_GROUPS) -> tuple[float, float]:
    """CPU milliseconds of one `analyze_principal` per (principal, object), first sight.

    Snapshots come from tests/analyze/factories.py (the healthy cross-account read of the
    BI-team incident), each for an object key no earlier snapshot named: first with the same
    principal (a check over a prefix), then each with a principal of its own too (who-can).
    Returns (same principal, new principal) medians over the groups' chunks.
    """
    from kmsdoctor.analyze import analyze_principal
    from tests.analyze import factories

    run = next(_fresh_runs)
    same_principal = [
        factories.make_snapshot(object_key=f"bench-{run}/same/part-{index:06d}.parquet")
        for index in range(groups)
    ]
    new_principals = []
    for index in range(groups):
        role_arn = f"arn:aws:iam::{factories.B}:role/Run{run}Analyst{index:05d}"
        principal = factories.make_principal(
            role_arn,
            unique_id=f"AROA{run:06d}{index:011d}",
            session_arn=f"arn:aws:sts::{factories.B}:assumed-role/Run{run}Analyst{index:05d}/s",
        )
        new_principals.append(
            factories.make_snapshot(
                object_key=f"bench-{run}/new/part-{index:06d}.parquet", principals=[principal]
            )
        )
    rates = []
    for snapshots in (same_principal, new_principals):
        started = time.process_time()
        for snapshot in snapshots:
            analyze_principal(snapshot, snapshot.target.principals[0])
        rates.append((time.process_time() - started) / len(snapshots) * 1000)
    return rates[0], rates[1]


def _load() -> str:
    """The 1-minute load average, printed beside every figure of a shared machine."""
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except OSError:  # not available on this platform
        return "load average unknown"


def _check_allowed(scenario: list[tuple[AccessInputs, Request]]) -> None:
    for inputs, request in scenario:
        decision = evaluate_access(inputs, request)
        if decision.decision is not Decision.ALLOW:
            raise RuntimeError(f"benchmark scenario should be allowed: {decision.reason}")


def _rates(
    scenario: list[tuple[AccessInputs, Request]], seconds: float, batch: int
) -> tuple[float, float]:
    """(calls per CPU-second, calls / 2 per CPU-second), running `scenario` over and over."""
    calls = 0
    # Rates are per second of this process's CPU time: "on one core", and not skewed when other
    # processes share the machine. The loop stops after `seconds` of wall-clock time.
    repeats = max(1, 200 // batch)
    cpu_started = time.process_time()
    deadline = time.perf_counter() + seconds
    while True:
        for _ in range(repeats):
            for inputs, request in scenario:
                evaluate_access(inputs, request)
        calls += repeats * len(scenario)
        if time.perf_counter() >= deadline:
            cpu_seconds = time.process_time() - cpu_started
            return calls / cpu_seconds, calls / 2 / cpu_seconds


def run(seconds: float = 2.0) -> float:
    """Full request evaluations (evaluate_access calls, fully traced) per second.

    The calls alternate between the two halves of the read (see `build`), so every policy of
    the scenario is evaluated; a whole cross-account GetObject takes two of them.
    """
    per_call, _ = measure(seconds)
    return per_call


def main(repeats: int = 5, seconds: float = 1.0) -> None:
    """Print the medians of `repeats` measurements of `seconds` each (and their range)."""
    samples = [measure(seconds) for _ in range(repeats)]
    per_call = [sample[0] for sample in samples]
    per_read = [sample[1] for sample in samples]
    unseen = [measure_unseen(seconds) for _ in range(repeats)]
    how = f"median of {repeats} runs of {seconds:g} s, per CPU-second of one core"
    print(f"policy engine ({how}; {_load()}):")
    spread = f"range {min(per_call):,.0f}-{max(per_call):,.0f}"
    print(
        f"  {median(per_call):,.0f} full request evaluations/s "
        f"(evaluate_access, every statement traced; {spread})"
    )
    print(
        f"  {median(per_read):,.0f} SSE-KMS GetObject reads/s "
        "(two evaluations each: s3:GetObject, then kms:Decrypt as the caller)"
    )
    print(
        f"  {median(unseen):,.0f} full request evaluations/s when every read is of a new object "
        "(memos keyed by its ARN miss)"
    )
    first_pass = [measure_first_pass() for _ in range(repeats)]
    first = [sample[0] for sample in first_pass]
    second = [sample[1] for sample in first_pass]
    batch = first_pass[-1][2]
    parse_rate = [sample[2].parse_calls / sample[2].parse_cpu_seconds for sample in first_pass]
    print(
        f"  {median(first):,.0f} full request evaluations/s, first pass, fresh requests "
        f"(median of {repeats} new batches of {len(batch.scenario):,}: {batch.principals:,} "
        f"new principals each reading a new object, {batch.own_policies} of them with an "
        f"inline policy of their own; range {min(first):,.0f}-{max(first):,.0f})"
    )
    verdict = "met" if median(first) >= FIRST_PASS_TARGET else "NOT met"
    print(
        f"    first-pass target >= {FIRST_PASS_TARGET:,}/s: {verdict} "
        f"(median {median(first):,.0f}/s, best batch {max(first):,.0f}/s; {_load()}: CPU time "
        "still grows when other processes share the cores)"
    )
    print(f"  {median(second):,.0f} full request evaluations/s, second pass over the same batch")
    print(
        f"  {median(parse_rate):,.0f} parse_policy calls/s building those batches (each "
        f"principal's {batch.parse_calls // batch.principals} policies parsed for it, as the "
        "analysis does)"
    )

    try:
        analysis = [measure_analysis() for _ in range(repeats)]
    except ImportError as missing:  # run outside a checkout: no tests/analyze/factories.py
        print(f"  whole analysis per (principal, object): not measured ({missing})")
        return
    same = [sample[0] for sample in analysis]
    new = [sample[1] for sample in analysis]
    print(
        f"  {median(same):.3f} ms CPU per (principal, object) for a whole analysis "
        f"(analyze_principal, {ANALYSIS_GROUPS} objects seen for the first time, one principal; "
        f"range {min(same):.3f}-{max(same):.3f})"
    )
    print(
        f"  {median(new):.3f} ms CPU per (principal, object) when each principal is new too "
        f"(range {min(new):.3f}-{max(new):.3f})"
    )


if __name__ == "__main__":
    main()
