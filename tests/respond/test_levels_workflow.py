"""Response levels (content: inventory/response_levels.yml) and the alert workflow."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.inventory import load_inventory
from siem_pack.respond.levels import check_levels, choose_level

from .conftest import World

INV = load_inventory()


def test_response_levels_content_names_registered_actions() -> None:
    check_levels(INV)
    assert [lv.name for lv in INV.response_levels] == ["notify", "review", "contain"]


@pytest.mark.parametrize(("severity", "risk", "model", "level"), [
    ("low", 21, "gpt-4o", "notify"),
    ("medium", 47, "gpt-4o", "notify"),
    ("medium", 60, "gpt-4o", "review"),  # risk score threshold
    ("high", 73, "gpt-4o", "review"),
    ("critical", 99, "gpt-4o", "contain"),  # confidential: may be contained
    ("critical", 99, "bge-large", "review"),  # public tier caps at review
    ("low", 21, "llama3.1:70b", "review"),  # restricted tier floor
    ("high", 95, "not-inventoried", "review"),  # unknown tier caps at review
])
def test_choose_level(severity: str, risk: int, model: str, level: str) -> None:
    alert: dict[str, Any] = {"kibana.alert.severity": severity, "kibana.alert.risk_score": risk,
                             "gen_ai.request.model": model}
    d = choose_level(alert, INV)
    assert d.level == level, d.reasons
    assert d.actions == next(lv.actions for lv in INV.response_levels if lv.name == level)


def test_workflow_open_ack_close_with_who_and_why(world: World) -> None:
    r = CliRunner()
    db = ["--db", str(world.db)]
    assert r.invoke(main, ["alerts", "ack", world.first, *db, "--by", "alice", "--reason", "mine"]).exit_code == 0
    bad = r.invoke(main, ["alerts", "ack", world.first, *db, "--by", "alice", "--reason", "again"])
    assert bad.exit_code == 2
    assert "is acknowledged; it can move to closed, open" in bad.output
    assert r.invoke(main, ["alerts", "close", world.first, *db, "--by", "alice", "--reason", "fp"]).exit_code == 0
    missing = r.invoke(main, ["alerts", "close", world.second, *db, "--reason", "x"], env={"SIEM_PACK_ACTOR": ""})
    assert missing.exit_code == 2 and "--by" in missing.output
    listed = r.invoke(main, ["alerts", "list", *db, "--status", "closed"])
    assert listed.exit_code == 0
    assert world.first in listed.output and world.second not in listed.output and "by alice: fp" in listed.output
