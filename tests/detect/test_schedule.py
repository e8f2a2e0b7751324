"""A rule's schedule replayed over a period: evaluating many windows in few queries equals
evaluating tick by tick, on DuckDB and on Elasticsearch; alerts are written create-only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.detect.alerts import write_duckdb, write_es
from siem_pack.detect.api import replay
from siem_pack.detect.fixtures import es_index_fixture, fixture_dir, load_fixture
from siem_pack.detect.rules import Rule
from siem_pack.detect.runner_duckdb import DuckDBRuleReader
from siem_pack.detect.runner_es import ESRuleReader
from siem_pack.detect.schedule import evaluate, evaluate_tick_by_tick, ticks

from .conftest import RULES

START = datetime(2026, 11, 2, 8, 0)
END = datetime(2026, 11, 2, 11, 0)


def all_fixture_docs() -> list[dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for r in RULES:
        for kind in ("hit", "miss"):
            for d in load_fixture(fixture_dir(r) / f"{kind}.ndjson"):
                docs[d["event"]["id"]] = d
    return list(docs.values())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Store(tmp_path_factory.mktemp("s") / "s.duckdb") as s:
        docs = all_fixture_docs()
        s.write_docs("events", [d for d in docs if d["event"]["dataset"] != "siem_pack.anomaly"])
        s.write_docs("anomalies", [d for d in docs if d["event"]["dataset"] == "siem_pack.anomaly"])
        yield s


def _span(rule: Rule) -> list[datetime]:
    start = START if rule.type != "esql" else START - timedelta(hours=6)
    return ticks(start, END, rule.interval)


@pytest.mark.parametrize("rule", RULES, ids=[r.path.name for r in RULES])
def test_batch_equals_tick_by_tick_on_duckdb(rule: Rule, store: Store) -> None:
    backend = DuckDBRuleReader(store)
    tks = _span(rule)
    assert len(tks) >= 3
    assert evaluate(rule, backend, tks) == evaluate_tick_by_tick(rule, backend, tks)


def test_replay_raises_alerts_and_writes_them_once(store: Store) -> None:
    alerts = replay(DuckDBRuleReader(store), START, END, RULES, [])
    fired = {a["kibana.alert.rule.rule_id"] for a in alerts}
    assert len(fired) >= 15
    assert write_duckdb(store, alerts) == (len(alerts), 0)
    assert write_duckdb(store, alerts) == (0, len(alerts))


ONE_PER_TYPE = [next(r for r in RULES if r.type == t) for t in ("query", "threshold", "new_terms", "eql", "esql")]


@pytest.mark.elasticsearch
def test_batch_equals_tick_by_tick_on_elasticsearch(es: Any, es_prefix: str, store: Store) -> None:
    index = f"{es_prefix}-sched"
    es_index_fixture(es, index, all_fixture_docs())
    backend = ESRuleReader(es, index, index)
    duck = DuckDBRuleReader(store)
    total = 0
    for rule in ONE_PER_TYPE:
        tks = _span(rule)
        batch = evaluate(rule, backend, tks)
        assert batch == evaluate_tick_by_tick(rule, backend, tks), rule.path.name
        assert batch == evaluate(rule, duck, tks), rule.path.name
        total += len(batch)
    assert total >= 5
    alerts = replay(backend, START, END, ONE_PER_TYPE, [])
    assert write_es(es, alerts, f"{es_prefix}-alerts") == (len(alerts), 0)
    assert write_es(es, alerts, f"{es_prefix}-alerts") == (0, len(alerts))


def test_ticks() -> None:
    assert ticks(START, START + timedelta(minutes=15), timedelta(minutes=5)) == [
        START + timedelta(minutes=m) for m in (5, 10, 15)]


def test_write_creates_the_alerts_table(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as s:
        assert write_duckdb(s, []) == (0, 0)
        cols = [r[0] for r in s.con.execute("DESCRIBE alerts").fetchall()]
    assert {"kibana.alert.uuid", "kibana.alert.ancestors", "user.id", "doc"} <= set(cols)
