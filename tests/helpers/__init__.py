"""Helpers shared by several test folders (fixtures, set-ups); imported as `tests.helpers.*`."""
