"""Option values converted without pydantic: part of kmsdoctor's start-up budget.

typer (0.2x) converts every non-flag option through a pydantic `TypeAdapter` it builds while the
command line is parsed. Importing pydantic and building one adapter per option cost about half
of `import boto3` — before `diagnose` can send its first AWS request (measured with
`python -X importtime` and `make bench`, issue #13). kmsdoctor's options are only `str`, `Path`,
`list[str]`, `StrEnum` choices and flags; click has already split them into strings, so they are
converted here, with the same error for a value that is not one of the choices.

`install()` swaps typer's `build_runtime_param` for annotations of those kinds only; any other
annotation, or a typer without that hook (older or newer), keeps typer's own conversion.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    try:
        import typer.core as typer_core
        from typer._coercion import RuntimeParam
    except ImportError:  # pragma: no cover - a typer without the hook: its own conversion
        return
    original = getattr(typer_core, "build_runtime_param", None)
    if original is None:  # pragma: no cover
        return

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):  # type: ignore[misc]
        convert: Callable[..., Any]
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.many:
                return [self.convert(item, param, ctx) for item in value]
            return self.convert(value, param, ctx)

    def build_runtime_param(descriptor: Any) -> Any:
        plain = plain_conversion(descriptor.annotation)
        if plain is None or getattr(descriptor, "file_annotation", None) is not None:
            return original(descriptor)
        convert, many = plain
        return PlainRuntimeParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            convert=convert,
            many=many,
        )

    typer_core.build_runtime_param = build_runtime_param
    _installed = True


def plain_conversion(annotation: Any) -> tuple[Callable[..., Any], bool] | None:
    """(convert one value, is a list) for str, Path, StrEnum and list[...] of them, optional or
    not; None for anything else."""
    annotation = _without_none(annotation)
    many = typing.get_origin(annotation) is list
    if many:
        (annotation,) = typing.get_args(annotation)
    if annotation is str:
        return _as_str, many
    if annotation is bool:  # flags whose default is None (typer's own completion options)
        return _as_bool, many
    if annotation is Path:
        return _as_path, many
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice_of(annotation), many
    return None


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(others) == 1:
            return others[0]
    return annotation


def _as_str(value: Any, param: Any, ctx: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _as_bool(value: Any, param: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")


def _as_path(value: Any, param: Any, ctx: Any) -> Path:
    return value if isinstance(value, Path) else Path(value)


def _choice_of(enum: type[Enum]) -> Callable[..., Any]:
    def choose(value: Any, param: Any, ctx: Any) -> Enum:
        if isinstance(value, enum):
            return value
        for member in enum:
            if member.value == value:
                return member
        import typer

        choices = ", ".join(repr(member.value) for member in enum)
        raise typer.BadParameter(f"{value!r} is not one of {choices}.", ctx=ctx, param=param)

    return choose
