"""A package, so that the package-scoped `trust_sandbox` (conftest.py) is torn down when the
trust tests end: in a plain directory pytest ties "package" scope to the whole session, and the
sandbox's moto state would leak into any test directory run after this one."""
