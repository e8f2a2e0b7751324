"""The CI drills: fixed-seed simulations of both organisation profiles with every attack
scenario, run end to end on the embedded store and scored. Each fails when recall < 0.95 or
false alerts exceed 5 per 1,000 benign identity-days (the gate of docs/drills.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.drill import DrillOptions, DrillReport, drill, render

# small enough for CI; the seeds are fixed; two organisations, so no rule is tuned to one
CI_DRILLS = {"acme": DrillOptions(seed=7, days=10, identities=20),
             "northwind": DrillOptions(seed=23, days=10, identities=20, org="northwind")}


@pytest.fixture(scope="module", params=sorted(CI_DRILLS))
def ci_drill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DrillReport]:
    out = tmp_path_factory.mktemp(f"drill-{request.param}")
    report = drill(out, CI_DRILLS[request.param])
    assert report.org == request.param
    return out, report


@pytest.mark.slow
def test_every_scenario_scored(ci_drill: tuple[Path, DrillReport]) -> None:
    out, report = ci_drill
    assert len(report.scenarios) >= 12
    assert all(s.events_stored == s.events for s in report.scenarios), \
        [(s.id, s.events, s.events_stored) for s in report.scenarios if s.events_stored != s.events]
    saved = json.loads((out / "drill.json").read_text())
    assert saved["recall"] == report.recall and saved["passed"] == report.passed


@pytest.mark.slow
def test_drill_gate(ci_drill: tuple[Path, DrillReport]) -> None:
    _, report = ci_drill
    assert report.passed, "\n" + render(report)


def test_cli_drill_usage_error() -> None:
    res = CliRunner().invoke(main, ["drill", "--days", "1"])
    assert res.exit_code == 2
    assert "siem-pack: error: --days: --days must be at least 3 (got 1)" in res.output
