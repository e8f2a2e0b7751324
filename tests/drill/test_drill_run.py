"""`run`: the embedded pipeline end to end, idempotent on re-run, alerts in Kibana's
field names; and the command line's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.doc import get_field
from siem_pack.run import run
from siem_pack.simulate import simulate

ALERT_FIELDS = ("kibana.alert.uuid", "kibana.alert.rule.rule_id", "kibana.alert.rule.name", "kibana.alert.severity",
                "kibana.alert.risk_score", "kibana.alert.original_time", "kibana.alert.ancestors",
                "kibana.alert.workflow_status", "@timestamp")


@pytest.mark.slow
def test_run_end_to_end_and_idempotent(tmp_path: Path) -> None:
    sim = simulate(tmp_path / "sim", days=4, identities=8, seed=5,
                   scenarios=["guardrail-violation-burst", "secrets-in-prompt", "failures-then-success"])
    out = tmp_path / "out"
    first = run([sim.logs_dir], out, sim.inventory_dir)
    total = sum(sim.records.values())
    assert first.ingest["total"]["read"] == total and first.ingest["total"]["stored"] == total
    assert first.ingest["invariant_holds"]
    assert first.rules["loaded"] >= 20 and first.rules["ticks"] > 0
    alerts_text = (out / "alerts.ndjson").read_text()
    docs = [json.loads(line) for line in alerts_text.splitlines()]
    assert docs, "the attacks raise alerts"
    for d in docs:
        for f in ALERT_FIELDS:
            assert get_field(d, f) is not None, f"alert without {f}: {d}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alerts"]["total"] == len(docs)

    second = run([sim.logs_dir], out, sim.inventory_dir)
    assert second.ingest["total"]["stored"] == 0 and second.ingest["total"]["already_present"] == total
    assert second.alerts["stored"] == 0 and second.alerts["already_present"] == len(docs)
    assert "mode" in second.baselines and second.baselines["stored"] == 0  # baselines ran and stored nothing new
    assert (out / "alerts.ndjson").read_text() == alerts_text


def test_cli_run_missing_input(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["run", str(tmp_path / "nope.ndjson"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"siem-pack: error: INPUT: no such input: {tmp_path / 'nope.ndjson'}" in res.output


def test_cli_run_missing_inventory(tmp_path: Path) -> None:
    (tmp_path / "x.ndjson").write_text("")
    res = CliRunner().invoke(main, ["run", str(tmp_path / "x.ndjson"), "--out", str(tmp_path / "o"),
                                    "--inventory", str(tmp_path / "inv")])
    assert res.exit_code == 2
    assert f"siem-pack: error: --inventory: inventory folder not found: {tmp_path / 'inv'}" in res.output
