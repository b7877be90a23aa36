"""Collectors: read the accounts' configuration into a Snapshot, read-only.

`collect_facts(CollectionPlan(...))` reads what a set of questions needs, each fact once;
`collect_snapshot(CollectRequest(...))` is the two-account shorthand of `collect` and
`diagnose`. The per-resource collectors (`collect_bucket`, `collect_object`, `collect_key`,
`collect_principal`, `collect_organization`, `collect_vpc_endpoints`) are usable on their own
with clients from `kmsdoctor.aws.client`.
"""

from kmsdoctor.collect.caller_account import collect_principal, collect_vpc_endpoints
from kmsdoctor.collect.organization import collect_organization
from kmsdoctor.collect.plan import CollectionPlan, ProfilePair, collect_facts
from kmsdoctor.collect.request import CollectRequest
from kmsdoctor.collect.resource_account import collect_bucket, collect_key, collect_object
from kmsdoctor.collect.run import collect_snapshot, plan_for

__all__ = [
    "CollectRequest",
    "CollectionPlan",
    "ProfilePair",
    "collect_bucket",
    "collect_facts",
    "collect_key",
    "collect_object",
    "collect_organization",
    "collect_principal",
    "collect_snapshot",
    "collect_vpc_endpoints",
    "plan_for",
]
