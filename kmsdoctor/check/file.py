"""The check file (DESIGN.md §4.1): read with `tomllib`, every field validated before any AWS call.

A check file is user input written by hand and edited in pull requests, so every mistake is one
line that names the file, the line and the field, and exit 2:

    checks.toml:14: expect[2].principal: account 333333333333 is not in [accounts]

Nothing here imports boto3; `kmsdoctor check` reads and validates the whole file first.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kmsdoctor.arn import parse_arn, split_s3_address
from kmsdoctor.check.locate import Path as ValuePath
from kmsdoctor.check.locate import line_of, value_lines
from kmsdoctor.errors import UsageError
from kmsdoctor.questions import Operation

Access = Literal["allow", "deny"]
Kind = Literal["access", "readers", "writers"]

TOP_LEVEL_FIELDS = ("region", "accounts", "expect")
EXPECT_FIELDS = (
    "name",
    "principal",
    "bucket",
    "key",
    "prefix",
    "operation",
    "access",
    "readers",
    "writers",
)
OPERATIONS: tuple[Operation, ...] = ("read", "write")
ACCESS_VALUES: tuple[Access, ...] = ("allow", "deny")

_ACCOUNT_ID = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
# S3 bucket naming rules (general purpose buckets): 3–63 characters, lowercase letters, digits,
# dots and hyphens, beginning and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MAX_VALUE_SHOWN = 80


class CheckFileError(UsageError):
    """A check file that cannot be run: one line with the file, line and field."""


@dataclass(frozen=True)
class Expectation:
    """One `[[expect]]` table, validated."""

    index: int  # 0-based position among the file's expectations
    line: int  # where the table starts in the check file (1-based)
    name: str  # given, or made from what it checks
    kind: Kind  # access: one principal; readers/writers: exactly these principals
    bucket: str
    key: str | None
    prefix: str | None
    operation: Operation
    principal: str | None = None  # kind "access"
    access: Access | None = None  # kind "access"
    principals: tuple[str, ...] = ()  # kind "readers" / "writers": the allowed principals

    @property
    def address(self) -> str:
        """`s3://bucket/key`, or `s3://bucket/prefix*` for every object under a prefix."""
        if self.key is not None:
            return f"s3://{self.bucket}/{self.key}"
        return f"s3://{self.bucket}/{self.prefix or ''}*"


@dataclass(frozen=True)
class CheckFile:
    path: str  # as the user gave it (reports and SARIF locations use it)
    region: str | None
    accounts: dict[str, str]  # account id -> the profile that reads it
    expectations: list[Expectation] = field(default_factory=list)


def load_check_file(path: str | Path) -> CheckFile:
    """Read and validate the check file at `path`; a CheckFileError for anything wrong."""
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckFileError(f"cannot read check file {shown}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CheckFileError(f"{shown}:{line}: the check file is not UTF-8 text") from None
    return parse_check_file(text, shown)


def parse_check_file(text: str, path: str = "<check file>") -> CheckFile:
    """Validate the TOML check file `text`; `path` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's own message ends with "(at line L, column C)".
        raise CheckFileError(f"{path}: TOML syntax error: {exc}") from None
    return _Validator(path, document, value_lines(text)).check_file()


class _Validator:
    def __init__(self, path: str, document: dict[str, Any], lines: dict[ValuePath, int]) -> None:
        self.path = path
        self.document = document
        self.lines = lines

    def fail(self, where: ValuePath, problem: str) -> CheckFileError:
        return CheckFileError(
            f"{self.path}:{line_of(self.lines, where)}: {_field_name(where)}: {problem}"
        )

    # -- the whole file ----------------------------------------------------------------------

    def check_file(self) -> CheckFile:
        for name in self.document:
            if name not in TOP_LEVEL_FIELDS:
                raise self.fail(
                    (name,), f"unknown field; expected one of {', '.join(TOP_LEVEL_FIELDS)}"
                )
        region = self.region()
        accounts = self.accounts()
        expectations = self.expectations(accounts)
        return CheckFile(self.path, region, accounts, expectations)

    def region(self) -> str | None:
        region = self.document.get("region")
        if region is None:
            return None
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise self.fail(("region",), f"{_shown(region)} is not a Region such as eu-west-1")
        return region

    def accounts(self) -> dict[str, str]:
        table = self.document.get("accounts")
        if table is None:
            raise self.fail(
                ("accounts",),
                "missing; add [accounts] with the profile that reads each account, e.g. "
                '"111111111111" = "a"',
            )
        if not isinstance(table, dict):
            raise self.fail(("accounts",), 'must be a table of "ACCOUNT_ID" = "PROFILE"')
        if not table:
            raise self.fail(("accounts",), "names no account")
        accounts: dict[str, str] = {}
        for account, profile in table.items():
            where = ("accounts", account)
            if not _ACCOUNT_ID.fullmatch(account):
                raise self.fail(where, f"{_shown(account)} is not a 12-digit account id")
            if not isinstance(profile, str) or not profile.strip():
                raise self.fail(where, f"{_shown(profile)} is not a profile name")
            accounts[account] = profile
        return accounts

    def expectations(self, accounts: dict[str, str]) -> list[Expectation]:
        tables = self.document.get("expect")
        if tables is None:
            raise self.fail(("expect",), "missing; the file has no [[expect]] table")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise self.fail(("expect",), "must be an array of tables: write each as [[expect]]")
        if not tables:
            raise self.fail(("expect",), "names no expectation")
        return [self.expectation(index, table, accounts) for index, table in enumerate(tables)]

    # -- one [[expect]] ----------------------------------------------------------------------

    def expectation(self, index: int, table: dict[str, Any], accounts: dict[str, str]):
        here: ValuePath = ("expect", index)
        for name in table:
            if name not in EXPECT_FIELDS:
                raise self.fail(
                    (*here, name), f"unknown field; expected one of {', '.join(EXPECT_FIELDS)}"
                )
        bucket, key, prefix = self.object_fields(here, table)
        operation = self.choice(here, table, "operation", OPERATIONS, default="read")

        kinds = [name for name in ("principal", "readers", "writers") if name in table]
        if len(kinds) != 1:
            problem = (
                "give one of principal (with access), readers or writers"
                if not kinds
                else f"give only one of {', '.join(kinds)}"
            )
            raise self.fail(here if not kinds else (*here, kinds[1]), problem)
        kind = kinds[0]

        principal = access = None
        principals: tuple[str, ...] = ()
        if kind == "principal":
            principal = self.principal_arn((*here, "principal"), table["principal"], accounts)
            if "access" not in table:
                raise self.fail((*here, "access"), "missing; say allow or deny")
            access = self.choice(here, table, "access", ACCESS_VALUES)
        else:
            for word in ("access", "operation"):
                if word in table:
                    raise self.fail(
                        (*here, word),
                        f"not used with {kind}: {kind} lists exactly who may "
                        f"{'read' if kind == 'readers' else 'write'}",
                    )
            operation = "read" if kind == "readers" else "write"
            principals = self.principal_list(here, kind, table[kind], accounts)

        name = table.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise self.fail((*here, "name"), f"{_shown(name)} is not a name (a non-empty string)")
        expectation = Expectation(
            index=index,
            line=line_of(self.lines, here),
            name="",
            kind="access" if kind == "principal" else kind,
            bucket=bucket,
            key=key,
            prefix=prefix,
            operation=operation,
            principal=principal,
            access=access,
            principals=principals,
        )
        return _named(expectation, name)

    def object_fields(
        self, here: ValuePath, table: dict[str, Any]
    ) -> tuple[str, str | None, str | None]:
        if "bucket" not in table:
            raise self.fail((*here, "bucket"), "missing; name the bucket")
        raw = table["bucket"]
        if not isinstance(raw, str) or not raw:
            raise self.fail((*here, "bucket"), f"{_shown(raw)} is not a bucket name")
        try:
            bucket, key_in_address = split_s3_address(raw)
        except UsageError as exc:
            raise self.fail((*here, "bucket"), str(exc)) from None
        if not _BUCKET.fullmatch(bucket):
            raise self.fail(
                (*here, "bucket"),
                f"{_shown(bucket)} is not a bucket name (3-63 lowercase letters, digits, dots, "
                "hyphens)",
            )
        key = table.get("key")
        prefix = table.get("prefix")
        if key_in_address is not None:
            if key is not None:
                raise self.fail((*here, "key"), "the bucket address already names a key")
            key = key_in_address
        if key is not None and prefix is not None:
            raise self.fail((*here, "prefix"), "give key or prefix, not both")
        if key is None and prefix is None:
            raise self.fail(here, "give key (one object) or prefix (every object under it)")
        if key is not None and (not isinstance(key, str) or not key):
            raise self.fail((*here, "key"), f"{_shown(key)} is not an object key")
        if prefix is not None and not isinstance(prefix, str):
            raise self.fail((*here, "prefix"), f"{_shown(prefix)} is not a prefix (a string)")
        return bucket, key, prefix

    def choice(
        self,
        here: ValuePath,
        table: dict[str, Any],
        name: str,
        allowed: tuple[str, ...],
        default: str | None = None,
    ) -> Any:
        value = table.get(name, default)
        if value not in allowed:
            raise self.fail((*here, name), f"{_shown(value)} is not one of {' | '.join(allowed)}")
        return value

    def principal_list(
        self, here: ValuePath, kind: str, value: Any, accounts: dict[str, str]
    ) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail((*here, kind), "must be a list of role or user ARNs ([] for nobody)")
        principals: list[str] = []
        for position, arn in enumerate(value):
            principals.append(self.principal_arn((*here, kind, position), arn, accounts))
        return tuple(dict.fromkeys(principals))

    def principal_arn(self, where: ValuePath, value: Any, accounts: dict[str, str]) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"{_shown(value)} is not an IAM role or user ARN")
        parsed = parse_arn(value)
        if (
            parsed is not None
            and parsed.service == "sts"
            and parsed.resource_type == ("assumed-role")
        ):
            role = parsed.resource.split("/")[1] if "/" in parsed.resource else "NAME"
            raise self.fail(
                where,
                f"{_shown(value)} is a role session; name the role: "
                f"arn:{parsed.partition}:iam::{parsed.account}:role/{role}",
            )
        if (
            parsed is None
            or parsed.service != "iam"
            or parsed.resource_type not in ("role", "user")
            or not parsed.name
            or parsed.region
        ):
            raise self.fail(
                where,
                f"{_shown(value)} is not an IAM role or user ARN "
                "(arn:aws:iam::ACCOUNT:role/NAME or …:user/NAME)",
            )
        if parsed.account not in accounts:
            raise self.fail(
                where,
                f"account {_shown(parsed.account)} is not in [accounts]; add the profile that "
                "reads it",
            )
        return value


def _named(expectation: Expectation, name: str | None) -> Expectation:
    """The expectation with its given name, or one made from what it checks."""
    from dataclasses import replace

    if name is None:
        if expectation.kind == "access":
            who = (expectation.principal or "").rsplit("/", 1)[-1]
            name = f"{who} {expectation.operation} {expectation.address}: {expectation.access}"
        else:
            name = f"{expectation.kind} of {expectation.address}"
    return replace(expectation, name=name.strip())


def _field_name(where: ValuePath) -> str:
    """`("expect", 2, "principal")` → `expect[3].principal` (tables counted from 1, as a
    person counts them in the file); `("accounts", "1")` → `accounts."1"`."""
    text = ""
    for part in where:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part) and not part.isdigit():
            text += f".{part}" if text else part
        else:
            text += f".{_shown(part)}" if text else _shown(part)
    return text or "file"


def _shown(value: Any) -> str:
    """A value as the error message quotes it: repr-like, on one line, bounded."""
    if isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value).lower() if isinstance(value, bool) else repr(value)
    text = " ".join(text.split()) or '""'
    return text if len(text) <= _MAX_VALUE_SHOWN else text[: _MAX_VALUE_SHOWN - 1] + "…"
