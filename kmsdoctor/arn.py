"""ARNs and S3 object addresses: the one place that takes them apart.

`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` — the resource part may itself hold colons
(`arn:aws:kms:eu-west-1:111111111111:alias/x` has none, an STS session name may). Nothing here
calls AWS or imports boto3.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from kmsdoctor.errors import UsageError


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str  # "role/path/Name", "key/1234…", "bucket/key", "assumed-role/Name/session"

    @property
    def resource_type(self) -> str:
        """`role` for `role/path/Name`, `key` for `key/…`; "" for an S3 bucket or object."""
        head, sep, _ = self.resource.partition("/")
        return head if sep and self.service != "s3" else ""

    @property
    def name(self) -> str:
        """The last path element: `arn:aws:iam::1:role/path/Name` → `Name`."""
        return self.resource.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return ":".join(
            ("arn", self.partition, self.service, self.region, self.account, self.resource)
        )


# Cached: the analysis parses the same few principal, key and bucket ARNs for every object, and
# an Arn is frozen, so sharing one instance is safe.
@functools.lru_cache(maxsize=8192)
def parse_arn(text: str) -> Arn | None:
    """The ARN's parts, or None when `text` is not an ARN."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        return None
    return Arn(*parts[1:])


def account_of(arn: str) -> str:
    """The account id in an ARN; "" for an ARN without one (S3) or a non-ARN."""
    parsed = parse_arn(arn)
    return parsed.account if parsed else ""


def region_of(arn: str) -> str:
    parsed = parse_arn(arn)
    return parsed.region if parsed else ""


def partition_of(arn: str, default: str = "aws") -> str:
    parsed = parse_arn(arn)
    return parsed.partition if parsed else default


def name_of(arn: str) -> str:
    """The last path element of an ARN's resource (IAM paths are not part of the name)."""
    parsed = parse_arn(arn)
    return parsed.name if parsed else arn.rsplit("/", 1)[-1]


def is_key_arn(reference: str) -> bool:
    parsed = parse_arn(reference)
    return parsed is not None and parsed.service == "kms" and parsed.resource.startswith("key/")


def is_role_arn(arn: str) -> bool:
    parsed = parse_arn(arn)
    return parsed is not None and parsed.service == "iam" and parsed.resource.startswith("role/")


def role_name_of(role_arn: str, option: str = "--role-arn") -> str:
    """The role name in an IAM role ARN; anything else is a UsageError naming `option`."""
    if not is_role_arn(role_arn):
        raise UsageError(
            f"{option} {role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )
    return name_of(role_arn)


def iam_entity_key(arn: str) -> str:
    """One key per IAM role or user: names are unique within an account whatever the path, and
    not distinguished by case (IAM CreateRole / CreateUser), so `role/x` and `role/team/x` of
    one account are the same role. Anything else is returned unchanged."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != "iam" or parsed.resource_type not in ("role", "user"):
        return arn
    return f"{parsed.partition}:{parsed.account}:{parsed.resource_type}/{parsed.name.lower()}"


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def object_arn(bucket: str, key: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


def split_s3_address(text: str) -> tuple[str, str | None]:
    """(bucket, key) from a bucket name, `s3://bucket/key` or an S3 object/bucket ARN.
    The key is None when the address names only the bucket (`s3://bucket`, `s3://bucket/`)."""
    if text.startswith("s3://"):
        rest = text[len("s3://") :]
    else:
        parsed = parse_arn(text)
        if parsed is None:
            return text, None
        if parsed.service != "s3":
            raise UsageError(f"{text!r} is not an S3 bucket, s3:// URI or S3 object ARN")
        rest = parsed.resource
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise UsageError(f"{text!r} names no bucket")
    return bucket, key or None


# --- KMS key references: a key ARN, a key id, an alias name or an alias ARN ---------------------


def is_alias_reference(reference: str | None) -> bool:
    """`alias/name` or `arn:aws:kms:REGION:ACCOUNT:alias/name`."""
    if not reference:
        return False
    if reference.startswith("alias/"):
        return True
    parsed = parse_arn(reference)
    return parsed is not None and parsed.service == "kms" and parsed.resource.startswith("alias/")


def alias_name_of(reference: str) -> str:
    """`alias/name` from an alias ARN or alias name (other references are returned unchanged)."""
    parsed = parse_arn(reference)
    if parsed is not None and parsed.service == "kms":
        return parsed.resource
    return reference


def key_id_of(reference: str) -> str:
    """The key id of a key ARN or bare key id (aliases are returned unchanged)."""
    if is_key_arn(reference):
        return name_of(reference)
    return reference


def assumed_role_of(arn: str) -> tuple[Arn, str] | None:
    """(the session ARN's parts, the role name) for an STS assumed-role session ARN
    `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`; None for anything else."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != "sts":
        return None
    kind, _, rest = parsed.resource.partition("/")
    role, _, session = rest.partition("/")
    if kind != "assumed-role" or not role or not session:
        return None
    return parsed, role
