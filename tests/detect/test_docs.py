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
