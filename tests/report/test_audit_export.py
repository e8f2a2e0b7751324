"""The audit export: who accessed which sensitive models in a period, the compliant rate,
alerts and their outcome, as CSV and a printable HTML page."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.audit_export import export_audit, parse_period
from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.errors import ConfigError


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_matches_the_store(seeded_db: Path, tmp_path: Path) -> None:
    result = export_audit(seeded_db, "2026-03-02", "2026-03-03", tmp_path / "audit")
    assert sorted(p.name for p in result.files) == ["access.csv", "alerts.csv", "audit.html", "summary.csv"]
    access = read_csv(tmp_path / "audit" / "access.csv")
    summary = {r["metric"]: r["value"] for r in read_csv(tmp_path / "audit" / "summary.csv")}
    with Store(seeded_db, read_only=True) as store:
        sql = ("FROM events WHERE \"@timestamp\" >= '2026-03-02' AND \"@timestamp\" < '2026-03-04' "
               "AND \"siem_pack.model.tier\" IN ('confidential', 'restricted')")
        n, rate = store.con.execute(
            f"SELECT count(*), avg(CASE WHEN \"siem_pack.policy.verdict\" = 'compliant' THEN 1.0 ELSE 0 END) {sql}"
        ).fetchone()
        pairs = store.con.execute(f'SELECT count(DISTINCT ("user.id", "gen_ai.request.model")) {sql}').fetchone()[0]
    assert sum(int(r["requests"]) for r in access) == n == int(summary["sensitive_events"])
    assert len(access) == pairs
    assert {r["siem_pack.model.tier"] for r in access} == {"confidential", "restricted"}
    assert float(summary["sensitive_policy_compliant_rate"]) == pytest.approx(float(rate), abs=1e-4)
    assert summary["period_end"] == "2026-03-04T00:00:00Z"  # a date-only --to includes that day
    alerts = read_csv(tmp_path / "audit" / "alerts.csv")
    assert [a["kibana.alert.uuid"] for a in alerts] == ["al-1", "al-2"]  # hours 30 and 40 fall in the period
    assert [a["kibana.alert.workflow_status"] for a in alerts] == ["open", "closed"]
    assert summary["alerts_open"] == "1" and summary["alerts_closed"] == "1"
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert "<script" not in html and "Who accessed which sensitive models" in html and "al-2" in html


def test_restricted_only(seeded_db: Path, tmp_path: Path) -> None:
    result = export_audit(seeded_db, "2026-03-01", "2026-04-01", tmp_path, tiers=("restricted",))
    assert {r["siem_pack.model.tier"] for r in result.access} == {"restricted"}
    assert {r["gen_ai.request.model"] for r in result.access} == {"fin-forecast-ft"}


def test_without_an_alerts_table(store_factory: Any, db_path: Path, tmp_path: Path) -> None:
    store_factory(db_path, alerts=False, anomalies=False, n_events=20)
    result = export_audit(db_path, "2026-03-01", "2026-04-01", tmp_path)
    assert dict(result.summary)["alerts"] == "no alerts table"
    assert "no alerts table in the store yet" in (tmp_path / "audit.html").read_text()
    assert read_csv(tmp_path / "alerts.csv") == []


def test_period_errors() -> None:
    with pytest.raises(ConfigError, match="not after"):
        parse_period("2026-03-05", "2026-03-01")
    with pytest.raises(ConfigError, match="not an ISO date"):
        parse_period("yesterday", "2026-03-01")


def test_cli_audit_export(seeded_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit-2026-03"
    res = CliRunner().invoke(main, ["audit", "export", "--db", str(seeded_db), "--from", "2026-03-01",
                                    "--to", "2026-03-31", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "sensitive-model events by 11 identities" in res.output and "alerts: 4" in res.output
    assert (out / "audit.html").is_file()
    res = CliRunner().invoke(main, ["audit", "export", "--db", str(seeded_db), "--from", "2026-03-31",
                                    "--to", "2026-03-01", "--out", str(out)])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == (
        "siem-pack: error: --to: the period is empty: --to 2026-03-01 is not after --from 2026-03-31")
