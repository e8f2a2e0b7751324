"""The offline report: the dashboard specs aggregated over a seeded DuckDB store, rendered
into one static HTML file; panels without a table say so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.dashboards import load_dashboards
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import seal_windows
from siem_pack.integrity.store_duckdb import DuckDBEvents, DuckDBSeals
from siem_pack.report import build_report
from siem_pack.report.data import Columns, dashboard_data

PANEL = re.compile(r'<section class="panel[^"]*"[^>]*data-panel="([^"]+)"[^>]*data-status="([^"]+)" '
                   r'data-rows="(\d+)"')


def panels_of(html: str) -> dict[str, tuple[str, int]]:
    return {m.group(1): (m.group(2), int(m.group(3))) for m in PANEL.finditer(html)}


def test_every_panel_with_a_table_has_data(seeded_db: Path, tmp_path: Path) -> None:
    result = build_report(seeded_db, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    panels = panels_of(html)
    assert len(panels) == result.panels + 1  # plus the integrity status table
    for pid, (status, rows) in panels.items():
        if pid.startswith("integrity/"):
            assert status == "no-table", pid
        else:
            assert status == "ok" and rows > 0, pid
    assert html.count("no seals yet") == len([p for p in panels if p.startswith("integrity/")])
    assert result.panels_with_data == result.panels - 5


def test_static_html_without_scripts_or_network(seeded_db: Path, tmp_path: Path) -> None:
    build_report(seeded_db, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") >= 15


def test_numbers_match_sql(seeded_db: Path) -> None:
    with Store(seeded_db, read_only=True) as store:
        con = store.con
        dash = next(d for d in load_dashboards() if d.id == "overview")
        _, panels = dashboard_data(con, dash)
        by_id = {p.panel.id: p for p in panels}
        total = con.execute("SELECT count(*) FROM events").fetchone()[0]
        failures = con.execute("SELECT count(*) FROM events WHERE \"event.outcome\" = 'failure'").fetchone()[0]
        rate = con.execute("SELECT avg(CASE WHEN \"siem_pack.policy.verdict\" = 'compliant' THEN 1.0 ELSE 0 END) "
                           "FROM events").fetchone()[0]
        assert by_id["interactions"].rows == [(total,)]
        assert by_id["denied"].rows == [(failures,)]
        assert by_id["compliant-rate"].rows[0][0] == pytest.approx(float(rate))
        # top-N: 20 identities at most, 5 models each at most, ordered by interactions within identity
        table = by_id["who-which-model"].rows
        assert len({r[0] for r in table}) <= 20
        assert all(sum(1 for r in table if r[0] == u) <= 5 for u in {r[0] for r in table})
        # the time axis has every hour between the first and the last, zero-filled
        line = by_id["models-over-time"].rows
        hours = sorted({r[0] for r in line})
        assert all((b - a).total_seconds() == 3600 for a, b in zip(hours, hours[1:], strict=False))


def test_sensitive_filter_and_array_buckets(seeded_db: Path) -> None:
    with Store(seeded_db, read_only=True) as store:
        sens = next(d for d in load_dashboards() if d.id == "sensitive-models")
        _, panels = dashboard_data(store.con, sens)
        tiers = {r[1] for r in next(p for p in panels if p.panel.id == "sensitive-over-time").rows}
        assert tiers == {"confidential", "restricted"}
        base = next(d for d in load_dashboards() if d.id == "baselines")
        _, panels = dashboard_data(store.con, base)
        features = dict(next(p for p in panels if p.panel.id == "top-explanations").rows)
        assert features == {"output_tokens": 5, "distinct_models": 5}  # unnested from the array column


def test_identity_drill_down_shows_the_most_alerted_identity(seeded_db: Path, tmp_path: Path) -> None:
    with Store(seeded_db, read_only=True) as store:
        ident = next(d for d in load_dashboards() if d.id == "identity")
        focus, panels = dashboard_data(store.con, ident)
        assert focus == "user-07"
        alerts = next(p for p in panels if p.panel.id == "alerts").rows
        assert sum(r[2] for r in alerts) == 3  # user-07's three alerts, not user-03's
    build_report(seeded_db, tmp_path / "r.html")
    assert "user.id = <strong>user-07</strong>" in (tmp_path / "r.html").read_text()


def test_mttd_uses_the_alert_delay(seeded_db: Path) -> None:
    with Store(seeded_db, read_only=True) as store:
        det = next(d for d in load_dashboards() if d.id == "detections")
        _, panels = dashboard_data(store.con, det)
        mttd = next(p for p in panels if p.panel.id == "mttd").rows[0][0]
        assert mttd == pytest.approx((5 + 2 + 9 + 1) * 60 / 4)


def test_a_store_without_alerts_or_anomalies_says_no_data_yet(store_factory: Any, db_path: Path,
                                                               tmp_path: Path) -> None:
    store_factory(db_path, alerts=False, anomalies=False, n_events=30)
    result = build_report(db_path, tmp_path / "r.html")
    panels = panels_of((tmp_path / "r.html").read_text())
    assert panels["detections/alerts-total"][0] == "no-table"
    assert "no data yet: the alerts table does not exist" in (tmp_path / "r.html").read_text()
    assert panels["baselines/risk-over-time"] == ("empty", 0)
    assert panels["overview/interactions"] == ("ok", 1)
    assert any(e.startswith("detections/mttd: no data yet") for e in result.empty_panels)


def test_sealed_store_fills_the_integrity_panels(seeded_db: Path, tmp_path: Path) -> None:
    with Store(seeded_db) as store:
        seal_windows(DuckDBEvents(store), DuckDBSeals(store), SigningKey.generate())
        sealed = store.con.execute("SELECT count(*) FROM seals WHERE kind = 'window'").fetchone()[0]
    build_report(seeded_db, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    panels = panels_of(html)
    assert panels["integrity/seals-total"] == ("ok", 1)
    assert panels["integrity/status-seal_chains"] == ("ok", 1)
    with Store(seeded_db, read_only=True) as store:
        integ = next(d for d in load_dashboards() if d.id == "integrity")
        _, data = dashboard_data(store.con, integ, Columns(store.con))
        by_id = {p.panel.id: p for p in data}
        assert by_id["seals-total"].rows == [(sealed,)]
        assert by_id["events-sealed"].rows == [(600,)]  # `count` read from the seal record JSON
    assert "no seals yet" not in html


def test_cli_report(seeded_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    res = CliRunner().invoke(main, ["report", "--db", str(seeded_db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}: 6 dashboards" in res.output
    assert "no data: integrity/seals-total: no seals yet" in res.output
    assert out.is_file()


def test_cli_report_without_a_store(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith("siem-pack: error: --db: no embedded store at")


def test_report_reads_a_store_another_process_holds_open(seeded_db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(seeded_db), read_only=True)
    try:
        build_report(seeded_db, tmp_path / "r.html")
    finally:
        con.close()
    assert "siem-pack: AI model access report" in (tmp_path / "r.html").read_text()


def test_every_status_table_of_the_spec_vocabulary_is_implemented() -> None:
    from siem_pack.dashboards.spec import STATUS_TABLES as NAMES
    from siem_pack.report.status import STATUS_TABLES

    assert set(NAMES) == set(STATUS_TABLES)
