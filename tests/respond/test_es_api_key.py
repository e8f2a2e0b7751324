"""The Elasticsearch API key path on the real node: a key is created, `respond --execute`
invalidates it, and a request with it then fails with 401. Alerts, receipts and workflow
live in the node's indices under the test's prefix."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import elasticsearch
import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.detect.alerts import write_es
from siem_pack.settings import ClusterSettings

from .conftest import T0, alert


def _key_client(es_settings: ClusterSettings, encoded: str) -> elasticsearch.Elasticsearch:
    return elasticsearch.Elasticsearch(es_settings.es_url, api_key=encoded, request_timeout=10)


@pytest.mark.elasticsearch
def test_respond_invalidates_an_elasticsearch_api_key(es: Any, es_settings: ClusterSettings, es_prefix: str,
                                                      tmp_path: Path) -> None:
    key = es.security.create_api_key(name=f"{es_prefix}-suspect", expiration="1h")
    encoded = key["encoded"] or base64.b64encode(f"{key['id']}:{key['api_key']}".encode()).decode()
    assert _key_client(es_settings, encoded).security.authenticate()["api_key"]["id"] == key["id"]

    a = alert("secret_in_prompt", T0, ["e1"], T0)
    a["siem_pack.api_key.id"] = key["id"]
    write_es(es, [a], index=f"{es_prefix}siem-pack-alerts")
    env = {"SIEM_PACK_ES_URL": es_settings.es_url or "", "SIEM_PACK_USER": es_settings.user or "",
           "SIEM_PACK_PASSWORD": es_settings.password or "", "SIEM_PACK_PREFIX": es_prefix}
    runner = CliRunner()

    dry = runner.invoke(main, ["respond", a["kibana.alert.uuid"], "--action", "es_api_key_invalidate",
                               "--by", "alice"], env=env)
    assert dry.exit_code == 0, dry.output
    assert _key_client(es_settings, encoded).security.authenticate()["api_key"]["id"] == key["id"]  # dry run

    res = runner.invoke(main, ["respond", a["kibana.alert.uuid"], "--execute", "--action", "es_api_key_invalidate",
                               "--by", "alice", "--json"], env=env)
    assert res.exit_code == 0, res.output
    (receipt,) = json.loads(res.output)["receipts"]
    assert receipt["siem_pack"]["action"]["result"] == "done"
    with pytest.raises(elasticsearch.AuthenticationException) as info:
        _key_client(es_settings, encoded).security.authenticate()
    assert info.value.meta.status == 401

    es.indices.refresh(index=f"{es_prefix}siem-pack-actions")
    stored = es.search(index=f"{es_prefix}siem-pack-actions", size=10)["hits"]["hits"]
    assert sorted((h["_source"]["siem_pack"]["action"]["dry_run"], h["_source"]["siem_pack"]["action"]["result"])
                  for h in stored) == [(False, "done"), (True, "planned")]
    assert all(key["api_key"] not in json.dumps(h["_source"]) for h in stored)

    # undo is not possible for an invalidated key: a failed receipt, exit 1
    und = runner.invoke(main, ["respond", "--undo", receipt["siem_pack"]["action"]["receipt_id"], "--execute",
                               "--by", "alice"], env=env)
    assert und.exit_code == 1
    assert "cannot be undone" in und.output

    # the workflow on the cluster: its own documents, the alert stays as written
    ack = runner.invoke(main, ["alerts", "close", a["kibana.alert.uuid"], "--by", "alice", "--reason", "contained"],
                        env=env)
    assert ack.exit_code == 0, ack.output
    listed = runner.invoke(main, ["alerts", "list", "--json"], env=env)
    assert json.loads(listed.output)[0]["status"] == "closed"
    case = runner.invoke(main, ["case", "build", a["kibana.alert.uuid"], "--out", str(tmp_path)], env=env)
    assert case.exit_code == 0, case.output
    by = {s["anchor"]: s for s in json.loads((tmp_path / "case.json").read_text())["sections"]}
    assert [r[5] for r in by["actions"]["table"]["rows"]] == ["alice"] * 3  # dry run, execute, failed undo
    assert by["integrity"]["table"]["rows"][0][-1] == "event not found in " + f"{es_prefix}logs-siem_pack.*"
    met = runner.invoke(main, ["metrics", "--json", "--to", "2026-11-03T00:00:00Z"], env=env)
    assert met.exit_code == 0, met.output
    values = {(m["name"], m["scope"]): m["value"] for m in json.loads(met.output)["metrics"]}
    assert values[("alerts_contained", "all")] == 1.0


@pytest.mark.elasticsearch
def test_respond_job_role_records_but_cannot_rewrite(es: Any, es_settings: ClusterSettings, es_prefix: str) -> None:
    """With the role `siem-pack deploy` gives the respond job (schema/roles.yml): receipts and
    workflow changes are created; alerts and receipts cannot be overwritten."""
    import uuid

    from siem_pack.deploy.bundle import load_roles, role_body

    a = alert("secret_in_prompt", T0, ["e1"], T0)
    write_es(es, [a], index=f"{es_prefix}siem-pack-alerts")
    name, password = f"{es_prefix}-responder", uuid.uuid4().hex
    es.security.put_role(name=name, **role_body(next(r for r in load_roles() if r.job == "respond"), es_prefix))
    es.security.put_user(username=name, password=password, roles=[name])
    try:
        env = {"SIEM_PACK_ES_URL": es_settings.es_url or "", "SIEM_PACK_USER": name, "SIEM_PACK_PASSWORD": password,
               "SIEM_PACK_PREFIX": es_prefix}
        runner = CliRunner()
        res = runner.invoke(main, ["respond", a["kibana.alert.uuid"], "--by", "bot", "--json"], env=env)
        assert res.exit_code == 0, res.output
        rid = json.loads(res.output)["receipts"][0]["siem_pack"]["action"]["receipt_id"]
        res = runner.invoke(main, ["alerts", "ack", a["kibana.alert.uuid"], "--by", "bot", "--reason", "r"], env=env)
        assert res.exit_code == 0, res.output
        writer = elasticsearch.Elasticsearch(es_settings.es_url, basic_auth=(name, password), request_timeout=10)
        with pytest.raises(elasticsearch.AuthorizationException):
            writer.index(index=f"{es_prefix}siem-pack-actions", id=rid, document={"siem_pack": {"action": {}}})
        with pytest.raises(elasticsearch.AuthorizationException):
            writer.index(index=f"{es_prefix}siem-pack-alerts", id=a["kibana.alert.uuid"], document={})
    finally:
        es.security.delete_user(username=name)
        es.security.delete_role(name=name)
