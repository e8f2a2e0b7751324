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


def test_customer_block_uses_the_gateway_user_alias(world: World, tmp_path: Any) -> None:
    """LiteLLM knows an end user by the id the gateway logs (the inventory's gateway_user)."""
    import shutil

    from siem_pack.backends.duckdb import Store
    from siem_pack.detect.alerts import make_alert, write_duckdb
    from siem_pack.inventory import default_dir
    from siem_pack.respond.actions import Targets
    from siem_pack.respond.backend import DuckDBResponseStore
    from siem_pack.respond.respond import propose

    from .conftest import RULES, T0

    inv_dir = tmp_path / "inventory"
    shutil.copytree(default_dir(), inv_dir)
    bot = inv_dir / "identities" / "svc-support-bot.yml"
    uid = "0f9c8a52-3c1e-4d3a-8f0e-6c2b7f1e9a10"
    bot.write_text(bot.read_text().replace(f"[svc-support-bot, {uid}]", f"[{uid}, svc-support-bot]"))
    a = make_alert(RULES["secret_in_prompt"], T0, {"user.id": "svc-support-bot"}, ["e1"], T0)
    with Store(world.db) as store:
        write_duckdb(store, [a])
        p = propose(DuckDBResponseStore(store), a["kibana.alert.uuid"], load_inventory(inv_dir), Targets(),
                    only="litellm_block_customer")
    assert p.plans[0].subject == uid
