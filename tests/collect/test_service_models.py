"""Slim service models (kmsdoctor/service_models.py): the operations kmsdoctor calls are botocore's
own, whole; the cache is made once, read after, and never in the way when it cannot be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel, Shape

from kmsdoctor import service_models
from kmsdoctor.aws import ALLOWED_OPERATIONS
from kmsdoctor.service_models import slim_model, use_slim_models

SERVICES = sorted({entry.split(":")[0] for entry in ALLOWED_OPERATIONS})


def full_model(service: str) -> dict[str, Any]:
    loader = botocore.session.Session().get_component("data_loader")
    return loader.load_service_model(service, "service-2")


def operations_of(service: str) -> list[str]:
    return sorted(e.split(":")[1] for e in ALLOWED_OPERATIONS if e.startswith(f"{service}:"))


def described(shape: Shape | None, seen: frozenset[str] = frozenset()) -> Any:
    """What botocore serialises and parses by: type, location, names, required members, each
    member in turn (a shape that contains itself is named, not expanded again)."""
    if shape is None:
        return None
    if shape.name in seen:
        return ("recursive", shape.name)
    seen = seen | {shape.name}
    serialization = {k: v for k, v in shape.serialization.items() if k != "name"}
    metadata = {k: v for k, v in shape.metadata.items() if k not in ("documentation",)}
    entry: dict[str, Any] = {
        "type": shape.type_name,
        "serialization": serialization,
        "metadata": metadata,
    }
    if shape.type_name == "structure":
        entry["members"] = {name: described(member, seen) for name, member in shape.members.items()}
    elif shape.type_name == "list":
        entry["member"] = described(shape.member, seen)
    elif shape.type_name == "map":
        entry["key"] = described(shape.key, seen)
        entry["value"] = described(shape.value, seen)
    return entry


@pytest.mark.parametrize("service", SERVICES)
def test_each_allowed_operation_is_botocores_own_definition_whole(service):
    full = full_model(service)
    slim = slim_model(full, operations_of(service))
    full_service, slim_service = ServiceModel(full, service), ServiceModel(slim, service)
    assert sorted(slim_service.operation_names) == operations_of(service)
    assert slim_service.metadata == full_service.metadata
    for name in operations_of(service):
        whole, kept = full_service.operation_model(name), slim_service.operation_model(name)
        assert described(kept.input_shape) == described(whole.input_shape), name
        assert described(kept.output_shape) == described(whole.output_shape), name
        assert [e.name for e in kept.error_shapes] == [e.name for e in whole.error_shapes]
        assert kept.http == whole.http and kept.context_parameters == whole.context_parameters
    # and it is small: no documentation text, no other operation
    assert len(json.dumps(slim)) < len(json.dumps(full)) / 2
    assert "documentation" not in json.dumps(slim["operations"])


class CountingLoader:
    """A model loader that counts the full models it is asked for."""

    def __init__(self) -> None:
        self.search_paths = ["/models"]
        self.loads: list[tuple[str, str]] = []

    def load_service_model(self, service_name, type_name, api_version=None):
        self.loads.append((service_name, type_name))
        return full_model(service_name) if type_name == "service-2" else {"rules": []}


def test_a_slim_model_is_made_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(service_models.CACHE_ENV, str(tmp_path))
    first = CountingLoader()
    use_slim_models(first, ALLOWED_OPERATIONS)
    made = first.load_service_model("ec2", "service-2")
    assert list(made["operations"]) == ["DescribeVpcEndpoints"]
    assert first.loads == [("ec2", "service-2")]
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith("botocore-") and "-ec2-" in cached.name

    later = CountingLoader()  # another run
    use_slim_models(later, ALLOWED_OPERATIONS)
    assert later.load_service_model("ec2", "service-2") == made
    assert later.loads == []  # read from the cache: botocore's model not parsed
    # anything but a service-2 model of a listed service is botocore's, as before
    later.load_service_model("ec2", "endpoint-rule-set-1")
    later.load_service_model("dynamodb", "service-2")
    assert later.loads == [("ec2", "endpoint-rule-set-1"), ("dynamodb", "service-2")]


def test_a_new_allowed_operation_makes_a_new_slim_model(tmp_path, monkeypatch):
    monkeypatch.setenv(service_models.CACHE_ENV, str(tmp_path))
    older = CountingLoader()
    use_slim_models(older, ALLOWED_OPERATIONS - {"kms:ListResourceTags"})
    older.load_service_model("kms", "service-2")
    newer = CountingLoader()
    use_slim_models(newer, ALLOWED_OPERATIONS)
    model = newer.load_service_model("kms", "service-2")
    assert newer.loads == [("kms", "service-2")] and "ListResourceTags" in model["operations"]
    assert len(list(tmp_path.iterdir())) == 2


def test_a_damaged_cache_file_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv(service_models.CACHE_ENV, str(tmp_path))
    first = CountingLoader()
    use_slim_models(first, ALLOWED_OPERATIONS)
    first.load_service_model("sts", "service-2")
    (cached,) = tmp_path.iterdir()
    cached.write_text('{"operations": {', encoding="utf-8")  # a run killed mid-write, say
    again = CountingLoader()
    use_slim_models(again, ALLOWED_OPERATIONS)
    assert "GetCallerIdentity" in again.load_service_model("sts", "service-2")["operations"]
    assert again.loads == [("sts", "service-2")]
    assert json.loads(cached.read_text(encoding="utf-8"))["operations"]


def test_a_cache_that_cannot_be_written_costs_nothing_but_the_time(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would be", encoding="utf-8")
    monkeypatch.setenv(service_models.CACHE_ENV, str(blocked / "models"))
    loader = CountingLoader()
    use_slim_models(loader, ALLOWED_OPERATIONS)
    model = loader.load_service_model("iam", "service-2")
    assert "GetRole" in model["operations"] and "CreateRole" not in model["operations"]
    assert loader.load_service_model("iam", "service-2") is model  # once per run
    assert loader.loads == [("iam", "service-2")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_slim_models_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(service_models.CACHE_ENV, "off")
    loader = CountingLoader()
    use_slim_models(loader, ALLOWED_OPERATIONS)
    model = loader.load_service_model("iam", "service-2")
    assert "CreateRole" in model["operations"]  # botocore's whole model


def test_the_cache_lives_under_xdg_cache_home_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv(service_models.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert service_models.cache_dir() == Path(tmp_path, "kmsdoctor", "models")


def test_without_a_home_directory_there_is_no_cache(monkeypatch):
    monkeypatch.delenv(service_models.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(service_models.os.path, "expanduser", lambda path: path)
    assert service_models.cache_dir() is None
