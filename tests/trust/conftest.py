"""Fixtures of the trust tests: one rich moto sandbox for the whole package, injected AWS
answers (errors from `moto_fixtures.faults`, successes from `aws_answers`), fast retries.

A fresh moto state costs seconds (moto builds EC2 and IAM defaults per account on first use),
so the package builds its accounts once and every test runs kmsdoctor against them; tests only
*read* that state (kmsdoctor is read-only) and inject faults per test at the botocore layer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from tenacity import wait_none

from moto_fixtures.builder import build_scenario
from moto_fixtures.pytest_plugin import apply_sandbox_env, aws_faults  # noqa: F401
from tests.trust.aws_answers import aws_answers  # noqa: F401
from tests.trust.harness import TrustSandbox, add_user_profile, run_kmsdoctor, trust_scenario


@pytest.fixture(scope="package")
def trust_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrustSandbox]:
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        box = build_scenario(trust_scenario(), tmp_path_factory.mktemp("trust-sandbox"))
        apply_sandbox_env(box, monkeypatch)
        sandbox = TrustSandbox(box, add_user_profile(box))
        # Warm moto up (EC2 and IAM defaults are built on first use) so that no test pays for
        # it; the warm-up runs through kmsdoctor, so the read-only guard checks it too.
        warm_up = run_kmsdoctor(*sandbox.args("diagnose", "--no-probe", "--format", "json"))
        assert warm_up.exit_code == 0, warm_up.output
        yield sandbox


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backoff sleeps, for tests that inject throttling, timeouts or dead endpoints."""
    import kmsdoctor.aws

    monkeypatch.setattr(kmsdoctor.aws, "RETRY_WAIT", wait_none())
