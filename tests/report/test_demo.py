"""`siem-pack demo` end to end on a tiny organisation: simulate, run, seal, score, report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from siem_pack.cli import main


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--days", "4", "--identities", "8"])
    assert res.exit_code == 0, res.output
    text = res.output
    events = int(re.search(r"events:\s+([\d,]+) stored", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert events > 0
    assert re.search(r"attacks:\s+\d+ of \d+ simulated attacks caught", text)
    assert re.search(r"seals:\s+[1-9][\d,]* signed seals", text)
    report = out / "report.html"
    assert f"report:   {report}" in text
    assert "--from 2026-03-02 --to 2026-03-05 --out audit" in text  # the audit hint names the events' days
    html = report.read_text()
    statuses = dict(re.findall(r'data-panel="([^"]+)"[^>]*data-status="([^"]+)"', html))
    assert statuses["overview/interactions"] == "ok"
    assert statuses["integrity/seals-total"] == "ok"
    assert statuses["detections/alerts-total"] in ("ok", "empty")  # the alerts table exists after a run
