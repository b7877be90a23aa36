"""Pull the facts out of a pasted error: the envelope (error code, operation, message) that the
CLI, an SDK or S3's XML wraps around AWS's message, the principal / action / resource the message
names, and the fields of a CloudTrail record when the paste is one.

Nothing here decides which lock is shut; `rules` does that from these facts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from kmsdoctor.arn import account_of, parse_arn, region_of

# `aws` CLI and botocore: "An error occurred (AccessDenied) when calling the GetObject operation:
# <message>"; botocore inserts "(reached max retries: N)" after retrying.
_BOTOCORE = re.compile(
    r"An error occurred \((?P<code>[^)]+)\) when calling the (?P<op>\w+) operation"
    r"(?: \(reached max retries: \d+\))?:?\s*(?P<msg>.*)$"
)
# AWS SDK for Java: "<message> (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied;
# Request ID: ...)" (v2 writes "Service: S3, Status Code: 403, Request ID: ...").
_JAVA = re.compile(
    r"^(?P<msg>.*?)\s*\(Service: [^;,)]+[;,] Status Code: \d+[;,]"
    r"(?: Error Code: (?P<code>[^;,)]+)[;,])?[^)]*\)"
)
# S3's own XML error body.
_XML_CODE = re.compile(r"<Code>\s*([^<]+?)\s*</Code>")
_XML_MESSAGE = re.compile(r"<Message>\s*([^<]*?)\s*</Message>")
# Go, JavaScript and many log lines: "AccessDenied: <message>", "KMS.NotFoundException: <message>".
_CODE_PREFIX = re.compile(
    r"^(?:[\w]+\.)?(?P<code>[A-Z][A-Za-z]*(?:Exception|Denied|Expired|Token|Id|Match|Error))"
    r":\s+(?P<msg>.+)$"
)
# Trailers that carry no meaning for us: Go's "status code: 403, request id: ...".
_GO_TRAILER = re.compile(r"\s+status code: \d+, request id: .*$")

# "User: ARN is not authorized to perform: ACTION [on resource: RES | on this resource | on the
# resource associated with this ciphertext]". S3's enhanced messages quote the resource ARN.
_NOT_AUTHORIZED = re.compile(
    r"User:?\s+(?P<principal>\S+?)\s+is not authorized to perform:?\s+"
    r"(?P<action>[A-Za-z0-9-]+:[A-Za-z0-9*]+)"
    r"(?:\s+on\s+(?:resource:\s*(?P<resource>\"[^\"]*\"|\S+)"
    r"|this resource|the resource associated with this ciphertext))?"
)
# The implicit-deny sentence repeats the action: "... because no X policy allows the s3:GetObject
# action". Used when the first half of the message was cut off.
_ALLOWS_THE_ACTION = re.compile(r"allows? the (?P<action>[A-Za-z0-9-]+:[A-Za-z0-9*]+) action")
# Newer messages name the policy: "with an explicit deny in a service control policy: arn:...".
_POLICY_ARN = re.compile(
    r"(?:explicit deny in an? [A-Za-z -]+?(?:policy|boundary)|policy allows [^:]+?action)"
    r"[:,]?\s*(?P<arn>arn:aws[\w-]*:(?:iam|organizations)::\S+)"
)
_KMS_KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
_S3_ARN = re.compile(r"arn:aws[\w-]*:s3:::[^\s\"',]+")
_S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>[^\s\"']+))?")

# botocore operation name -> the IAM action it is authorised as. HeadObject is authorised as
# s3:GetObject, and ListObjects(V2) as s3:ListBucket.
_OPERATION_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:GetObject",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "CreateMultipartUpload": "s3:PutObject",
    "Decrypt": "kms:Decrypt",
    "GenerateDataKey": "kms:GenerateDataKey",
    "DescribeKey": "kms:DescribeKey",
    "Encrypt": "kms:Encrypt",
    "ReEncrypt": "kms:ReEncrypt*",
}


@dataclass(frozen=True)
class Facts:
    """Everything read from the paste. `message` is AWS's own sentence, without the envelope."""

    message: str
    code: str | None = None
    operation: str | None = None
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    policy_arn: str | None = None
    bucket: str | None = None
    object_key: str | None = None
    region: str | None = None
    # CloudTrail only: whose trail recorded it, and the caller's and resource owner's accounts.
    from_cloudtrail: bool = False
    trail_account: str | None = None
    event_source: str | None = None
    caller_account_hint: str | None = None
    resource_account_hint: str | None = None

    @property
    def service(self) -> str | None:
        """`s3`, `kms`, ... from the action, else from the resource ARN."""
        if self.action and ":" in self.action:
            return self.action.split(":", 1)[0].lower()
        resource = parse_arn(self.resource or "")
        if resource is not None:
            return resource.service
        return None

    @property
    def key_arn(self) -> str | None:
        for text in (self.resource, self.message):
            match = _KMS_KEY_ARN.search(text or "")
            if match:
                return match.group(0)
        return None

    @property
    def caller_account(self) -> str | None:
        """The caller account: the principal's."""
        principal = parse_arn(self.principal or "")
        if principal is not None and principal.service in ("iam", "sts") and principal.account:
            return principal.account
        return self.caller_account_hint

    @property
    def resource_account(self) -> str | None:
        """The resource account: the KMS key's (which, in the problem kmsdoctor solves, also
        owns the bucket). S3 ARNs carry no account, so a bucket alone names none."""
        key = self.key_arn
        if key and account_of(key):
            return account_of(key)
        return self.resource_account_hint


def collapse(text: str) -> str:
    """One line, single spaces: AWS's messages arrive wrapped at arbitrary points."""
    return " ".join(text.split())


def read_facts(text: str) -> Facts:
    """Facts from a pasted message or CloudTrail record (the text is already redacted)."""
    record = _cloudtrail_record(text)
    if record is not None:
        return _facts_from_cloudtrail(record)
    return _facts_from_text(collapse(text))


def _facts_from_text(line: str, code: str | None = None, operation: str | None = None) -> Facts:
    message, found_code, found_operation = _split_envelope(line)
    facts = Facts(
        message=message,
        code=code or found_code,
        operation=operation or found_operation,
    )
    facts = _with_named_fields(facts)
    # The CLI's own prefix ("download failed: s3://bucket/key to ./key An error occurred ...")
    # names the object even when the message does not.
    uri = _S3_URI.search(line)
    if uri and facts.bucket is None:
        facts = replace(facts, bucket=uri.group("bucket"), object_key=uri.group("key"))
    return facts


def _split_envelope(line: str) -> tuple[str, str | None, str | None]:
    """(message, error code, operation) from whatever wraps AWS's message."""
    code: str | None = None
    operation: str | None = None
    message = line
    xml_message = _XML_MESSAGE.search(line)
    if xml_message:
        xml_code = _XML_CODE.search(line)
        return xml_message.group(1), xml_code.group(1) if xml_code else None, None
    botocore = _BOTOCORE.search(line)
    if botocore:
        code, operation, message = botocore.group("code"), botocore.group("op"), botocore["msg"]
    java = _JAVA.search(message)
    if java:
        message, code = java.group("msg"), code or java.group("code")
    prefixed = _CODE_PREFIX.match(message)
    if prefixed and not message.startswith("User"):
        code, message = code or prefixed.group("code"), prefixed.group("msg")
    message = _GO_TRAILER.sub("", message).strip()
    return message, code, operation


def _with_named_fields(facts: Facts) -> Facts:
    """Fill principal, action, resource, policy ARN, bucket/key, Region from the message."""
    message = facts.message
    principal, action, resource = facts.principal, facts.action, facts.resource
    match = _NOT_AUTHORIZED.search(message)
    if match:
        principal = match.group("principal")
        action = match.group("action")
        if match.group("resource"):
            resource = _clean_arn(match.group("resource"))
    if action is None:
        allows = _ALLOWS_THE_ACTION.search(message)
        if allows:
            action = allows.group("action")
    if action is None and facts.operation in _OPERATION_ACTIONS:
        action = _OPERATION_ACTIONS[facts.operation]
    if resource is None:
        key = _KMS_KEY_ARN.search(message)
        s3 = _S3_ARN.search(message)
        resource = key.group(0) if key else (_clean_arn(s3.group(0)) if s3 else None)
    policy = _POLICY_ARN.search(message)
    facts = replace(
        facts,
        principal=principal,
        action=action,
        resource=resource,
        policy_arn=_clean_arn(policy.group("arn")) if policy else facts.policy_arn,
    )
    return _with_location(facts)


def _with_location(facts: Facts) -> Facts:
    bucket, object_key, region = facts.bucket, facts.object_key, facts.region
    resource = parse_arn(facts.resource or "")
    if resource is not None and resource.service == "s3":
        bucket_part, _, key_part = resource.resource.partition("/")
        bucket = bucket or bucket_part
        # A policy's "bucket/*" is not an object key.
        object_key = object_key or (key_part if key_part and "*" not in key_part else None)
    key_arn = facts.key_arn
    if key_arn and region is None:
        region = region_of(key_arn) or None
    return replace(facts, bucket=bucket, object_key=object_key, region=region)


def _clean_arn(value: str) -> str:
    """Strip the quotes S3 puts around ARNs and the sentence's trailing punctuation."""
    return value.strip().strip("\"'").rstrip(".,;)")


# --- CloudTrail ---------------------------------------------------------------------------------


def _cloudtrail_record(text: str) -> dict[str, Any] | None:
    """The record when the paste is a CloudTrail event (alone, in {"Records": [...]}, or after a
    log prefix); None when it is not JSON of that shape."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        document = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    records = document.get("Records")
    if isinstance(records, list):
        candidates = [r for r in records if isinstance(r, dict)]
        # The denied event is the one to explain; a trail file holds many others.
        failed = [r for r in candidates if r.get("errorCode")]
        return (failed or candidates or [None])[0]
    if "eventName" in document or "errorCode" in document or "errorMessage" in document:
        return document
    return None


def _facts_from_cloudtrail(record: dict[str, Any]) -> Facts:
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    request = record.get("requestParameters")
    request = request if isinstance(request, dict) else {}
    event_source = _text(record.get("eventSource"))
    service = event_source.split(".", 1)[0] if event_source else None
    event_name = _text(record.get("eventName"))
    code = _text(record.get("errorCode"))
    message = collapse(_text(record.get("errorMessage")) or "")

    facts = _facts_from_text(message, code=code, operation=event_name)
    trail_account = _text(record.get("recipientAccountId"))
    caller_hint = _text(identity.get("accountId"))
    resource_arn, resource_account = _first_resource(record, service)

    principal = facts.principal or _text(identity.get("arn"))
    action = facts.action or (f"{service}:{event_name}" if service and event_name else None)
    resource = facts.resource or resource_arn or _request_resource(request, service)
    context_bucket, context_key = _encryption_context_object(request)
    bucket = facts.bucket or _text(request.get("bucketName")) or context_bucket
    object_key = facts.object_key or _text(request.get("key")) or context_key
    # S3 data events are recorded in the bucket owner's trail; when that is not the caller's
    # account, the recipient is A.
    if resource_account is None and service == "s3" and trail_account != caller_hint:
        resource_account = trail_account
    facts = replace(
        facts,
        principal=principal,
        action=action,
        resource=resource,
        bucket=bucket,
        object_key=object_key,
        region=facts.region or _text(record.get("awsRegion")),
        from_cloudtrail=True,
        trail_account=trail_account,
        event_source=event_source,
        caller_account_hint=caller_hint,
        resource_account_hint=resource_account,
    )
    return _with_location(facts)


def _first_resource(record: dict[str, Any], service: str | None) -> tuple[str | None, str | None]:
    """(ARN, owning account) of the event's resource: KMS key first, then an S3 object or bucket."""
    resources = [r for r in record.get("resources") or [] if isinstance(r, dict)]
    order = ("AWS::KMS::Key", "AWS::S3::Object", "AWS::S3::Bucket")
    if service == "s3":
        order = ("AWS::S3::Object", "AWS::S3::Bucket", "AWS::KMS::Key")
    for wanted in order:
        for item in resources:
            if item.get("type") == wanted and _text(item.get("ARN")):
                return _text(item.get("ARN")), _text(item.get("accountId"))
    return None, None


def _encryption_context_object(request: dict[str, Any]) -> tuple[str | None, str | None]:
    """(bucket, key) from a KMS event's encryption context: S3 puts the object's ARN in
    `aws:s3:arn` (the bucket's ARN when the object was written with an S3 Bucket Key)."""
    context = request.get("encryptionContext")
    arn = _text(context.get("aws:s3:arn")) if isinstance(context, dict) else None
    if arn is None:
        return None, None
    from kmsdoctor.arn import split_s3_address
    from kmsdoctor.errors import UsageError

    try:
        return split_s3_address(arn)
    except UsageError:  # not an S3 ARN: nothing to take from it
        return None, None


def _request_resource(request: dict[str, Any], service: str | None) -> str | None:
    key_id = _text(request.get("keyId"))
    if service == "kms" and key_id and parse_arn(key_id) is not None:
        return key_id
    bucket, key = _text(request.get("bucketName")), _text(request.get("key"))
    if service == "s3" and bucket:
        return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
