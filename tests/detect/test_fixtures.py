"""Every rule's hit/miss fixtures on DuckDB and on the real Elasticsearch node: each backend
meets the expectation and both return the same alerts (uuids, entities, ancestors).

On Elasticsearch all fixtures share one index, each (rule, file) moved 40 days from the
next, farther apart than any look-back or history window, so they never meet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from siem_pack.detect.fixtures import (
    KINDS,
    check_rule,
    es_index_fixture,
    fixture_dir,
    fixture_tick,
    load_fixture,
    run_duckdb,
    shifted,
)
from siem_pack.detect.rules import Rule
from siem_pack.detect.runner_es import ESRuleReader
from siem_pack.detect.schedule import evaluate

from .conftest import RULES

SLOT = timedelta(days=40)


@pytest.fixture(scope="session")
def fixture_index(es: Any) -> Iterator[dict[tuple[str, str], Any]]:
    """One index holding every fixture file, shifted into its own slot; (stem, kind) → (index, docs)."""
    index = f"t-detect-{uuid.uuid4().hex[:10]}"
    slots: dict[tuple[str, str], Any] = {}
    every: list[dict[str, Any]] = []
    k = 0
    for r in RULES:
        for kind in KINDS:
            docs = shifted(load_fixture(fixture_dir(r) / f"{kind}.ndjson"), -k * SLOT)
            slots[(r.stem, kind)] = (index, docs)
            every += docs
            k += 1
    es_index_fixture(es, index, every)
    yield slots
    es.options(ignore_status=[404]).indices.delete(index=index)


def test_fixtures_on_duckdb(rule: Rule) -> None:
    results = check_rule(rule)
    assert all(r.ok for r in results), [r.problems for r in results]


@pytest.mark.elasticsearch
def test_fixtures_on_duckdb_and_elasticsearch(rule: Rule, es: Any, fixture_index: dict[tuple[str, str], Any]) -> None:
    for kind in KINDS:
        index, docs = fixture_index[(rule.stem, kind)]
        ticks = [fixture_tick(rule, docs)]
        duck = run_duckdb(rule, docs, ticks)
        on_es = evaluate(rule, ESRuleReader(es, index, index), ticks)
        assert bool(duck) == (kind == "hit"), f"{rule.path.name} {kind}: duckdb gave {len(duck)} alert(s)"
        assert bool(on_es) == (kind == "hit"), f"{rule.path.name} {kind}: elasticsearch gave {len(on_es)} alert(s)"
        assert on_es == duck, f"{rule.path.name} {kind}: backends disagree"


@pytest.mark.elasticsearch
def test_check_rule_with_own_index(es: Any, es_prefix: str) -> None:
    """The library path `rules test --es-url` uses (an index per fixture file)."""
    rule = next(r for r in RULES if r.type == "eql")
    results = check_rule(rule, client=es, prefix=es_prefix)
    assert [r.ok for r in results] == [True, True] and results[0].elasticsearch == results[0].duckdb == 1


def test_alert_shape(rule: Rule) -> None:
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    alerts = run_duckdb(rule, docs, [fixture_tick(rule, docs)])
    ids = {d["event"]["id"] for d in docs}
    assert alerts, f"{rule.path.name}: no alert on the hit fixture"
    for a in alerts:
        assert a["kibana.alert.rule.rule_id"] == rule.rule_id and a["kibana.alert.rule.name"] == rule.name
        assert a["kibana.alert.severity"] == rule.severity and a["kibana.alert.risk_score"] == rule.risk_score
        assert a["kibana.alert.workflow_status"] == "open"
        assert set(a["kibana.alert.ancestors"]) <= ids and a["kibana.alert.ancestors"]
        assert len(a["kibana.alert.uuid"]) == 64
        assert a["@timestamp"].endswith("Z") and a["kibana.alert.original_time"] <= a["@timestamp"]
    again = run_duckdb(rule, docs, [fixture_tick(rule, docs)])
    assert [a["kibana.alert.uuid"] for a in again] == [a["kibana.alert.uuid"] for a in alerts]
