"""Metrics on a drill whose timings are known: a hand-built ground truth (two scenarios matched
by their attack events, not by attacker name, so each has exactly one alert;
first attack events at 10:00 and 11:00), alerts raised at 10:05 and 11:30, a containment at
10:20, an acknowledgement at 11:45 and a closure at 12:30. Every number is asserted exactly."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.respond import metrics, workflow
from siem_pack.respond.actions import Outcome
from siem_pack.respond.backend import DuckDBResponseStore
from siem_pack.respond.respond import receipt

from .conftest import T0, World

TRUTH: dict[str, Any] = {
    "seed": 1, "days": 1, "identities": 5, "start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z",
    "evaluation_start": "2026-11-02T00:00:00Z", "benign_traps": [],
    "scenarios": [
        {"id": "secret-leak", "title": "secret in a prompt", "atlas": [], "owasp": [], "start": "2026-11-02T10:00:00Z",
         "end": "2026-11-02T10:00:00Z", "events": [{"record_id": "raw-e1"}], "attackers": []},
        {"id": "restricted-model", "title": "restricted model use", "atlas": [], "owasp": [],
         "start": "2026-11-02T11:00:00Z", "end": "2026-11-02T11:00:00Z", "events": [{"record_id": "raw-e2"}],
         "attackers": []},
    ],
}


def _timeline(world: World) -> None:
    with Store(world.db) as store:
        b = DuckDBResponseStore(store)
        done = receipt(world.first, "litellm_block_key", "k", "execute", False, "alice", Outcome("done", "ok"),
                       "contain", "block")
        done["@timestamp"] = "2026-11-02T10:20:00.000Z"
        b.write_receipt(done)
        dry = receipt(world.second, "litellm_block_key", "k", "execute", True, "alice", Outcome("planned", "dry"),
                      "review", "block")
        b.write_receipt(dry)  # a dry run contains nothing
        workflow.change(b, world.second, "acknowledged", "bob", "looking", at=T0 + timedelta(minutes=105))
        workflow.change(b, world.second, "closed", "bob", "grant was missing; now approved",
                        at=T0 + timedelta(minutes=150))


def test_metrics_are_exact_on_a_drill_with_known_timings(world: World, tmp_path: Path) -> None:
    _timeline(world)
    sim = tmp_path / "sim"
    sim.mkdir()
    (sim / "truth.json").write_text(json.dumps(TRUTH))
    res = CliRunner().invoke(main, ["metrics", "--db", str(world.db), "--drill", str(sim), "--from",
                                    "2026-11-02T00:00:00Z", "--to", "2026-11-03T00:00:00Z", "--json"])
    assert res.exit_code == 0, res.output
    got = {(m["name"], m["scope"]): m["value"] for m in json.loads(res.output)["metrics"]}
    assert got[("mttd", "scenario:secret-leak")] == 300.0  # 10:00 → 10:05
    assert got[("mttd", "scenario:restricted-model")] == 1800.0  # 11:00 → 11:30
    assert got[("mttd", "drill")] == 1050.0
    assert got[("mttd", "all")] == 1050.0  # per alert: earliest ancestor → alert
    assert got[("mttr", "all")] == 2250.0  # (10:05 → 10:20 contained) and (11:30 → 12:30 closed)
    assert got[("stage_open", "all")] == 900.0  # 11:30 → 11:45 (the first alert never left open)
    assert got[("stage_acknowledged", "all")] == 2700.0  # 11:45 → 12:30
    assert got[("alerts_contained", "all")] == 1.0
    assert got[("actions_executed", "all")] == 1.0  # the 10:20 block
    assert got[("actions_dry_run", "all")] == 0.0  # written now, outside the period
    assert got[("policy_compliant_rate", "all")] == 0.5  # e3, e4 compliant; e1, e2 not; e5 unknown apart
    assert got[("policy_unknown_events", "all")] == 1.0
    assert got[("anomalies_investigated_share", "all")] == 0.5  # an1 under a reviewed alert; an2 not
    assert got[("anomalies_auto_resolved_share", "all")] == 0.5


def test_metrics_write_is_idempotent(world: World) -> None:
    _timeline(world)
    with Store(world.db) as store:
        b = DuckDBResponseStore(store)
        start, end = T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=1)
        report = metrics.compute(b, start, end)
        n = metrics.write(b, report)
        assert metrics.write(b, metrics.compute(b, start, end)) == n
        assert store.count("metrics") == n == len(report.metrics)
        assert "mttr" in metrics.render(report)


def test_metrics_without_alerts_say_not_available(db_path: Path) -> None:
    res = CliRunner().invoke(main, ["metrics", "--db", str(db_path), "--to", "2026-11-03T00:00:00Z", "--no-write"])
    assert res.exit_code == 0, res.output
    assert "mttd" in res.output and "n/a" in res.output
