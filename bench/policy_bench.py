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

import time

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
    for inputs, request in scenario:
        decision = evaluate_access(inputs, request)
        if decision.decision is not Decision.ALLOW:
            raise RuntimeError(f"benchmark scenario should be allowed: {decision.reason}")
    reads = 0
    # Rates are per second of this process's CPU time: "on one core", and not skewed when other
    # processes share the machine. The loop stops after `seconds` of wall-clock time.
    cpu_started = time.process_time()
    deadline = time.perf_counter() + seconds
    while True:
        for _ in range(100):
            for inputs, request in scenario:
                evaluate_access(inputs, request)
        reads += 100
        if time.perf_counter() >= deadline:
            cpu_seconds = time.process_time() - cpu_started
            return reads * len(scenario) / cpu_seconds, reads / cpu_seconds


def run(seconds: float = 2.0) -> float:
    """Full request evaluations (evaluate_access calls, fully traced) per second.

    The calls alternate between the two halves of the read (see `build`), so every policy of
    the scenario is evaluated; a whole cross-account GetObject takes two of them.
    """
    per_call, _ = measure(seconds)
    return per_call


def main() -> None:
    per_call, per_read = measure(2.0)
    print(f"policy engine: {per_call:,.0f} full request evaluations/s")
    print(f"policy engine: {per_read:,.0f} SSE-KMS GetObject reads/s (two evaluations each)")


if __name__ == "__main__":
    main()
