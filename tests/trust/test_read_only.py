"""Read-only, checked twice: the suite-wide guard (tests/conftest.py) catches an off-list call
however it is made, and a static scan proves every AWS operation named anywhere in kmsdoctor's
source is on ALLOWED_OPERATIONS, so a new collector or probe call cannot slip in untested."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore import xform_name
from moto import mock_aws

from kmsdoctor import aws

KMSDOCTOR_DIR = Path(aws.__file__).resolve().parent
REGION = "eu-west-1"


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch):
    """moto in-process with throwaway credentials: whatever the guard misses goes nowhere."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAGUARDTESTKEY0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "guard-test-secret")
    with mock_aws():
        yield


# --- the guard -------------------------------------------------------------------------------


def test_guard_sees_a_kmsdoctor_client_attempt_an_off_list_write(fake_aws, read_only_guard):
    """A client kmsdoctor makes on botocore's full model (a session of its own loader) has
    PutObject: its before-call handler refuses it, and the guard sees the attempt."""
    s3 = aws.client(boto3.Session(region_name=REGION), "s3")
    with pytest.raises(aws.OperationNotAllowed, match="s3:PutObject"):
        s3.put_object(Bucket="any", Key="x", Body=b"x")
    (attempt,) = read_only_guard.take_off_list()
    assert attempt.operation == "s3:PutObject"
    assert attempt.made_by == "kmsdoctor.aws.client"


def test_a_kmsdoctor_session_client_cannot_even_express_an_off_list_write(
    fake_aws, read_only_guard
):
    """Sessions kmsdoctor opens read slim models (kmsdoctor/service_models.py): their clients
    have the allow-listed operations only, and `call` refuses any other by name, before the
    client is asked for it, so nothing reaches AWS."""
    s3 = aws.client(aws.session_for(None, REGION), "s3")
    assert not hasattr(s3, "put_object") and hasattr(s3, "head_object")
    with pytest.raises(aws.OperationNotAllowed, match="s3:PutObject"):
        aws.call(s3, "PutObject", Bucket="any", Key="x", Body=b"x")
    with pytest.raises(aws.OperationNotAllowed, match="s3:ListObjectVersions"):
        aws.call_pages(s3, "ListObjectVersions", "Versions", Bucket="any")
    assert read_only_guard.take_off_list() == []


def test_guard_catches_kmsdoctor_code_that_bypasses_aws_client(fake_aws, read_only_guard):
    """The case kmsdoctor.aws cannot police itself: code under kmsdoctor/ making a plain boto3
    client. Simulated by compiling a snippet under a kmsdoctor/ file name; moto takes the write,
    and only the guard stands between it and a green run."""
    snippet = (
        "def rogue_collector(region):\n"
        "    import boto3\n"
        "    boto3.client('iam', region_name=region).create_role(\n"
        "        RoleName='rogue', AssumeRolePolicyDocument='{}')\n"
    )
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(KMSDOCTOR_DIR / "collect" / "rogue.py"), "exec"), namespace)
    namespace["rogue_collector"](REGION)
    (attempt,) = read_only_guard.take_off_list()
    assert attempt.operation == "iam:CreateRole"
    assert attempt.made_by == "kmsdoctor/collect/rogue.py:3"


def test_guard_ignores_calls_made_by_tests_and_fixtures(fake_aws, read_only_guard, request):
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="fixture-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    assert read_only_guard.operations_in(request.node.nodeid) == []


def test_guard_records_what_kmsdoctor_reads(fake_aws, read_only_guard, request):
    aws.call(aws.client(aws.session_for(None, REGION), "sts"), "GetCallerIdentity")
    assert read_only_guard.operations_in(request.node.nodeid) == ["sts:GetCallerIdentity"]
    assert read_only_guard.take_off_list() == []


# --- the static scan -------------------------------------------------------------------------

SERVICE_HINTS = {  # how a client variable's name says its service: a_s3, b_iam, kms_for_region
    "s3": "s3",
    "kms": "kms",
    "iam": "iam",
    "org": "organizations",
    "sts": "sts",
    "ec2": "ec2",
    "cloudtrail": "cloudtrail",
    "trail": "cloudtrail",
    "codepipeline": "codepipeline",
    "codebuild": "codebuild",
}
AWS_CALLS = ("call", "call_pages")  # kmsdoctor.aws's two ways to call AWS
ALLOWED_SERVICES = {entry.split(":")[0] for entry in aws.ALLOWED_OPERATIONS}


@dataclass(frozen=True)
class NamedOperation:
    """An AWS operation named in kmsdoctor's source."""

    where: str  # "kmsdoctor/collect/resource_account.py:52"
    service: str | None  # None when the source does not say which client it is
    pattern: str  # "GetKeyPolicy", or a regex for an f-string: "Get[A-Z][a-z]+Policy"


def _source_files() -> list[Path]:
    return sorted(KMSDOCTOR_DIR.rglob("*.py"))


def _service_of(client_expression: str) -> str | None:
    """The service a client expression names by one of its words: `b_iam`, `kms_for_region(...)`,
    `org`. None when no word says it."""
    words = re.findall(r"[a-z0-9]+", client_expression.lower())
    return next((SERVICE_HINTS[w] for w in words if w in SERVICE_HINTS), None)


def _operation_pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        # f"Get{kind}Policy": each placeholder stands for one capitalised word (Role, User...)
        return "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else "[A-Z][a-z]+"
            for part in node.values
        )
    return None


def _snake_to_operation() -> dict[str, set[tuple[str, str]]]:
    """botocore method names (get_key_policy) of every service, to their operations."""
    session = botocore.session.get_session()
    names: dict[str, set[tuple[str, str]]] = {}
    for service in ALLOWED_SERVICES:
        for operation in session.get_service_model(service).operation_names:
            names.setdefault(xform_name(operation), set()).add((service, operation))
    return names


def named_operations(files: list[Path] | None = None) -> list[NamedOperation]:
    """Every `call(client, "Op")`, `call_pages(client, "Op", ...)` (also handed to a pool's
    `submit`), `get_paginator("op")` and `client.<operation>(` in kmsdoctor/."""
    snake = _snake_to_operation()
    found: list[NamedOperation] = []
    for path in files or _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(path.parents[1])
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{relative}:{node.lineno}"
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            args = node.args
            if name == "submit" and args and getattr(args[0], "id", None) in AWS_CALLS:
                name, args = args[0].id, args[1:]  # pool.submit(call, client, "Op")
            if name in AWS_CALLS and len(args) >= 2:
                pattern = _operation_pattern(args[1])
                if pattern is not None:
                    service = _service_of(ast.unparse(args[0]))
                    found.append(NamedOperation(where, service, pattern))
            elif isinstance(func, ast.Attribute) and func.attr == "get_paginator" and node.args:
                method = node.args[0]
                if isinstance(method, ast.Constant) and isinstance(method.value, str):
                    for service, operation in snake.get(method.value, set()):
                        found.append(NamedOperation(where, service, re.escape(operation)))
            elif isinstance(func, ast.Attribute) and func.attr in snake:
                service = _service_of(ast.unparse(func.value))
                for candidate, operation in snake[func.attr]:
                    if service in (None, candidate):
                        found.append(NamedOperation(where, candidate, re.escape(operation)))
    return found


def _model_operations(service: str) -> list[str]:
    return list(botocore.session.get_session().get_service_model(service).operation_names)


def test_static_scan_finds_the_collectors_calls():
    """The scan is only worth something if it sees the calls; these are known to exist."""
    patterns = {(n.service, n.pattern) for n in named_operations()}
    assert ("kms", "GetKeyPolicy") in patterns
    assert ("iam", "Get[A-Z][a-z]+Policy") in patterns  # f"Get{kind}Policy" in target.py
    assert ("organizations", "DescribePolicy") in patterns
    assert ("sts", "AssumeRole") in patterns
    assert ("sts", "GetCallerIdentity") in patterns  # pool.submit(call, a_sts, ...) in run.py


def off_list_problems(named_operations: list[NamedOperation]) -> list[str]:
    problems = []
    for named in named_operations:
        if named.service is None:
            problems.append(f"{named.where}: cannot tell the service of the client")
            continue
        if named.service not in ALLOWED_SERVICES:
            problems.append(f"{named.where}: service {named.service} is not allowed at all")
            continue
        # Every operation of that service the name could be: an f-string must not be able to
        # reach anything off the list, and a literal must be on it.
        matches = [op for op in _model_operations(named.service) if re.fullmatch(named.pattern, op)]
        if not matches:
            problems.append(f"{named.where}: {named.service}:{named.pattern} matches nothing")
        problems += [
            f"{named.where}: {named.service}:{op} is not on ALLOWED_OPERATIONS"
            for op in matches
            if f"{named.service}:{op}" not in aws.ALLOWED_OPERATIONS
        ]
    return problems


def test_every_operation_named_in_the_source_is_on_the_allow_list():
    assert off_list_problems(named_operations()) == []


def test_static_scan_flags_writes_and_unnamed_clients(tmp_path):
    collector = tmp_path / "kmsdoctor" / "rogue.py"
    collector.parent.mkdir()
    collector.write_text(
        "def rogue(b_iam, kind, mystery, s3_client):\n"
        "    call(b_iam, 'DeleteRole', RoleName='x')\n"
        "    call_pages(b_iam, f'Delete{kind}Policy', 'x')\n"
        "    call(mystery, 'GetKeyPolicy')\n"
        "    s3_client.put_object(Bucket='b', Key='k')\n",
        encoding="utf-8",
    )
    assert sorted(off_list_problems(named_operations([collector]))) == [
        "kmsdoctor/rogue.py:2: iam:DeleteRole is not on ALLOWED_OPERATIONS",
        "kmsdoctor/rogue.py:3: iam:DeleteGroupPolicy is not on ALLOWED_OPERATIONS",
        "kmsdoctor/rogue.py:3: iam:DeleteRolePolicy is not on ALLOWED_OPERATIONS",
        "kmsdoctor/rogue.py:3: iam:DeleteUserPolicy is not on ALLOWED_OPERATIONS",
        "kmsdoctor/rogue.py:4: cannot tell the service of the client",
        "kmsdoctor/rogue.py:5: s3:PutObject is not on ALLOWED_OPERATIONS",
    ]


def _loop_values(tree: ast.AST) -> dict[str, set[str]]:
    """Names bound by `for s in ("sts", "s3")` loops and comprehensions, to those strings."""
    values: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.comprehension | ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
        ):
            strings = {
                e.value
                for e in node.iter.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            }
            values.setdefault(node.target.id, set()).update(strings)
    return values


def client_services() -> dict[str, set[str]]:
    """The service of every `client(session, SERVICE, ...)` in kmsdoctor/, by place."""
    found: dict[str, set[str]] = {}
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        loops = _loop_values(tree)
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            name = getattr(func, "id", getattr(func, "attr", None))
            if not isinstance(node, ast.Call) or name != "client" or len(node.args) < 2:
                continue
            service = node.args[1]
            where = f"{path.relative_to(KMSDOCTOR_DIR.parent)}:{node.lineno}"
            if isinstance(service, ast.Constant):
                found[where] = {service.value}
            elif isinstance(service, ast.Name):
                found[where] = loops.get(service.id, {f"<cannot tell: {service.id}>"})
            else:
                found[where] = {f"<cannot tell: {ast.unparse(service)}>"}
    return found


def test_every_client_kmsdoctor_makes_is_for_an_allowed_service():
    found = client_services()
    services = set().union(*found.values())
    assert {"kms", "s3", "iam", "organizations", "sts", "ec2"} <= services  # the scan works
    assert {w: s for w, s in found.items() if not s <= ALLOWED_SERVICES} == {}
