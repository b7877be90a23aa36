"""Print an `Explanation`: plain lines for people (rich, wrapped for 80 columns, no colour when
NO_COLOR is set or the output is not a terminal), or one JSON document for scripts."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap

from rich.text import Text

from kmsdoctor.errors import EXIT_ALLOW, EXIT_UNKNOWN, UsageError
from kmsdoctor.explain.model import Explanation
from kmsdoctor.redact import redact
from kmsdoctor.report.pipe import QuietPipeConsole, silence_stdout

MAX_WIDTH = 80
_LABEL_WIDTH = 11

_LOCK_STYLES = {"unknown": "yellow", "key_state": "magenta"}


def emit_explanation(explanation: Explanation, fmt: str) -> int:
    """Print the explanation; return the exit code: 0 recognised, 3 not recognised."""
    try:
        if fmt == "json":
            # Redacted again on the way out: every string in it came from the user's paste.
            sys.stdout.write(redact(json.dumps(json_document(explanation), indent=2)) + "\n")
            sys.stdout.flush()
        elif fmt == "text":
            _print_text(explanation)
        else:
            raise UsageError(f"explain: unknown format {fmt!r} (use text or json)")
    except BrokenPipeError:  # `kmsdoctor explain … | head`: end quietly, keep the exit code
        silence_stdout()
    return EXIT_ALLOW if explanation.recognised else EXIT_UNKNOWN


# Version of the `explain --format json` document. Bump on any incompatible change.
EXPLAIN_SCHEMA_VERSION = 1


def json_document(explanation: Explanation) -> dict[str, object]:
    """`schema_version`, the header every kmsdoctor JSON document carries, then the
    explanation. `request` holds what the message names (nothing is asked of AWS)."""
    from kmsdoctor.report import document_header

    return {
        "schema_version": EXPLAIN_SCHEMA_VERSION,
        **document_header(_request_named(explanation)),
        **explanation.to_dict(),
    }


def _request_named(explanation: Explanation) -> dict[str, object]:
    """bucket, key, operation, region and principals as far as the message names them."""
    from kmsdoctor.arn import parse_arn, region_of

    bucket = key = None
    resource = parse_arn(explanation.resource or "")
    if resource is not None and resource.service == "s3":
        bucket, _, key = resource.resource.partition("/")
        key = key if key and "*" not in key else None
    action = (explanation.action or "").lower()
    operation = None
    if action.endswith(("getobject", "decrypt")):
        operation = "read"
    elif action.endswith(("putobject", "generatedatakey")):
        operation = "write"
    return {
        "bucket": bucket or None,
        "key": key,
        "operation": operation,
        "region": region_of(explanation.resource or "") or None,
        "principals": [explanation.principal] if explanation.principal else [],
    }


def _print_text(explanation: Explanation) -> None:
    console = QuietPipeConsole(file=sys.stdout, highlight=False, soft_wrap=True, emoji=False)
    width = min(console.width, MAX_WIDTH) if console.is_terminal else MAX_WIDTH
    width = max(width, 40)
    for line in _text_lines(explanation, width):
        console.print(line)


def _text_lines(explanation: Explanation, width: int) -> list[Text]:
    lines = [_lock_line(explanation)]
    for label, value in (
        ("principal", explanation.principal),
        ("action", explanation.action),
        ("resource", explanation.resource),
    ):
        lines.extend(_field(label, value or "(not in the message)", width, dim=value is None))
    lines.append(Text(""))
    summary = _wrap(redact(explanation.summary), width, "", "")
    lines.extend(Text(part) for part in summary)
    if explanation.next_steps:
        lines.append(Text(""))
        lines.append(Text("Next steps", style="bold"))
        for number, step in enumerate(explanation.next_steps, start=1):
            lines.extend(_numbered(number, redact(step), width))
    if explanation.command:
        lines.append(Text(""))
        lines.append(Text("Run", style="bold"))
        lines.extend(Text(part) for part in _command_lines(redact(explanation.command), width))
    return lines


def _lock_line(explanation: Explanation) -> Text:
    if not explanation.recognised:
        detail = "message not recognised"
    elif explanation.deny_type is None:
        detail = "deny type not stated"
    else:
        detail = f"{explanation.deny_type} deny"
    line = Text("lock".ljust(_LABEL_WIDTH), style="bold")
    line.append(explanation.lock, style=_LOCK_STYLES.get(explanation.lock, "red") + " bold")
    line.append(f" ({detail})")
    return line


def _field(label: str, value: str, width: int, *, dim: bool) -> list[Text]:
    """`label     value`, or the value on its own indented line when both do not fit (a KMS key
    ARN alone is 75 characters)."""
    style = "dim" if dim else ""
    value = redact(value)
    if _LABEL_WIDTH + len(value) <= width:
        line = Text(label.ljust(_LABEL_WIDTH), style="bold")
        line.append(value, style=style)
        return [line]
    return [Text(label, style="bold"), Text("  " + value, style=style)]


def _numbered(number: int, step: str, width: int) -> list[Text]:
    """A step wrapped under its number. ARNs and commands are never broken mid-word."""
    head = f"{number}. "
    return [Text(part) for part in _wrap(step, width, head, " " * len(head))]


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _command_lines(command: str, width: int) -> list[str]:
    """One option per line with shell continuations: fits 80 columns and still pastes as one
    command. A value too long for its flag's line (a key ARN) gets a line of its own."""
    tokens = shlex.split(command)
    lines = ["  " + " ".join(tokens[:2])]
    options = tokens[2:]
    index = 0
    while index < len(options):
        flag = options[index]
        value = options[index + 1] if index + 1 < len(options) else None
        if value is None or value.startswith("--"):
            lines.append("    " + flag)
            index += 1
            continue
        word = _shell_word(value)
        if len(f"    {flag} {word} \\") <= width:
            lines.append(f"    {flag} {word}")
        else:
            lines += ["    " + flag, "  " + word]
        index += 2
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def _shell_word(value: str) -> str:
    # Placeholders stay readable (<bucket>): the user replaces them before running.
    if value.startswith("<") and value.endswith(">"):
        return value
    return shlex.quote(value)
