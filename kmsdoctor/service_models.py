"""Slim service models: the part of botocore's models kmsdoctor's clients use, kept on disk.

Making a client parses its service's whole model (botocore's `service-2.json`): EC2's, for the
one DescribeVpcEndpoints kmsdoctor makes, is 60 ms of CPU; IAM's and S3's 30 and 15 ms. A run
over four accounts parsed them while its first calls were in flight, where the interpreter's one
thread at a time made that the largest single cost of the AWS phase (bench/pipeline_bench.py).
Each client also generated a method per operation: about 700 for EC2.

A slim model is the full one with only the operations on the allow-list (`aws.ALLOWED_OPERATIONS`),
the shapes they reach, and no documentation text. It is made from the installed botocore's own
model the first time a service is needed, written to the cache directory, and read from there
afterwards. Calls, their parameters and answers are the same: the operations kept are botocore's
own definitions, whole (tests/collect/test_service_models.py compares them).

The cache directory: `$KMSDOCTOR_MODEL_CACHE`, else `$XDG_CACHE_HOME/kmsdoctor/models`, else
`~/.cache/kmsdoctor/models`; `KMSDOCTOR_MODEL_CACHE=off` turns slim models off. A file is named
after botocore's version, the model search paths and the operations kept, so an upgrade or a new
operation makes a new one. When the directory cannot be written, the slim model is made in memory
for the run (no time saved, nothing lost).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import botocore

from kmsdoctor.concurrency import Once

CACHE_ENV = "KMSDOCTOR_MODEL_CACHE"
_FORMAT = 1  # bump when slim_model changes what it keeps
_DOC_KEYS = frozenset({"documentation", "documentationUrl"})


def slim_model(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """`model` (a botocore service-2 model) with only `operations`, the shapes they reach, and
    no documentation text. Everything else (metadata, version, each kept operation's and
    shape's definition) is kept as it is."""
    kept_operations = {
        name: _without_docs(model["operations"][name])
        for name in operations
        if name in model["operations"]
    }
    shapes = model.get("shapes", {})
    reached: dict[str, None] = {}
    pending = [name for op in kept_operations.values() for name in _shape_refs(op)]
    while pending:
        name = pending.pop()
        if name in reached or name not in shapes:
            continue
        reached[name] = None
        pending.extend(_shape_refs(shapes[name]))
    slim = {key: value for key, value in model.items() if key not in ("operations", "shapes")}
    slim.pop("documentation", None)
    slim["operations"] = kept_operations
    slim["shapes"] = {name: _without_docs(shapes[name]) for name in shapes if name in reached}
    return slim


def _shape_refs(definition: Any) -> list[str]:
    """Every shape name a definition refers to (`{"shape": NAME}` anywhere inside it: members,
    list members, map keys and values, an operation's input, output and errors)."""
    found: list[str] = []
    stack = [definition]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            shape = item.get("shape")
            if isinstance(shape, str):
                found.append(shape)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _without_docs(item: Any) -> Any:
    """A copy without documentation text: a "documentation" key whose value is text (a member
    of that name is a dict, and stays)."""
    if isinstance(item, dict):
        return {
            key: _without_docs(value)
            for key, value in item.items()
            if not (key in _DOC_KEYS and isinstance(value, str))
        }
    if isinstance(item, list):
        return [_without_docs(value) for value in item]
    return item


def cache_dir() -> Path | None:
    """Where slim models are kept, or None when they are turned off."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = Path(os.path.expanduser("~"))
        if not home.is_absolute():
            return None  # no home directory: a "~" folder in the working directory it is not
        base = str(home / ".cache")
    return Path(base, "kmsdoctor", "models")


def use_slim_models(loader: Any, allowed_operations: Iterable[str]) -> None:
    """Make `loader` (botocore's model loader shared by every kmsdoctor session) answer a
    service-2 model of a service on the allow-list with its slim model."""
    directory = cache_dir()
    if directory is None:
        return
    by_service: dict[str, list[str]] = {}
    for entry in sorted(allowed_operations):
        service, operation = entry.split(":", 1)
        by_service.setdefault(service, []).append(operation)
    load_full = loader.load_service_model
    paths = "\n".join(str(path) for path in getattr(loader, "search_paths", []))
    # One thread makes a service's slim model; the others asking for it wait, those asking for
    # another service do not.
    loaded: Once[str, dict[str, Any]] = Once()

    def load_service_model(
        service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        operations = by_service.get(service_name)
        if type_name != "service-2" or api_version is not None or operations is None:
            return load_full(service_name, type_name, api_version)

        def read_or_make() -> dict[str, Any]:
            path = directory / _file_name(service_name, operations, paths)
            made = _read(path)
            if made is None:
                made = _make_and_write(path, lambda: load_full(service_name, type_name), operations)
            return made

        return loaded.get(service_name, read_or_make)

    loader.load_service_model = load_service_model


def _file_name(service: str, operations: list[str], search_paths: str) -> str:
    digest = hashlib.sha256(
        "\n".join([str(_FORMAT), search_paths, *operations]).encode("utf-8")
    ).hexdigest()[:16]
    return f"botocore-{botocore.__version__}-{service}-{digest}.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not there yet, or unreadable: made again
    if not isinstance(model, dict) or "operations" not in model or "shapes" not in model:
        return None
    return model


def _make_and_write(
    path: Path, load_full: Callable[[], dict[str, Any]], operations: list[str]
) -> dict[str, Any]:
    model = slim_model(load_full(), operations)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: another run reading it meanwhile never sees half a file.
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            temporary = handle.name
            json.dump(model, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError:
        # A read-only home or cache: the slim model serves this run from memory.
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return model
