"""Any text given as a check file gives a checked file or one line and exit 2: never a
traceback, never a line number outside the file."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsdoctor.check.file import CheckFile, CheckFileError, parse_check_file

BI = "arn:aws:iam::222222222222:role/BIAnalyticsRole"

# Lines a check file is made of, right and wrong, so the fuzzer reaches the field checks and
# not only TOML syntax errors.
FRAGMENTS = [
    'region = "eu-west-1"',
    "region = 3",
    "[accounts]",
    '"111111111111" = "a"',
    '"222222222222" = "b"',
    '"2222" = "b"',
    'accounts = { "222222222222" = "b" }',
    "[[expect]]",
    "[expect]",
    "[[expect.readers]]",
    'expect = [{ bucket = "b-1-2", key = "k", readers = [] }]',
    f'principal = "{BI}"',
    'principal = "arn:aws:iam::333333333333:role/X"',
    'principal = "arn:aws:sts::222222222222:assumed-role/X/s"',
    "principal = []",
    'bucket = "datalake-curated-a"',
    'bucket = "s3://datalake-curated-a/k"',
    'bucket = "NO"',
    'key = "sales/q1.parquet"',
    'prefix = "sales/"',
    "prefix = 1",
    'operation = "read"',
    'operation = "write"',
    'operation = "delete"',
    'access = "allow"',
    'access = "deny"',
    f'readers = ["{BI}"]',
    f'writers = [\n  "{BI}",  # comment\n]',
    "readers = [1, 2]",
    'name = """multi\n[[expect]]\nline"""',
    "name = 'literal [[expect]]'",
    "# [[expect]] in a comment",
    'unknown = "x"',
    "x.y.z = 1",
    "",
]

documents = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)), max_size=25).map(
    "\n".join
)

FIELD_VALUES = {
    "name": ['"n"', '""', "1"],
    "principal": [f'"{BI}"', '"arn:aws:iam::333333333333:user/U"', '"nope"', "[]"],
    "bucket": ['"datalake-curated-a"', '"s3://datalake-curated-a/k"', '"x"'],
    "key": ['"k"', '""', "true"],
    "prefix": ['"p/"', '""', "{}"],
    "operation": ['"read"', '"write"', '"list"'],
    "access": ['"allow"', '"deny"', '"yes"'],
    "readers": [f'["{BI}"]', "[]", '"one"'],
    "writers": [f'["{BI}"]', '["arn:aws:iam::222222222222:root"]'],
    "extra": ['"x"'],
}


def _value(draw, name: str) -> str:
    """Mostly the right value (the first), sometimes a wrong one."""
    values = FIELD_VALUES[name]
    return draw(st.sampled_from(values[:1] * 3 + values))


@st.composite
def structured_documents(draw) -> str:
    """A file shaped like a check file: accounts, then [[expect]] tables, each with a bucket,
    a key or prefix and who, most values right, sometimes a field too many or missing."""
    lines = ['region = "eu-west-1"', "[accounts]", '"222222222222" = "b"']
    for _ in range(draw(st.integers(1, 3))):
        lines.append(draw(st.sampled_from(["[[expect]]", "[[ expect ]]  # a comment"])))
        names = ["bucket", draw(st.sampled_from(["key", "prefix"]))]
        who = draw(st.sampled_from(["principal", "readers", "writers"]))
        names += [who, "access"] if who == "principal" else [who]
        names += draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=2))
        if draw(st.integers(0, 9)) == 0:
            names.pop(draw(st.integers(0, len(names) - 1)))
        for name in dict.fromkeys(names):
            lines.append(f"{name} = {_value(draw, name)}")
    return "\n".join(lines) + "\n"


LOCATED = re.compile(r"^checks\.toml:(\d+): \S")


def assert_checked_or_one_line(text: str) -> None:
    try:
        result = parse_check_file(text, "checks.toml")
    except CheckFileError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        if message.startswith("checks.toml: TOML syntax error: "):
            return
        located = LOCATED.match(message)
        assert located, message
        assert 1 <= int(located.group(1)) <= text.count("\n") + 1, message
        return
    assert isinstance(result, CheckFile)
    assert result.expectations
    for expectation in result.expectations:
        assert 1 <= expectation.line <= text.count("\n") + 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_assembled_check_file_is_checked_or_one_line(text):
    assert_checked_or_one_line(text)


@settings(max_examples=400, deadline=None)
@given(structured_documents())
def test_any_structured_check_file_is_checked_or_one_line(text):
    assert_checked_or_one_line(text)
    lines = text.splitlines()
    try:
        checked = parse_check_file(text, "checks.toml")
    except CheckFileError as exc:
        # The line named is the one where the field named is written (a missing field: where
        # its table starts).
        message = str(exc)
        located = LOCATED.match(message)
        assert located
        field = message.split(": ")[1]
        last = re.sub(r"\[\d+\]$", "", field.rsplit(".", 1)[-1])
        if ": missing" in message:
            last = "expect"
        assert last in lines[int(located.group(1)) - 1], (message, text)
        return
    for expectation in checked.expectations:
        assert "expect" in lines[expectation.line - 1]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_checked_or_one_line(text):
    assert_checked_or_one_line(text)
