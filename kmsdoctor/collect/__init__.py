"""Collectors: read both accounts' configuration into a Snapshot, read-only.

`collect_snapshot(CollectRequest(...))` is the entry point; the per-resource collectors
(`collect_bucket`, `collect_object`, `collect_key`, `collect_principal`,
`collect_organization`, `collect_vpc_endpoints`) are usable on their own with clients from
`kmsdoctor.aws.client`.
"""

from kmsdoctor.collect.organization import collect_organization
from kmsdoctor.collect.request import CollectRequest
from kmsdoctor.collect.run import collect_snapshot
from kmsdoctor.collect.source import collect_bucket, collect_key, collect_object
from kmsdoctor.collect.target import collect_principal, collect_vpc_endpoints

__all__ = [
    "CollectRequest",
    "collect_bucket",
    "collect_key",
    "collect_object",
    "collect_organization",
    "collect_principal",
    "collect_snapshot",
    "collect_vpc_endpoints",
]
