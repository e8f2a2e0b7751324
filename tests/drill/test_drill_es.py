"""The drill on the real Elasticsearch node gives the embedded drill's results: the same
alerts (by uuid) and the same score."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem_pack.drill import DrillOptions, drill_es, read_alerts, score_run
from siem_pack.settings import ClusterSettings


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_es_drill_matches_embedded(es_settings: ClusterSettings, es_prefix: str, tmp_path: Path) -> None:
    options = DrillOptions(seed=3, days=5, identities=10)
    es_report = drill_es(tmp_path, es_settings, options, index_prefix=es_prefix)
    embedded = score_run(tmp_path / "simulation", tmp_path / "run")
    assert any("normalized offline" in n for n in es_report.notes), es_report.notes

    def uuids(alerts: list[dict]) -> set[str]:  # type: ignore[type-arg]
        return {a["kibana"]["alert"]["uuid"] for a in alerts}

    emb_alerts = read_alerts(tmp_path / "run" / "alerts.ndjson")
    es_alerts = read_alerts(tmp_path / "alerts-es.ndjson")
    assert emb_alerts, "the attacks raise alerts"
    assert uuids(es_alerts) == uuids(emb_alerts)
    assert [(s.id, s.detected, s.rules) for s in es_report.scenarios] == \
        [(s.id, s.detected, s.rules) for s in embedded.scenarios]
    assert es_report.false_alerts == embedded.false_alerts
    assert es_report.recall == embedded.recall
