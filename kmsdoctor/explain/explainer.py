"""`explain_message`: pasted text in, `Explanation` out. No AWS access, no AWS libraries."""

from __future__ import annotations

from kmsdoctor.explain.advice import Context, command_for, next_steps, role_path_note, summary
from kmsdoctor.explain.message_forms import classify
from kmsdoctor.explain.model import Explanation
from kmsdoctor.explain.parse import read_facts
from kmsdoctor.redact import redact


def explain_message(text: str) -> Explanation:
    """Read an AccessDenied / KMS / credentials error, or a CloudTrail record, and say which lock
    it names. Credentials in the paste are masked before anything else reads it."""
    facts = read_facts(redact(text))
    verdict = classify(facts)
    ctx = Context(facts, verdict)
    command = command_for(ctx)
    steps = next_steps(ctx)
    note = role_path_note(facts) if command and "--role-arn" in command else None
    if note:
        steps.append(note)
    return Explanation(
        principal=facts.principal,
        action=facts.action,
        resource=facts.resource,
        lock=verdict.lock,
        deny_type=verdict.deny_type,
        next_steps=steps,
        command=command,
        recognised=verdict.form is not None,
        summary=summary(ctx),
    )
