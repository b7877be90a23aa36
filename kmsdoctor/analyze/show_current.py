"""The read-only commands that show what is there now, for one request context.

The commands themselves are the lock catalogue's (`kmsdoctor.lock_catalogue`); this module fills
in the names (role, bucket, key, accounts), the profile of the side that owns the thing shown
(`--source-profile` for the resource account, `--target-profile` for the caller account, none
for the organization's management account) and the Region.
"""

from __future__ import annotations

import functools

from kmsdoctor import lock_catalogue as catalogue
from kmsdoctor.analyze.context import RequestContext
from kmsdoctor.lock_catalogue import ShowCommand, Side


def command_values(ctx: RequestContext) -> dict[str, str | None]:
    boundary = ctx.principal.permissions_boundary
    return {
        "entity": ctx.entity_name,
        "bucket": ctx.bucket_name,
        "object_key": ctx.snapshot.request.key,
        "key": ctx.key_arn or (ctx.key.reference if ctx.key else None),
        "region": ctx.region,
        "caller_account": ctx.caller_account,
        "resource_account": ctx.resource_account or None,
        "boundary_arn": boundary.value.arn if boundary.is_ok and boundary.value else None,
        "service": "s3",  # the caller's endpoint sees only the S3 request
    }


def profile_for(ctx: RequestContext, side: Side) -> str | None:
    if side == "resource":
        return ctx.source_profile
    if side == "caller":
        return ctx.target_profile
    return None  # the organization's management account: no profile of this run reaches it


def render(ctx: RequestContext, command: ShowCommand, **values: str | None) -> str | None:
    """One command for this context; `values` add or override names (a policy name)."""
    filled = command_values(ctx)
    filled.update(values)
    # Keyed only on the names this command uses: most do not name the object, so every object
    # under one bucket and key, for one principal, shares one rendered line.
    used = tuple((name, filled.get(name)) for name in _placeholders(command))
    return _rendered(command, used, profile_for(ctx, command.side), ctx.region)


@functools.lru_cache(maxsize=256)
def _placeholders(command: ShowCommand) -> tuple[str, ...]:
    return tuple(command.placeholders())


# Cached: the shell quoting of each line is the costly part of a first sight (issue 11 asks
# <= 0.2 ms of analysis per (principal, object)).
@functools.lru_cache(maxsize=8192)
def _rendered(
    command: ShowCommand,
    values: tuple[tuple[str, str | None], ...],
    profile: str | None,
    region: str | None,
) -> str | None:
    return command.render(dict(values), profile, region)


def show_current(ctx: RequestContext, lock: str) -> list[str]:
    """The commands that show a lock's current state, for this principal (role or user)."""
    commands = []
    for command in catalogue.show_commands(lock, ctx.principal.kind):
        line = render(ctx, command)
        if line is not None:
            commands.append(line)
    return commands


def _one(ctx: RequestContext, command: ShowCommand, **values: str | None) -> str:
    line = render(ctx, command, **values)
    if line is None:  # only optional commands leave a line out; these are not optional
        raise ValueError(f"{command.shows}: a value is missing")
    return line


def show_key_policy(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.KEY_POLICY)


def show_key(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.KEY_METADATA)


def show_grants(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.KEY_GRANTS)


def show_bucket_policy(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.BUCKET_POLICY)


def show_bucket_encryption(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.BUCKET_ENCRYPTION)


def show_object(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.OBJECT_HEAD)


def show_ownership(ctx: RequestContext) -> str:
    return _one(ctx, catalogue.OBJECT_OWNERSHIP)


def show_identity_policies(ctx: RequestContext) -> list[str]:
    return show_current(ctx, "identity")


def show_policy_by_name(ctx: RequestContext, policy_name: str) -> list[str]:
    """Commands that print one named policy (display names come from evaluation.py)."""
    user = ctx.principal.kind == "user"
    if policy_name.startswith("inline policy "):
        inline = policy_name.removeprefix("inline policy ")
        command = catalogue.USER_INLINE_POLICY if user else catalogue.ROLE_INLINE_POLICY
        return [_one(ctx, command, policy_name=inline)]
    if policy_name.startswith("managed policy "):
        name = policy_name.removeprefix("managed policy ")
        for named in ctx.principal.attached_policies.value or []:
            if named.name != name or not named.arn:
                continue
            if named.version_id:
                return [
                    _one(
                        ctx,
                        catalogue.MANAGED_POLICY_VERSION,
                        policy_arn=named.arn,
                        version_id=named.version_id,
                    )
                ]
            return [_one(ctx, catalogue.MANAGED_POLICY, policy_arn=named.arn)]
    if policy_name.startswith("bucket policy"):
        return [show_bucket_policy(ctx)]
    if policy_name.startswith("key policy"):
        return [show_key_policy(ctx)]
    return show_identity_policies(ctx)
