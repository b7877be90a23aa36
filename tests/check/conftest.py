"""Fixtures for the check tests: the moto sandbox (accounts A and B built from a scenario)."""

from __future__ import annotations

from moto_fixtures.pytest_plugin import aws_faults, sandbox  # noqa: F401
