"""Scenario fixtures for kmsdoctor: moto accounts A and B built from `scenarios/*.json`.

- `builder.load_scenario(name)`, `builder.build_scenario(scenario, workdir) -> Sandbox`
- `faults.AwsFaults`: AWS error answers injected at the botocore layer
- `pytest_plugin`: the `sandbox` and `aws_faults` fixtures
- `python -m moto_fixtures.sandbox demo`: the demo against a local moto server
"""
