"""Test helpers that are library code: used by the tests and by scripts/engines.py."""
