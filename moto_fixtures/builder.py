"""Turn a scenario fixture (`scenarios/NAME.json`, format in README.md) into real moto resources.

`build_scenario(scenario, workdir)` works inside an active in-process `mock_aws()` and against a
moto server (`AWS_ENDPOINT_URL` set; botocore honours it, so the code is the same). It returns a
`Sandbox`: an AWS config and credentials file with profiles `a` (account A) and `b` (a session of
`target.caller` in account B), the environment to run the CLI with, and the ids moto made.

How accounts work: moto takes the account from the credentials. The builder assumes
`arn:aws:iam::ACCOUNT:role/kmsdoctor-fixture-admin` in each account (moto does not require the
role to exist) and uses those credentials to create the account's resources; profile `a` holds
that session of A, profile `b` a session of the caller role, created for real in B first.
MOTO_ACCOUNT_ID is never set: it would override every credential.

Build order (placeholders can only be filled once moto has made the ids):
  1. keys in A (no policy yet) and roles in B (trust only; a "recreated" role is made, deleted
     and made again, so its old unique id is known);
  2. every `{{key_arn:…}}`, `{{key_id:…}}`, `{{role_id:…}}`, `{{stale_role_id:…}}` in the scenario
     is filled;
  3. key policies, aliases, grants; role trust, inline, managed and boundary policies; the bucket
     (encryption, ownership, public access block); the objects; then the bucket policy and key
     states (moto would apply a bucket policy's Deny, and a key's state, to the fixture's own
     writes);
  4. the organization, if any; 5. the profiles.

What moto 5 supports for `organization` (checked against moto 5.2): create_organization,
OUs, SCPs and RCPs (create_policy, enable_policy_type, attach_policy), ListParents,
ListPoliciesForTarget, DescribePolicy, DescribeOrganizationalUnit — all answered for the
management account. Accounts created in an organization get random ids and there are no
invitations, so of A and B only one (`management_account`) can be in the organization; the
other answers AWSOrganizationsNotInUseException, as an account outside any organization does.
A member account's restricted view (AccessDeniedException on ListParents) cannot be made in
moto; tests inject it at the botocore layer. The format:

    "organization": {
      "management_account": "source",             // or "target": the account that owns the org
      "units": {"Data": "root", "Curated": "Data"},  // OU name -> parent ("root" or an OU name)
      "account_unit": "Curated",                  // optional: move that account into this OU
      "policies": [
        {"name": "DenyKmsOutsideOrg",
         "type": "RESOURCE_CONTROL_POLICY",       // or SERVICE_CONTROL_POLICY
         "target": "root",                        // "root", "account", or an OU name
         "document": {...}}
      ]
    }
"""

from __future__ import annotations

import configparser
import contextlib
import copy
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
PROFILE_SOURCE = "a"
PROFILE_TARGET = "b"
FIXTURE_ADMIN_ROLE = "kmsdoctor-fixture-admin"
CALLER_SESSION_NAME = "kmsdoctor-sandbox"

# Anything in the outer environment that would make the CLI use other credentials, another
# profile or another config than the sandbox's.
LEAKY_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "MOTO_ACCOUNT_ID",
)

_PLACEHOLDER = re.compile(r"\{\{(key_arn|key_id|role_id|stale_role_id):([^{}]+)\}\}")


class ScenarioError(ValueError):
    """A scenario file that cannot be built: names the scenario and what is wrong."""


@dataclass
class Sandbox:
    """A built scenario: where its profiles are, how to run the CLI against it, what moto made."""

    name: str
    scenario: dict[str, Any]  # with every placeholder filled
    region: str
    config_path: Path
    credentials_path: Path
    env_overrides: dict[str, str]  # set these ...
    env_removed: tuple[str, ...]  # ... and unset these to run the CLI in the sandbox
    key_arns: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    role_arns: dict[str, str] = field(default_factory=dict)
    role_ids: dict[str, str] = field(default_factory=dict)
    stale_role_ids: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # every credential written: must never leak

    @property
    def env(self) -> dict[str, str]:
        """The full environment for a CLI subprocess: this process's, minus any credentials
        or profile selection, plus the sandbox's config files and Region."""
        env = {k: v for k, v in os.environ.items() if k not in self.env_removed}
        env.update(self.env_overrides)
        return env

    @property
    def bucket(self) -> str:
        return self.scenario["source"]["bucket"]["name"]

    def cli_args(self, command_name: str = "diagnose", *extra: str) -> list[str]:
        """The scenario's `command` as kmsdoctor arguments, e.g. for CliRunner.invoke."""
        command = self.scenario.get("command", {})
        args = [
            command_name,
            "--source-profile", PROFILE_SOURCE,
            "--target-profile", PROFILE_TARGET,
            "--bucket", self.bucket,
            "--region", self.region,
        ]  # fmt: skip
        if command.get("key"):
            args += ["--key", command["key"]]
        for role_arn in command.get("role_arns", []):
            args += ["--role-arn", role_arn]
        if command.get("operation"):
            args += ["--operation", command["operation"]]
        return [*args, *extra]


def load_scenario(name: str) -> dict[str, Any]:
    path = SCENARIOS_DIR / f"{name}.json"
    try:
        scenario = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(scenario_names())
        raise ScenarioError(f"no scenario {name!r} (known: {known})") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid JSON ({exc})") from None
    scenario.setdefault("name", name)
    return scenario


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.json"))


# --- building -----------------------------------------------------------------------------------


def build_scenario(scenario: dict[str, Any], workdir: Path) -> Sandbox:
    name = scenario.get("name", "scenario")
    region = scenario["region"]
    source_account = scenario["accounts"]["source"]
    target_account = scenario["accounts"]["target"]
    shared = _shared_session(region)
    source_creds = _assume(shared, source_account, FIXTURE_ADMIN_ROLE)
    source = _Account(shared, source_creds, region)
    target_admin = _Account(shared, _assume(shared, target_account, FIXTURE_ADMIN_ROLE), region)

    # 1. resources whose ids the placeholders need
    keys = scenario["source"].get("keys", {})
    key_arns, key_ids = _create_keys(source, keys, region)
    roles = scenario["target"].get("roles", {})
    role_arns, role_ids, stale_role_ids = _create_roles(target_admin, roles)

    # 2. placeholders
    values = {
        "key_arn": key_arns,
        "key_id": key_ids,
        "role_id": role_ids,
        "stale_role_id": stale_role_ids,
    }
    filled = _fill(copy.deepcopy(scenario), values, name)

    # 3. policies, bucket, objects, key states
    source_spec = filled["source"]
    _configure_keys(source, source_spec.get("keys", {}), key_arns, region)
    _configure_roles(target_admin, filled["target"].get("roles", {}))
    bucket = source_spec["bucket"]
    _create_bucket(source, bucket, region)
    _put_bucket_tags(source, bucket)
    for obj in source_spec.get("objects", []):
        _put_object(source, bucket["name"], obj)
    # After the objects: moto applies any Deny in a bucket policy to every caller, including
    # the fixture's own writes, whatever its Principal and Condition say.
    _put_bucket_policy(source, bucket)
    _set_key_states(source, source_spec.get("keys", {}), key_ids, region)

    # 4. organization
    if filled.get("organization"):
        accounts = {"source": (source, source_account), "target": (target_admin, target_account)}
        _create_organization(filled["organization"], accounts, name)

    # 5. profiles
    caller = filled["target"].get("caller")
    if caller not in role_arns:
        raise ScenarioError(f"{name}: target.caller {caller!r} is not one of target.roles")
    caller_creds = _assume_arn(shared, role_arns[caller])
    config_path, credentials_path = _write_profiles(
        workdir, region, {PROFILE_SOURCE: source_creds, PROFILE_TARGET: caller_creds}
    )
    overrides = {
        "AWS_CONFIG_FILE": str(config_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials_path),
        "AWS_DEFAULT_REGION": region,
    }
    if os.environ.get("AWS_ENDPOINT_URL"):
        overrides["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
    secrets = [v for creds in (source_creds, caller_creds) for v in creds.values()]
    return Sandbox(
        name=name,
        scenario=filled,
        region=region,
        config_path=config_path,
        credentials_path=credentials_path,
        env_overrides=overrides,
        env_removed=LEAKY_ENV,
        key_arns=key_arns,
        key_ids=key_ids,
        role_arns=role_arns,
        role_ids=role_ids,
        stale_role_ids=stale_role_ids,
        secrets=secrets,
    )


_BUILD_LOADER: Any = None


def _shared_session(region: str) -> boto3.Session:
    """One boto3 session for every client of a build, reading service models through one
    process-wide loader: each model is parsed once, not per client or build. Not kmsdoctor's
    loader: that one answers slim models, with kmsdoctor's read-only operations only
    (kmsdoctor/service_models.py), and a build writes."""
    global _BUILD_LOADER
    session = boto3.Session(region_name=region)
    if _BUILD_LOADER is None:
        _BUILD_LOADER = session._session.get_component("data_loader")
    else:
        session._session.register_component("data_loader", _BUILD_LOADER)
    return session


@dataclass
class _Account:
    """Clients acting in one account: the shared session, with that account's credentials."""

    account: _Account
    creds: dict[str, str]
    region: str

    def client(self, service: str, region: str | None = None) -> Any:
        return self.account.client(service, region_name=region or self.region, **self.creds)


def _assume(shared: boto3.Session, account: str, role_name: str) -> dict[str, str]:
    return _assume_arn(shared, f"arn:aws:iam::{account}:role/{role_name}")


def _assume_arn(shared: boto3.Session, role_arn: str) -> dict[str, str]:
    # Any credentials will do to call moto's STS; the session it returns belongs to the account
    # in the role ARN.
    sts = shared.client(
        "sts", aws_access_key_id="AKIAFIXTUREBOOTSTRAP", aws_secret_access_key="fixture"
    )
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=CALLER_SESSION_NAME)["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def _fill(value: Any, values: dict[str, dict[str, str]], name: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            kind, local = match.group(1), match.group(2)
            if local not in values[kind]:
                raise ScenarioError(
                    f"{name}: {{{{{kind}:{local}}}}} names nothing the scenario made"
                )
            return values[kind][local]

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, list):
        return [_fill(item, values, name) for item in value]
    if isinstance(value, dict):
        return {k: _fill(v, values, name) for k, v in value.items()}
    return value


def _kms(account: _Account, spec: dict[str, Any], region: str) -> Any:
    return account.client("kms", spec.get("region", region))


def _create_keys(
    account: _Account, keys: dict[str, Any], region: str
) -> tuple[dict[str, str], dict[str, str]]:
    arns, ids = {}, {}
    for local, spec in keys.items():
        create: dict[str, Any] = {"Description": spec.get("description", local)}
        if spec.get("tags"):
            # aws:ResourceTag/K on the KMS request (ABAC)
            create["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in spec["tags"].items()]
        meta = _kms(account, spec, region).create_key(**create)["KeyMetadata"]
        arns[local], ids[local] = meta["Arn"], meta["KeyId"]
    return arns, ids


def _policy_text(policy: Any) -> str:
    """A fixture's policy as AWS stores it: a JSON object, or text kept as written (so a
    scenario can hold what JSON objects cannot, such as a repeated key)."""
    return policy if isinstance(policy, str) else json.dumps(policy)


def _configure_keys(
    account: _Account, keys: dict[str, Any], arns: dict[str, str], region: str
) -> None:
    for local, spec in keys.items():
        kms = _kms(account, spec, region)
        if spec.get("policy") is not None:
            kms.put_key_policy(
                KeyId=arns[local], PolicyName="default", Policy=_policy_text(spec["policy"])
            )
        for alias in spec.get("aliases", []):
            kms.create_alias(AliasName=alias, TargetKeyId=arns[local])
        for grant in spec.get("grants", []):
            params: dict[str, Any] = {
                "KeyId": arns[local],
                "GranteePrincipal": grant["grantee"],
                "Operations": grant["operations"],
            }
            if grant.get("constraints"):
                params["Constraints"] = grant["constraints"]
            if grant.get("name"):
                params["Name"] = grant["name"]
            if grant.get("retiring_principal"):
                params["RetiringPrincipal"] = grant["retiring_principal"]
            kms.create_grant(**params)


def _set_key_states(
    account: _Account, keys: dict[str, Any], ids: dict[str, str], region: str
) -> None:
    # moto's DisableKey and ScheduleKeyDeletion take the key id only, not the ARN.
    for local, spec in keys.items():
        state = spec.get("state", "Enabled")
        kms = _kms(account, spec, region)
        if state == "Disabled":
            kms.disable_key(KeyId=ids[local])
        elif state == "PendingDeletion":
            kms.schedule_key_deletion(KeyId=ids[local], PendingWindowInDays=7)
        elif state != "Enabled":
            raise ScenarioError(
                f"key {local}: state {state!r} is not Enabled, Disabled or PendingDeletion"
            )


def _default_trust(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _create_roles(
    account: _Account, roles: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    iam = account.client("iam")
    account = account.client("sts").get_caller_identity()["Account"]
    arns, ids, stale = {}, {}, {}
    for name, spec in roles.items():
        create = {
            "RoleName": name,
            "Path": spec.get("path", "/"),
            # The real trust policy is set once placeholders are filled (step 3).
            "AssumeRolePolicyDocument": json.dumps(_default_trust(account)),
        }
        if spec.get("tags"):
            # aws:PrincipalTag/K (ABAC)
            create["Tags"] = [{"Key": k, "Value": v} for k, v in spec["tags"].items()]
        role = iam.create_role(**create)["Role"]
        if spec.get("recreated"):
            # The source policies captured this id; deleting and re-creating the role gives it a
            # new one, and AWS shows the old id in policies instead of the ARN.
            stale[name] = role["RoleId"]
            iam.delete_role(RoleName=name)
            role = iam.create_role(**create)["Role"]
        arns[name], ids[name] = role["Arn"], role["RoleId"]
    return arns, ids, stale


def _configure_roles(account: _Account, roles: dict[str, Any]) -> None:
    iam = account.client("iam")
    for name, spec in roles.items():
        if spec.get("trust") is not None:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(spec["trust"]))
        for policy_name, document in spec.get("inline", {}).items():
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
        for policy_name, document in spec.get("managed", {}).items():
            arn = iam.create_policy(PolicyName=policy_name, PolicyDocument=json.dumps(document))[
                "Policy"
            ]["Arn"]
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        if spec.get("boundary") is not None:
            arn = iam.create_policy(
                PolicyName=f"{name}-boundary", PolicyDocument=json.dumps(spec["boundary"])
            )["Policy"]["Arn"]
            iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=arn)


def _create_bucket(account: _Account, spec: dict[str, Any], region: str) -> None:
    s3 = account.client("s3")
    bucket = spec["name"]
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    encryption = spec.get("encryption")
    if encryption:
        default: dict[str, Any] = {"SSEAlgorithm": encryption["sse_algorithm"]}
        if encryption.get("kms_key"):
            default["KMSMasterKeyID"] = encryption["kms_key"]
        rule = {
            "ApplyServerSideEncryptionByDefault": default,
            "BucketKeyEnabled": bool(encryption.get("bucket_key_enabled", False)),
        }
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    if spec.get("ownership"):
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": spec["ownership"]}]}
        )
    pab = spec.get("public_access_block")
    if pab:
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": bool(pab.get("block_public_acls", False)),
                "IgnorePublicAcls": bool(pab.get("ignore_public_acls", False)),
                "BlockPublicPolicy": bool(pab.get("block_public_policy", False)),
                "RestrictPublicBuckets": bool(pab.get("restrict_public_buckets", False)),
            },
        )


def _put_bucket_tags(account: _Account, spec: dict[str, Any]) -> None:
    if spec.get("tags"):
        # aws:ResourceTag/K on S3 requests, once ABAC is enabled on the bucket
        tag_set = [{"Key": k, "Value": v} for k, v in spec["tags"].items()]
        account.client("s3").put_bucket_tagging(Bucket=spec["name"], Tagging={"TagSet": tag_set})


def _put_bucket_policy(account: _Account, spec: dict[str, Any]) -> None:
    if spec.get("policy") is not None:
        account.client("s3").put_bucket_policy(
            Bucket=spec["name"], Policy=_policy_text(spec["policy"])
        )


def _put_object(account: _Account, bucket: str, spec: dict[str, Any]) -> None:
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": spec["key"],
        "Body": spec.get("body", "").encode(),
    }
    if spec.get("sse_algorithm"):
        params["ServerSideEncryption"] = spec["sse_algorithm"]
    if spec.get("kms_key"):
        params["SSEKMSKeyId"] = spec["kms_key"]
    if "bucket_key_enabled" in spec:
        params["BucketKeyEnabled"] = bool(spec["bucket_key_enabled"])
    if spec.get("tags"):
        # s3:ExistingObjectTag/K (ABAC on objects)
        params["Tagging"] = urllib.parse.urlencode(spec["tags"])
    account.client("s3").put_object(**params)


def _create_organization(
    spec: dict[str, Any], accounts: dict[str, tuple[boto3.Session, str]], name: str
) -> None:
    which = spec.get("management_account", "source")
    if which not in accounts:
        raise ScenarioError(f"{name}: organization.management_account must be source or target")
    account, account_id = accounts[which]
    org = account.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root_id = org.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        with contextlib.suppress(org.exceptions.PolicyTypeAlreadyEnabledException):
            org.enable_policy_type(RootId=root_id, PolicyType=policy_type)
    units: dict[str, str] = {"root": root_id}
    pending = dict(spec.get("units", {}))
    while pending:  # parents first, whatever order the file lists them in
        ready = [u for u, parent in pending.items() if parent in units]
        if not ready:
            raise ScenarioError(f"{name}: organization.units has an unknown parent: {pending}")
        for unit in ready:
            created = org.create_organizational_unit(ParentId=units[pending.pop(unit)], Name=unit)
            units[unit] = created["OrganizationalUnit"]["Id"]
    if spec.get("account_unit"):
        org.move_account(
            AccountId=account_id,
            SourceParentId=root_id,
            DestinationParentId=units[spec["account_unit"]],
        )
    for policy in spec.get("policies", []):
        created = org.create_policy(
            Name=policy["name"],
            Description=policy.get("description", policy["name"]),
            Type=policy["type"],
            Content=json.dumps(policy["document"]),
        )
        target = policy.get("target", "root")
        target_id = account_id if target == "account" else units.get(target)
        if target_id is None:
            raise ScenarioError(f"{name}: policy {policy['name']} targets unknown {target!r}")
        org.attach_policy(PolicyId=created["Policy"]["PolicySummary"]["Id"], TargetId=target_id)


def _write_profiles(
    workdir: Path, region: str, profiles: dict[str, dict[str, str]]
) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    config, credentials = configparser.ConfigParser(), configparser.ConfigParser()
    for profile, creds in profiles.items():
        config[f"profile {profile}"] = {"region": region, "output": "json"}
        credentials[profile] = creds
    config_path, credentials_path = workdir / "aws-config", workdir / "aws-credentials"
    with config_path.open("w", encoding="utf-8") as handle:
        config.write(handle)
    with credentials_path.open("w", encoding="utf-8") as handle:
        credentials.write(handle)
    credentials_path.chmod(0o600)
    return config_path, credentials_path
