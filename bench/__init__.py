"""Benchmarks; `make bench` runs them through bench/__main__.py."""
