"""A check file is written by hand and edited in pull requests: every mistake is one line that
names the file, the line and the field, before any AWS call."""

from __future__ import annotations

import textwrap

import pytest

from kmsdoctor.check.file import CheckFileError, parse_check_file

BI = "arn:aws:iam::222222222222:role/BIAnalyticsRole"
ETL = "arn:aws:iam::222222222222:role/EtlRole"

GOOD = f"""\
region = "eu-west-1"

[accounts]                      # the profile that reads each account
"111111111111" = "a"
"222222222222" = "b"

[[expect]]
name = "BI reads curated sales" # optional
principal = "{BI}"
bucket = "datalake-curated-a"
key = "sales/2026/q1/regions.parquet"
operation = "read"
access = "allow"

[[expect]]                      # exactly these principals of the accounts above may read it
bucket = "datalake-curated-a"
key = "sales/2026/q1/regions.parquet"
readers = ["{BI}"]

[[expect]]
principal = "{ETL}"
bucket = "s3://datalake-finance-a"
prefix = "ledger/"
access = "deny"
"""


def error_of(text: str) -> str:
    with pytest.raises(CheckFileError) as raised:
        parse_check_file(textwrap.dedent(text), "checks.toml")
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_the_design_example_reads_as_three_expectations_at_their_lines():
    check = parse_check_file(GOOD, "checks.toml")
    assert check.region == "eu-west-1"
    assert check.accounts == {"111111111111": "a", "222222222222": "b"}
    first, second, third = check.expectations
    assert (first.line, first.kind, first.principal, first.access) == (7, "access", BI, "allow")
    assert first.name == "BI reads curated sales"
    assert (second.line, second.kind, second.principals, second.operation) == (
        15,
        "readers",
        (BI,),
        "read",
    )
    assert (third.line, third.bucket, third.key, third.prefix) == (
        20,
        "datalake-finance-a",
        None,
        "ledger/",
    )
    assert third.operation == "read"  # the default
    assert third.name == "EtlRole read s3://datalake-finance-a/ledger/*: deny"


def test_an_s3_address_in_bucket_gives_the_key():
    check = parse_check_file(
        GOOD.replace(
            'bucket = "datalake-curated-a"\nkey = "sales/2026/q1/regions.parquet"\noperation',
            'bucket = "s3://datalake-curated-a/sales/x.csv"\noperation',
        )
    )
    assert (check.expectations[0].bucket, check.expectations[0].key) == (
        "datalake-curated-a",
        "sales/x.csv",
    )


BASE_FIELDS = {"principal": f'"{BI}"', "bucket": '"datalake-curated-a"', "access": '"allow"'}


@pytest.mark.parametrize(
    ("mistake", "offset", "field", "says"),
    [
        ('name = "x"\nprinicpal = "BI"', 1, "expect[1].prinicpal", "unknown field"),
        ('key = "k"\noperation = "delete"', 1, "expect[1].operation", '"delete" is not one of'),
        ('key = "k"\naccess = "maybe"', 1, "expect[1].access", "is not one of allow | deny"),
        ('key = "k"\nprefix = "p/"', 1, "expect[1].prefix", "key or prefix, not both"),
        (
            'key = "k"\nprincipal = "arn:aws:iam::333333333333:role/Stranger"',
            1,
            "expect[1].principal",
            'account "333333333333" is not in [accounts]',
        ),
        ('key = "k"\nprincipal = "BIAnalyticsRole"', 1, "expect[1].principal", "not an IAM role"),
        (
            'key = "k"\nprincipal = "arn:aws:sts::222222222222:assumed-role/BI/s"',
            1,
            "expect[1].principal",
            "is a role session; name the role: arn:aws:iam::222222222222:role/BI",
        ),
        ('key = "k"\nprincipal = "arn:aws:s3:::bucket"', 1, "expect[1].principal", "not an IAM"),
        ('key = "k"\nbucket = "Not_A_Bucket"', 1, "expect[1].bucket", "is not a bucket name"),
        ('key = "k"\nbucket = "arn:aws:kms:eu-west-1:1:key/x"', 1, "expect[1].bucket", "not an S3"),
        (f'key = "k"\nreaders = ["{BI}"]', 1, "expect[1].readers", "give only one of principal"),
        ("key = 3", 0, "expect[1].key", "3 is not an object key"),
        ('key = "k"\nname = ""', 1, "expect[1].name", "is not a name"),
        ('key = "k"\noperation = ["read"]', 1, "expect[1].operation", "an array is not one of"),
    ],
)
def test_each_mistake_names_its_line_and_field(mistake, offset, field, says):
    lines = ["[accounts]", '"111111111111" = "a"', '"222222222222" = "b"', "", "[[expect]]"]
    for name, value in BASE_FIELDS.items():
        if f"{name} =" not in mistake:  # the mistake sets it instead
            lines.append(f"{name} = {value}")
    first_mistake_line = len(lines) + 1
    lines.extend(mistake.split("\n"))
    message = error_of("\n".join(lines) + "\n")
    assert message.startswith(f"checks.toml:{first_mistake_line + offset}: {field}: "), message
    assert says in message


def test_missing_access_points_at_the_expectation():
    message = error_of(
        f"""\
        [accounts]
        "222222222222" = "b"
        [[expect]]
        principal = "{BI}"
        bucket = "b-1-2"
        key = "k"
        """
    )
    assert message.startswith("checks.toml:3: expect[1].access: missing"), message


def test_neither_key_nor_prefix_points_at_the_table():
    message = error_of(
        f"""\
        [accounts]
        "222222222222" = "b"

        [[expect]]
        principal = "{BI}"
        access = "allow"
        bucket = "bucket-one"

        [[expect]]   # second
        principal = "{BI}"
        access = "allow"
        bucket = "bucket-two"
        """
    )
    assert message.startswith("checks.toml:4: expect[1]: give key (one object) or prefix")


def test_unknown_account_in_readers_names_the_list_element_line():
    message = error_of(
        f"""\
        [accounts]
        "222222222222" = "b"

        [[expect]]
        bucket = "bucket-one"
        prefix = ""
        readers = [
          "{BI}",   # BI
          # the ETL role of the other account
          "arn:aws:iam::444444444444:role/Etl",
        ]
        """
    )
    assert message.startswith("checks.toml:10: expect[1].readers[2]: account"), message


def test_access_with_readers_is_refused():
    message = error_of(
        f"""\
        [accounts]
        "222222222222" = "b"
        [[expect]]
        bucket = "bucket-one"
        key = "k"
        writers = ["{BI}"]
        access = "deny"
        """
    )
    assert message.startswith("checks.toml:7: expect[1].access: not used with writers")


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ('regoin = "eu-west-1"\n[accounts]\n"222222222222" = "b"', 1, "regoin"),
        ('region = "Ireland"\n[accounts]\n"222222222222" = "b"', 1, "region"),
        ('[accounts]\n"2222" = "b"', 2, 'accounts."2222"'),
        ('[accounts]\n"222222222222" = ""', 2, 'accounts."222222222222"'),
        ('[accounts]\n"222222222222" = "b"\n', 1, "expect"),
        ('[[expect]]\nbucket = "b-1"\n', 1, "accounts"),
        ('[accounts]\n"222222222222" = "b"\n[expect]\nbucket = "b-1"', 3, "expect"),
    ],
)
def test_top_level_mistakes(text, line, field):
    message = error_of(text)
    assert message.startswith(f"checks.toml:{line}: {field}: "), message


def test_toml_syntax_error_is_one_line_with_tomllib_position():
    message = error_of('[accounts]\n"222222222222" = b\n')
    assert message.startswith("checks.toml: TOML syntax error: ")
    assert "line 2" in message


def test_inline_tables_and_dotted_keys_still_give_the_right_lines():
    message = error_of(
        f"""\
        accounts."222222222222" = "b"
        expect = [
          {{ principal = "{BI}", bucket = "bucket-one", key = "k", access = "allow" }},
          # an inline table is one line in TOML 1.0; the array around it is not
          {{ principal = "{BI}", bucket = "bucket-one", key = "k", access = "sometimes" }},
        ]
        """
    )
    assert message.startswith("checks.toml:5: expect[2].access: "), message


def test_a_header_inside_a_string_or_comment_is_not_an_expectation():
    message = error_of(
        f'''\
        [accounts]
        "222222222222" = "b"
        # [[expect]]
        [[expect]]
        name = """
        [[expect]]
        """
        principal = "{BI}"
        bucket = "bucket-one"
        key = "k"
        access = "allow"

        [[expect]]
        principal = "{BI}"
        bucket = "bucket-one"
        key = "k"
        access = "nope"
        '''
    )
    assert message.startswith("checks.toml:17: expect[2].access: "), message
