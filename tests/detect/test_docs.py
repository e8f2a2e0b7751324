"""docs/detections.md stays true: it lists every rule, and docs/anomalies.md every anomaly field."""

from __future__ import annotations

from siem_pack.paths import content_root
from siem_pack.schema import load_schema

from .conftest import RULES


def test_every_rule_is_documented() -> None:
    text = (content_root() / "docs" / "detections.md").read_text()
    missing = [r.stem for r in RULES if f"| `{r.stem}` |" not in text]
    assert not missing, f"docs/detections.md lacks rows for {missing}"


def test_every_anomaly_field_is_documented() -> None:
    text = (content_root() / "docs" / "anomalies.md").read_text()
    fields = [f.name for f in load_schema().fields if f.name.startswith("siem_pack.anomaly.")]
    assert fields and all(f"`{f}`" in text for f in fields)


def test_the_suppression_table_is_the_content() -> None:
    """docs/detections.md "Alert suppression": one row per rule with its fields, window and
    missing-fields strategy as the rule file says."""
    text = (content_root() / "docs" / "detections.md").read_text()
    section = text.split("## Alert suppression (episodes)", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].split("`")[1]] = cells[1:]
    for r in RULES:
        sup = r.suppression
        assert sup is not None and r.stem in rows, r.stem
        fields, window, missing = rows[r.stem]
        hours = int(sup.duration.total_seconds() // 3600)
        assert window == f"{hours}h", r.stem
        assert fields.removeprefix("threshold fields (").rstrip(")") == ", ".join(sup.group_by), r.stem
        assert missing == ("—" if r.type == "threshold" else sup.missing), r.stem
