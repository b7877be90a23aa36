"""Real diagnoses for the output tests: the analysis of the factories' snapshots (a healthy
read, a key policy that does not name the caller, a key policy that cannot be read), so the
reports are tested on what the analysis really says, not on hand-made findings."""

from __future__ import annotations

from functools import cache

from kmsdoctor.analyze.model import PrincipalDiagnosis
from kmsdoctor.check.file import CheckFile, parse_check_file
from kmsdoctor.check.model import ObjectOutcome
from tests.analyze.factories import (
    diagnose,
    key_policy,
    make_key,
    make_snapshot,
    only,
    unknown,
)

BI = "arn:aws:iam::222222222222:role/BIAnalyticsRole"
ETL = "arn:aws:iam::222222222222:role/EtlRole"
AUDIT = "arn:aws:iam::222222222222:role/AuditRole"

CHECKS = f"""\
region = "eu-west-1"

[accounts]
"111111111111" = "a"
"222222222222" = "b"

[[expect]]
name = "BI reads curated sales"
principal = "{BI}"
bucket = "datalake-curated-a"
key = "sales/2026/q1/regions.parquet"
access = "allow"

[[expect]]
name = "BI reads every curated object"
principal = "{BI}"
bucket = "datalake-curated-a"
prefix = "sales/"
access = "allow"

[[expect]]
name = "ETL cannot read curated"
principal = "{ETL}"
bucket = "datalake-curated-a"
key = "sales/2026/q1/regions.parquet"
access = "deny"

[[expect]]
name = "only BI reads curated"
bucket = "datalake-curated-a"
key = "sales/2026/q1/regions.parquet"
readers = ["{BI}"]
"""


def check_file(text: str = CHECKS) -> CheckFile:
    return parse_check_file(text, "checks/lake.toml")


@cache
def _allowed() -> PrincipalDiagnosis:
    return only(diagnose(make_snapshot()))


@cache
def _key_policy_shut() -> PrincipalDiagnosis:
    return only(diagnose(make_snapshot(key=make_key(policy=key_policy()))))


@cache
def _key_policy_unreadable() -> PrincipalDiagnosis:
    return only(diagnose(make_snapshot(key=make_key(policy=unknown("kms:GetKeyPolicy")))))


def allowed(principal: str = BI, key: str | None = "k") -> ObjectOutcome:
    return ObjectOutcome(principal, key, _allowed())


def key_policy_shut(principal: str = BI, key: str | None = "k") -> ObjectOutcome:
    return ObjectOutcome(principal, key, _key_policy_shut())


def key_policy_unreadable(principal: str = BI, key: str | None = "k") -> ObjectOutcome:
    return ObjectOutcome(principal, key, _key_policy_unreadable())
