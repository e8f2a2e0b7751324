"""Contract tests: gateway actions against a local server that checks each request matches
the gateways' documented APIs (LiteLLM block/unblock, Azure APIM Subscription - Update,
a webhook). Also: dry run writes receipts and calls nothing; secrets are never printed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.respond.actions import ACTIONS, Targets, get_action
from siem_pack.respond.backend import DuckDBResponseStore

from .conftest import KEY_HASH, USER, GatewayServer, World, gateway_env


def _run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _targets(gw: GatewayServer) -> Targets:
    env = gateway_env(gw)
    return Targets(litellm_url=env["SIEM_PACK_LITELLM_URL"], litellm_key=gw.master_key,
                   apim_url=env["SIEM_PACK_APIM_URL"], apim_token=gw.apim_token,
                   webhook_url=env["SIEM_PACK_WEBHOOK_URL"])


ALERT = {"kibana.alert.uuid": "a" * 64, "kibana.alert.rule.name": "r", "user.id": USER,
         "siem_pack.api_key.hash": KEY_HASH, "siem_pack.api_key.id": "sub-42", "user.group.id": "team-ml"}
EXPECTED = {
    "litellm_block_key": ("POST", "/litellm/key/block", {"key": KEY_HASH}),
    "litellm_unblock_key": ("POST", "/litellm/key/unblock", {"key": KEY_HASH}),
    "litellm_block_team": ("POST", "/litellm/team/block", {"team_id": "team-ml"}),
    "litellm_block_customer": ("POST", "/litellm/customer/block", {"user_ids": [USER]}),
    "apim_suspend_subscription": ("PATCH", "/subscriptions/sub-42", {"properties": {"state": "suspended"}}),
}
UNDONE = {
    "litellm_block_key": ("/litellm/key/unblock", {"key": KEY_HASH}),
    "litellm_unblock_key": ("/litellm/key/block", {"key": KEY_HASH}),
    "litellm_block_team": ("/litellm/team/unblock", {"team_id": "team-ml"}),
    "litellm_block_customer": ("/litellm/customer/unblock", {"user_ids": [USER]}),
    "apim_suspend_subscription": ("/subscriptions/sub-42", {"properties": {"state": "active"}}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_contract_gateway_action(gateway: GatewayServer, name: str) -> None:
    action = get_action(name)
    out = action.execute(_targets(gateway), action.subject(ALERT) or "", alert=ALERT)
    assert gateway.problems == []
    assert out.result == "done", out.detail
    method, path, body = EXPECTED[name]
    seen = gateway.seen[-1]
    assert seen.method == method and seen.path.endswith(path) and seen.body == body
    if name.startswith("apim"):
        assert "api-version=2024-05-01" in seen.query and seen.headers["if-match"] == "*"
        assert seen.headers["authorization"] == f"Bearer {gateway.apim_token}"
    else:
        assert seen.headers["authorization"] == f"Bearer {gateway.master_key}"


@pytest.mark.parametrize("name", sorted(UNDONE))
def test_contract_gateway_undo(gateway: GatewayServer, name: str) -> None:
    action = get_action(name)
    out = action.execute(_targets(gateway), action.subject(ALERT) or "", undo=True, alert=ALERT)
    assert gateway.problems == [] and out.result == "done", out.detail
    path, body = UNDONE[name]
    assert gateway.seen[-1].path.endswith(path) and gateway.seen[-1].body == body


def test_contract_webhook(gateway: GatewayServer) -> None:
    out = get_action("webhook").execute(_targets(gateway), "a" * 64, alert=ALERT)
    assert out.result == "done" and gateway.problems == []
    assert gateway.seen[-1].body["alert"]["kibana.alert.uuid"] == "a" * 64
    assert "secret-path" not in out.detail  # webhook paths carry tokens


def test_contract_server_refuses_a_wrong_shape(gateway: GatewayServer) -> None:
    """The checker can fail: a body in the wrong shape is refused and recorded."""
    from siem_pack.respond.actions import Call, http

    status, _ = http(Call("POST", gateway.url + "/litellm/key/block", {"keys": ["x"]},
                          {"Authorization": f"Bearer {gateway.master_key}"}), 5)
    assert status == 400 and any("body must be" in p for p in gateway.problems)


def test_every_action_is_registered_and_planned() -> None:
    for name, cls in ACTIONS.items():
        assert cls.name == name
        plan = cls().plan(ALERT, Targets())
        assert plan.action == name and not plan.configured  # nothing configured here
    assert not ACTIONS["es_api_key_invalidate"].undoable


def test_dry_run_writes_receipts_and_calls_nothing(world: World, gateway: GatewayServer) -> None:
    res = _run(["respond", world.first, "--db", str(world.db), "--by", "alice", "--json"], gateway_env(gateway))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["decision"]["level"] == "review"  # high severity, restricted tier
    assert gateway.seen == []
    with Store(world.db) as store:
        receipts = DuckDBResponseStore(store).receipts(world.first)
    assert receipts and all(r["siem_pack"]["action"]["dry_run"] for r in receipts)
    assert {r["siem_pack"]["action"]["result"] for r in receipts} == {"planned"}
    assert {r["siem_pack"]["action"]["actor"] for r in receipts} == {"alice"}


def test_execute_contains_through_the_cli_and_undo(world: World, gateway: GatewayServer) -> None:
    env = gateway_env(gateway)
    res = _run(["respond", world.first, "--db", str(world.db), "--by", "alice", "--execute",
                "--action", "litellm_block_key"], env)
    assert res.exit_code == 0, res.output
    assert gateway.master_key not in res.output and "secret-path" not in res.output
    assert [(s.method, s.path, s.body) for s in gateway.seen] == [("POST", "/litellm/key/block", {"key": KEY_HASH})]
    with Store(world.db) as store:
        (rec,) = DuckDBResponseStore(store).receipts(world.first)
    a = rec["siem_pack"]["action"]
    assert (a["result"], a["dry_run"], a["actor"], a["subject"]) == ("done", False, "alice", KEY_HASH)
    assert gateway.master_key not in json.dumps(rec)
    res = _run(["respond", "--undo", a["receipt_id"], "--db", str(world.db), "--by", "bob", "--execute"], env)
    assert res.exit_code == 0, res.output
    assert gateway.seen[-1].path == "/litellm/key/unblock" and gateway.problems == []


def test_execute_contain_level_on_a_critical_alert(world: World, gateway: GatewayServer, db_path: Any) -> None:
    """The contain level's actions all go out, each matching its documented API."""
    from siem_pack.detect.alerts import write_duckdb

    from .conftest import T0, alert

    crit = alert("privileged_action_without_approval", T0, ["e1"], T0)
    crit["kibana.alert.severity"], crit["kibana.alert.risk_score"] = "critical", 99
    with Store(world.db) as store:
        write_duckdb(store, [crit])
    res = _run(["respond", crit["kibana.alert.uuid"], "--db", str(world.db), "--by", "alice", "--execute", "--json"],
               gateway_env(gateway))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["decision"]["level"] == "contain"
    results = {r["siem_pack"]["action"]["name"]: r["siem_pack"]["action"]["result"] for r in out["receipts"]}
    assert results == {"es_api_key_invalidate": "skipped", "litellm_block_key": "done",
                       "litellm_block_customer": "done", "apim_suspend_subscription": "done", "webhook": "done"}
    assert gateway.problems == []


def test_unknown_alert_is_one_error_line(world: World) -> None:
    res = CliRunner().invoke(main, ["respond", "nope", "--db", str(world.db)])
    assert res.exit_code == 2
    assert "no alert with kibana.alert.uuid 'nope'" in res.output
