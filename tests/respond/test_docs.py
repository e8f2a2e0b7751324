"""The runbook has exactly the anchors the rules' investigation guides link to, one per
rule family, and every guide's link resolves."""

from __future__ import annotations

import re

import pytest

from siem_pack.detect.rules import rule_files, template_files
from siem_pack.paths import content_dir

RUNBOOK = content_dir("docs") / "runbook.md"
ANCHORS = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', RUNBOOK.read_text()))
FILES = [*rule_files(), *template_files()]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_rule_runbook_links_resolve(path: object) -> None:
    text = path.read_text()  # type: ignore[attr-defined]
    links = set(re.findall(r"docs/runbook\.md#([a-z0-9-]+)", text))
    assert links, "the investigation guide links no runbook section"
    assert links <= ANCHORS, f"missing runbook anchors: {sorted(links - ANCHORS)}"


def test_runbook_has_exactly_the_linked_families() -> None:
    linked = {a for p in FILES for a in re.findall(r"docs/runbook\.md#([a-z0-9-]+)", p.read_text())}
    assert ANCHORS == linked
