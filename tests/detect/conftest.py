"""Shared helpers for the detection tests: the loaded rules and exceptions, once."""

from __future__ import annotations

import pytest

from siem_pack.detect.rules import AllowEntry, Rule, load_exceptions, load_rules, rule_files, template_files

RULES: list[Rule] = load_rules()
ENTRIES: list[AllowEntry] = load_exceptions(rule_ids=[r.rule_id for r in RULES])
BY_STEM = {r.stem: r for r in RULES}
RULE_FILE_NAMES = [p.name for p in rule_files()] + [p.name for p in template_files()]


def stem_of(name: str) -> str:
    return name.removesuffix(".j2").removesuffix(".toml")


@pytest.fixture(params=RULE_FILE_NAMES)
def rule(request: pytest.FixtureRequest) -> Rule:
    """One rule per content file, the test id its file name."""
    return BY_STEM[stem_of(request.param)]
