"""`collect_snapshot`: the two-account shorthand (--source-profile / --target-profile) as a
collection plan.

The questions are the caller profile's own identity (or each --role-arn) asking for the
operation on the bucket and key; the resource profile reads the bucket, its object and key, the
caller profile the principals. `collect_facts` (plan.py) then reads each fact once, concurrently;
the calls form a few short chains, so a collection costs about its longest chain:

    A  GetCallerIdentity -> ListParents (up to the root) -> ListPoliciesForTarget -> DescribePolicy
    A  HeadObject -> DescribeKey -> GetKeyPolicy | ListGrants | ListAliases
    A  GetBucket{Location,Policy,Encryption,OwnershipControls,Acl}, GetPublicAccessBlock
    B  GetCallerIdentity -> GetRole | ListRolePolicies | ListAttachedRolePolicies -> Get* ...
    B  GetCallerIdentity -> organization chain as for A (SCPs), DescribeVpcEndpoints
"""

from __future__ import annotations

from kmsdoctor.collect.plan import CollectionPlan, ProfilePair, collect_facts
from kmsdoctor.collect.request import CollectRequest
from kmsdoctor.questions import Question
from kmsdoctor.snapshot import Snapshot


def plan_for(request: CollectRequest) -> CollectionPlan:
    """The questions and profiles the shorthand stands for."""
    principals = list(dict.fromkeys(request.role_arns)) or [""]
    questions = [
        Question(principal, request.bucket, request.key, None, request.operation)
        for principal in principals
    ]
    return CollectionPlan(
        questions=questions,
        region=request.region,
        kms_key=request.kms_key,
        pair=ProfilePair(resource=request.source_profile, caller=request.target_profile),
    )


def collect_snapshot(request: CollectRequest) -> Snapshot:
    return collect_facts(plan_for(request))
