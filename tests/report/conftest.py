"""A seeded synthetic store for the report and audit-export tests: ECS events following
schema/fields.yml (through Store.insert_events), a few anomalies, and an alerts table in
Kibana's alert field names. No ingest pipeline involved."""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.detect.alerts import ALERTS_DDL

START = datetime(2026, 3, 2, 0, 0, 0)
MODELS = {"gpt-4o": "internal", "claude-3-5-sonnet": "confidential", "llama-3-70b": "public",
          "fin-forecast-ft": "restricted", "text-embedding-3": "internal"}
USERS = [f"user-{i:02d}" for i in range(10)] + ["svc-batch"]


def synthetic_events(n: int = 600, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        user = rng.choice(USERS)
        model = rng.choice(list(MODELS))
        ts = START + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        denied = rng.random() < 0.08
        verdict = "noncompliant" if denied or (MODELS[model] == "restricted" and user != "user-01") else "compliant"
        country = "DE" if user != "user-07" else rng.choice(["DE", "KP", "BR"])
        events.append({
            "@timestamp": ts.isoformat() + "Z",
            "event": {"id": f"ev-{seed}-{i:05d}", "kind": "event", "module": "siem_pack",
                      "dataset": "siem_pack.litellm_spend", "outcome": "failure" if denied else "success",
                      "action": "chat.completions", "category": ["web"], "type": ["access"]},
            "user": {"id": user, "name": user.replace("-", " ").title(), "group": {"name": ["analysts"]}},
            "gen_ai": {"request": {"model": model}, "usage": {"input_tokens": rng.randrange(10, 3000),
                                                              "output_tokens": rng.randrange(5, 1500)}},
            "siem_pack": {"model": {"tier": MODELS[model]}, "policy": {"verdict": verdict,
                                                                       "reason": "not in allowed groups"
                                                                       if verdict == "noncompliant" else "allowed"},
                          "request": {"bytes": rng.randrange(200, 20000)},
                          "response": {"bytes": rng.randrange(200, 90000)},
                          "export": {"format": rng.choice(["json", "json", "csv", "batch"])}},
            "source": {"ip": f"10.0.{USERS.index(user)}.{rng.randrange(1, 250)}",
                       "geo": {"country_iso_code": country}},
        })
    return events


def synthetic_anomalies(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(40):
        score = rng.uniform(5, 60) if i % 8 else rng.uniform(75, 99)
        out.append({
            "@timestamp": (START + timedelta(hours=i * 1.5)).isoformat() + "Z",
            "event": {"id": f"an-{i:03d}", "kind": "alert"},
            "user": {"id": rng.choice(USERS)},
            "gen_ai": {"request": {"model": rng.choice(list(MODELS))}},
            "siem_pack": {"anomaly": {"risk_score": score, "threshold": 70.0, "is_anomalous": score >= 70,
                                      "population": "humans", "top_features": ["output_tokens", "distinct_models"],
                                      "explanation": ["output_tokens=9000 (baseline 800, z=6.1)"]}},
        })
    return out


def synthetic_alerts(con: Any) -> int:
    rows = [
        ("al-1", START + timedelta(hours=30, minutes=5), "r-exfil", "Bulk export from a restricted model", "high",
         73.0, START + timedelta(hours=30), ["ev-7-00001"], "open", "user-07", "fin-forecast-ft", "10.0.7.9"),
        ("al-2", START + timedelta(hours=40, minutes=2), "r-geo", "Access from an unusual country", "medium",
         47.0, START + timedelta(hours=40), ["ev-7-00002"], "closed", "user-07", "gpt-4o", "10.0.7.3"),
        ("al-3", START + timedelta(hours=50, minutes=9), "r-denied", "Repeated denied requests", "low",
         21.0, START + timedelta(hours=50), ["ev-7-00003"], "acknowledged", "user-03", "claude-3-5-sonnet",
         "10.0.3.4"),
        ("al-4", START + timedelta(hours=60, minutes=1), "r-exfil", "Bulk export from a restricted model",
         "critical", 99.0, START + timedelta(hours=60), ["ev-7-00004"], "open", "user-07", "fin-forecast-ft",
         "10.0.7.5"),
    ]
    con.execute(ALERTS_DDL)  # the real alerts table (siem_pack.detect.alerts)
    columns = ["kibana.alert.uuid", "@timestamp", "kibana.alert.rule.rule_id", "kibana.alert.rule.name",
               "kibana.alert.severity", "kibana.alert.risk_score", "kibana.alert.original_time",
               "kibana.alert.ancestors", "kibana.alert.workflow_status", "user.id", "gen_ai.request.model", "source.ip"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    con.executemany(f"INSERT INTO alerts ({quoted}) VALUES ({', '.join('?' * len(columns))})", rows)
    return len(rows)


def make_store(path: Path, alerts: bool = True, anomalies: bool = True, n_events: int = 600) -> Path:
    with Store(path) as store:
        store.insert_events(synthetic_events(n_events))
        if anomalies:
            store.write_docs("anomalies", synthetic_anomalies())
        if alerts:
            synthetic_alerts(store.con)
            synthetic_metrics(store)
    return path


def synthetic_metrics(store: Store) -> None:
    """Governance metrics as `siem-pack metrics` writes them (siem_pack.respond.metrics), for
    the Detections and response metrics panels."""
    from siem_pack.respond.backend import DuckDBResponseStore
    from siem_pack.respond.metrics import Metric, MetricsReport, write

    write(DuckDBResponseStore(store), MetricsReport("2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z", [
        Metric(name, value, unit, scope, 1) for name, value, unit, scope in (
            ("mttd", 300.0, "s", "all"), ("mttr", 900.0, "s", "all"), ("stage_open", 600.0, "s", "all"),
            ("actions_executed", 2.0, "count", "all"), ("anomalies_investigated_share", 0.5, "ratio", "all"),
            ("mttd", 120.0, "s", "scenario:secrets-in-prompt"))]))


@pytest.fixture(scope="session")
def store_factory() -> Any:
    """`make_store(path, alerts=True, anomalies=True, n_events=600) -> path`, for tests that
    need a store of another shape."""
    return make_store


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; each test copies it (seeded_db)."""
    return make_store(tmp_path_factory.mktemp("seeded") / "template.duckdb")


@pytest.fixture()
def seeded_db(seeded_template: Path, db_path: Path) -> Path:
    """A fresh copy of a store with events, anomalies and alerts (no seals table: issue 9
    adds it)."""
    shutil.copyfile(seeded_template, db_path)
    return db_path
