"""Issue 16 (6, 7) on the real node: keys added by hand are drift that plan shows, status
lists (exit 1) and deploy removes; ingest into any namespace gets the layout deploy makes
(`-000001` behind the write alias); uninstall --delete-data removes all the pack's data and
nothing that only looks like it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from siem_pack.cli import main
from siem_pack.deploy import commands
from siem_pack.deploy.apply import apply
from siem_pack.deploy.bundle import Bundle, DeployObject, _marked
from siem_pack.deploy.plan import Plan, judge
from siem_pack.deploy.state import read
from siem_pack.errors import ClusterError
from siem_pack.settings import ClusterSettings
from siem_pack.templates import ensure_write_target
from tests.support.es import cleanup_prefix

pytestmark = pytest.mark.elasticsearch

# one openai_compatible record (the format of docs/formats.md's example)
RECORD = {"timestamp": "2025-03-04T09:15:02.123Z", "request_id": "req-drift-1", "method": "POST",
          "endpoint": "/v1/chat/completions", "status": 200, "client": {"ip": "89.160.20.156"},
          "user": {"id": "alice.martin@example.org"}, "model": "meta-llama/Llama-3.1-8B-Instruct",
          "usage": {"prompt_tokens": 12, "completion_tokens": 3}, "duration_ms": 842}


def _cli(settings: ClusterSettings, *args: str, api_key: str | None = None) -> Any:
    env = {"SIEM_PACK_ES_URL": settings.es_url or "", "SIEM_PACK_USER": "" if api_key else settings.user or "",
           "SIEM_PACK_PASSWORD": "" if api_key else settings.password or "", "SIEM_PACK_API_KEY": api_key or ""}
    return CliRunner().invoke(main, list(args), env=env)


def _ingest(settings: ClusterSettings, prefix: str, namespace: str, tmp_path: Path, api_key: str | None = None,
            request_id: str = "req-drift-1") -> Any:
    f = tmp_path / f"{namespace}-{request_id}.ndjson"
    f.write_text(json.dumps({**RECORD, "request_id": request_id}) + "\n")
    return _cli(settings, "ingest", str(f), "--format", "openai_compatible", "--namespace", namespace,
                "--index", f"{prefix}logs-siem_pack.{{format}}-{{namespace}}",
                "--dead-letter-index", f"{prefix}siem-pack-dead-letters", api_key=api_key)


@pytest.fixture(scope="module")
def pack(es: Elasticsearch, es_settings: ClusterSettings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, Path]]:
    """A deploy of its own (with job keys) for the tests of this module."""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    keys = tmp_path_factory.mktemp("keys")
    commands.deploy(es_settings, prefix=prefix, keys_dir=keys)
    yield prefix, keys
    commands.remove(es_settings, prefix=prefix, delete_data=True)
    cleanup_prefix(es, prefix)


def _bare(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("created_date_millis", "modified_date_millis")}


def test_hand_added_keys_are_drift_status_lists_them_and_deploy_removes_them(
        es: Elasticsearch, es_settings: ClusterSettings, pack: tuple[str, Path]) -> None:
    prefix, _ = pack
    template = f"{prefix}logs-siem_pack.kong_ai"
    body = es.indices.get_index_template(name=template)["index_templates"][0]["index_template"]
    body["template"]["settings"] = {"number_of_replicas": 2, "index": {"refresh_interval": "5s"}}
    es.indices.put_index_template(name=template, body=_bare(body))
    role = f"{prefix}siem_pack_job_seal"
    rbody = es.security.get_role(name=role)[role]
    es.security.put_role(name=role, body={**{k: rbody[k] for k in ("cluster", "indices", "description", "metadata")},
                                          "run_as": ["someone"]})
    approvals = f"{prefix}siem-pack-approvals"
    es.indices.put_settings(index=approvals, settings={"index.number_of_replicas": 0})

    p = commands.make_plan(es_settings, prefix=prefix)
    drifted = {c.key: c.diff for c in p.changes if c.action == "drifted"}
    assert drifted == {
        f"index_template/{template}": [
            "+ template.settings.index.number_of_replicas = 2 (not in the bundle; deploy removes it)",
            "+ template.settings.index.refresh_interval = 5s (not in the bundle; deploy removes it)"],
        f"index/{approvals}": [
            "+ settings.index.number_of_replicas = 0 (not in the bundle; deploy resets it to the default)"],
        f"role/{role}": ['+ run_as = ["someone"] (not in the bundle; deploy removes it)']}

    res = _cli(es_settings, "status", "--prefix", prefix)
    assert res.exit_code == 1, res.output
    assert "drifted: 3" in res.stdout
    for key, lines in drifted.items():
        assert f"\n  {key}\n" in res.stdout
        for line in lines:
            assert f"      {line}" in res.stdout
    res = _cli(es_settings, "status", "--prefix", prefix, "--json")
    assert res.exit_code == 1, res.output
    st = json.loads(res.stdout)
    assert st["in_sync"] is False and sorted(st["drifted"]) == sorted(drifted) and st["drift"] == drifted

    res = _cli(es_settings, "deploy", "--prefix", prefix)  # the plan first, what it removes included
    assert res.exit_code == 0, res.output
    plan_part, applied, _ = res.stdout.partition("3 change(s) applied")
    assert applied and "plan: 3 change(s)" in plan_part
    for lines in drifted.values():
        assert all(line in plan_part for line in lines)

    assert commands.make_plan(es_settings, prefix=prefix).pending == []
    assert "settings" not in es.indices.get_index_template(name=template)["index_templates"][0]["index_template"][
        "template"]
    assert es.security.get_role(name=role)[role]["run_as"] == []
    assert es.indices.get_settings(index=approvals)[approvals]["settings"]["index"]["number_of_replicas"] == "1"
    res = _cli(es_settings, "status", "--prefix", prefix)
    assert res.exit_code == 0, res.output
    assert "drifted: none" in res.stdout and "missing: none" in res.stdout


def test_a_missing_object_is_listed_by_status_with_exit_1(es: Elasticsearch, es_settings: ClusterSettings,
                                                          pack: tuple[str, Path]) -> None:
    prefix, _ = pack
    name = f"{prefix}siem-pack-seals"
    es.indices.delete_index_template(name=name)
    res = _cli(es_settings, "status", "--prefix", prefix)
    assert res.exit_code == 1, res.output
    assert f"missing: 1\n  index_template/{name}\n" in res.stdout
    commands.deploy(es_settings, prefix=prefix)
    assert _cli(es_settings, "status", "--prefix", prefix).exit_code == 0


def test_a_hand_added_pipeline_processor_is_drift_and_server_dates_are_not(
        es: Elasticsearch, es_prefix: str) -> None:
    # this node runs one processor only (set_security_user): a pipeline of ours made of it
    name = f"{es_prefix}pipeline"
    ours = DeployObject("ingest_pipeline", name, _marked(
        {"description": "d", "processors": [{"set_security_user": {"field": "user", "properties": ["username"]}}]},
        "_meta"))
    try:
        apply(Plan([judge(ours, None)], [], Bundle([ours], [])), es, None)
        installed = read(es, ours, None)
        assert installed is not None and "created_date_millis" in installed  # the server's own keys...
        assert judge(ours, installed).action == "unchanged"  # ...are not drift
        hand = _bare(installed)
        hand["processors"].append({"set_security_user": {"field": "by_hand"}})
        hand["version"] = 7
        es.ingest.put_pipeline(id=name, body=hand)
        change = judge(ours, read(es, ours, None))
        assert change.action == "drifted"
        assert change.diff == [
            '+ processors[1] = {"set_security_user": {"field": "by_hand"}} (not in the bundle; deploy removes it)',
            "+ version = 7 (not in the bundle; deploy removes it)"]
        apply(Plan([change], [], Bundle([ours], [])), es, None)
        assert judge(ours, read(es, ours, None)).action == "unchanged"
    finally:
        es.options(ignore_status=[404]).ingest.delete_pipeline(id=name)


def test_ingest_into_any_namespace_gets_the_alias_layout_deploy_makes(
        es: Elasticsearch, es_settings: ClusterSettings, pack: tuple[str, Path], tmp_path: Path) -> None:
    prefix, _ = pack
    alias = f"{prefix}logs-siem_pack.openai_compatible-prod"
    res = _ingest(es_settings, prefix, "prod", tmp_path)
    assert res.exit_code == 0, res.output
    aliases = es.indices.get_alias(name=alias).body
    assert aliases == {f"{alias}-000001": {"aliases": {alias: {"is_write_index": True}}}}
    default = f"{prefix}logs-siem_pack.openai_compatible-default"  # the same layout deploy made
    assert es.indices.get_alias(name=default).body == {f"{default}-000001": {"aliases": {default: {"is_write_index": True}}}}
    assert _ingest(es_settings, prefix, "prod", tmp_path, request_id="req-drift-2").exit_code == 0  # then it is there
    es.indices.refresh(index=alias)
    assert es.count(index=alias)["count"] == 2
    assert list(es.indices.get(index=f"{prefix}logs-siem_pack.openai_compatible-prod*").body) == [f"{alias}-000001"]


def test_a_job_key_cannot_make_a_new_namespace_and_says_so(
        es: Elasticsearch, es_settings: ClusterSettings, pack: tuple[str, Path]) -> None:
    prefix, keys = pack
    from siem_pack.cluster import es_client

    job = es_client(ClusterSettings(es_url=es_settings.es_url, api_key=(keys / "ingest.key").read_text().strip()))
    target = f"{prefix}logs-siem_pack.openai_compatible-staging"
    with pytest.raises(ClusterError) as err:  # it needs manage on the alias: more than append-only
        ensure_write_target(job, target)
    assert str(err.value).startswith(f"{target}: the cluster has no data streams, so the first write index "
                                     f"{target}-000001 behind this write alias must be created, and this key may not")
    assert es.indices.get(index=f"{target}*").body == {}  # and no plain index instead
    assert ensure_write_target(job, f"{prefix}logs-siem_pack.openai_compatible-default") == "exists"
    assert ensure_write_target(job, f"{prefix}custom-{{format}}") == "not ours"


def test_uninstall_delete_data_removes_the_pack_data_and_only_it(
        es: Elasticsearch, es_settings: ClusterSettings, tmp_path: Path) -> None:
    mine, theirs = f"t-{uuid.uuid4().hex[:10]}", f"t-{uuid.uuid4().hex[:10]}"
    try:
        for prefix in (mine, theirs):  # two installs side by side
            commands.deploy(es_settings, prefix=prefix)
            assert _ingest(es_settings, prefix, "prod", tmp_path).exit_code == 0
            es.index(index=f"{prefix}siem-pack-alerts", document={"kibana.alert.uuid": "a1"}, refresh=True)
        decoys = [f"{mine}logs-other-default", f"{mine}logs-siem_pack-default", f"{mine}siem-pack-alerts-old",
                  f"{mine}xlogs-siem_pack.kong_ai-default"]
        for decoy in decoys:
            es.indices.create(index=decoy)
        ours = {f"{mine}siem-pack-alerts", f"{mine}siem-pack-approvals",
                f"{mine}logs-siem_pack.openai_compatible-prod-000001",
                f"{mine}logs-siem_pack.openai_compatible-default-000001"}

        res = _cli(es_settings, "uninstall", "--prefix", mine, "--delete-data", "--dry-run", "--json")
        assert res.exit_code == 0, res.output
        would = set(json.loads(res.stdout)["would_remove"])
        assert {f"index/{n}" for n in ours} <= would
        assert not any(d in k for d in decoys for k in would) and not any(theirs in k for k in would)
        assert all(es.indices.exists(index=n) for n in ours)  # a dry run

        res = _cli(es_settings, "uninstall", "--prefix", mine)  # without --delete-data: data stays
        assert res.exit_code == 0, res.output
        assert "data index(es)/data stream(s)" in res.stdout and "(pass --delete-data to remove them)" in res.stdout
        assert all(es.indices.exists(index=n) for n in ours)

        res = _cli(es_settings, "uninstall", "--prefix", mine, "--delete-data")
        assert res.exit_code == 0, res.output
        listed, _, done = res.stdout.partition(" removed")
        assert all(f"  index/{n}\n" in listed for n in ours)  # the plan, printed before the count
        left = set(es.indices.get(index=f"{mine}*", expand_wildcards="all").body)
        assert left == set(decoys)
        assert es.indices.get_alias(name=f"{mine}logs-siem_pack.*", ignore_unavailable=True).body == {}
        for name in (f"{theirs}siem-pack-alerts", f"{theirs}logs-siem_pack.openai_compatible-prod",
                     f"{theirs}logs-siem_pack.openai_compatible-default"):
            assert es.indices.exists(index=name), name
        assert [c.key for c in commands.make_plan(es_settings, prefix=theirs).pending if c.kind != "api_key"] == []
    finally:
        for prefix in (mine, theirs):
            commands.remove(es_settings, prefix=prefix, delete_data=True)
            cleanup_prefix(es, prefix)

