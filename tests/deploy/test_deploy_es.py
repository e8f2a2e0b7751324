"""Deploy, the Elasticsearch half, on the real node: plan, deploy, re-deploy no-op, drift
after a hand edit, uninstall, and what a job's API key may and may not do."""

from __future__ import annotations

import base64
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch

from siem_pack.cli import main
from siem_pack.deploy import commands
from siem_pack.deploy.apply import DeployError, apply
from siem_pack.deploy.bundle import Bundle, DeployObject, load_roles
from siem_pack.deploy.plan import Plan, judge
from siem_pack.settings import ClusterSettings
from tests.support.es import cleanup_prefix

pytestmark = pytest.mark.elasticsearch


def _cli(settings: ClusterSettings, *args: str) -> Any:
    env = {"SIEM_PACK_ES_URL": settings.es_url or "", "SIEM_PACK_USER": settings.user or "",
           "SIEM_PACK_PASSWORD": settings.password or ""}
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture(scope="module")
def deployed_prefix(es: Elasticsearch) -> Any:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    yield prefix
    cleanup_prefix(es, prefix)


@pytest.fixture(scope="module")
def deployed(es_settings: ClusterSettings, deployed_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One deploy shared by the tests of this module; a test that changes it restores it."""
    keys = tmp_path_factory.mktemp("keys")
    p, result = commands.deploy(es_settings, prefix=deployed_prefix, keys_dir=keys)
    yield p, result, keys
    commands.remove(es_settings, prefix=deployed_prefix, delete_data=True)


def test_plan_on_an_empty_cluster_creates_everything_and_exits_1(es_settings: ClusterSettings, es_prefix: str) -> None:
    res = _cli(es_settings, "plan", "--prefix", es_prefix, "--json")
    assert res.exit_code == 1, res.output
    import json

    plan = json.loads(res.stdout)
    actions = {c["action"] for c in plan["changes"]}
    assert actions == {"create"}
    kinds = {c["kind"] for c in plan["changes"]}
    assert {"component_template", "index_template", "index", "role", "api_key"} <= kinds
    assert any("ingest pipelines skipped" in n for n in plan["notes"])
    assert any("retention is not enforced" in n for n in plan["notes"])


def test_deploy_then_redeploy_changes_nothing(es_settings: ClusterSettings, deployed_prefix: str, deployed: Any) -> None:
    p, result, keys = deployed
    assert result.applied and len(result.applied) == len(p.pending)
    assert sorted(x.name for x in keys.iterdir()) == sorted(f"{r.job}.key" for r in load_roles())
    assert {"baselines", "metrics", "respond", "rules", "seal"} <= {r.job for r in load_roles()}
    again = commands.make_plan(es_settings, prefix=deployed_prefix)
    assert [f"{c.kind}/{c.name}" for c in again.pending] == []
    res = _cli(es_settings, "plan", "--prefix", deployed_prefix)
    assert res.exit_code == 0, res.output
    assert "0 change(s) pending" in res.stdout
    p2, r2 = commands.deploy(es_settings, prefix=deployed_prefix, keys_dir=keys)
    assert r2.applied == [] and r2.keys_written == []


def test_hand_edit_is_reported_as_drift_and_deploy_restores(es: Elasticsearch, es_settings: ClusterSettings,
                                                            deployed_prefix: str, deployed: Any) -> None:
    name = f"{deployed_prefix}siem_pack-gen_ai@mappings"
    body = es.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    body["template"]["mappings"]["properties"]["gen_ai"]["properties"]["system"] = {"type": "text"}
    for managed in ("created_date_millis", "modified_date_millis", "created_date", "modified_date"):
        body.pop(managed, None)
    es.cluster.put_component_template(name=name, body=body)
    p = commands.make_plan(es_settings, prefix=deployed_prefix)
    drifted = [c for c in p.changes if c.action == "drifted"]
    assert [(c.kind, c.name) for c in drifted] == [("component_template", name)]
    assert drifted[0].diff == ["template.mappings.properties.gen_ai.properties.system.ignore_above: null → 1024",
                               'template.mappings.properties.gen_ai.properties.system.type: "text" → "keyword"']
    res = _cli(es_settings, "plan", "--prefix", deployed_prefix)
    assert res.exit_code == 1 and f"drifted    component_template/{name}" in res.stdout
    commands.deploy(es_settings, prefix=deployed_prefix)
    assert commands.make_plan(es_settings, prefix=deployed_prefix).pending == []


def test_a_newer_bundle_is_an_update_with_a_diff(es: Elasticsearch, es_settings: ClusterSettings, deployed_prefix: str,
                                                 deployed: Any) -> None:
    role = f"{deployed_prefix}siem_pack_job_metrics"
    body = es.security.get_role(name=role)[role]
    body["metadata"]["content_hash"] = "0" * 64  # as an older bundle would have left it
    body["cluster"] = ["monitor", "manage"]
    es.security.put_role(name=role, body={k: body[k] for k in ("cluster", "indices", "metadata", "description")})
    change = next(c for c in commands.make_plan(es_settings, prefix=deployed_prefix).changes if c.name == role)
    assert change.action == "update" and change.note == "bundle changed"
    assert change.diff == ['+ cluster[1] = "manage" (not in the bundle; deploy removes it)']
    commands.deploy(es_settings, prefix=deployed_prefix)
    assert commands.make_plan(es_settings, prefix=deployed_prefix).pending == []


def test_status_reports_installed_and_jobs(es_settings: ClusterSettings, deployed_prefix: str, deployed: Any) -> None:
    st = commands.status(es_settings, prefix=deployed_prefix)
    assert st["missing"] == [] and st["drifted"] == [] and st["outdated"] == [] and st["in_sync"] is True
    assert st["versions"] and st["jobs"]["seal"]["last_run"] is None and st["jobs"]["seal"]["recent"] is False
    res = _cli(es_settings, "status", "--prefix", deployed_prefix)
    assert res.exit_code == 0, res.output
    assert "seal       never ran" in res.stdout


def _key_client(es_settings: ClusterSettings, key_file: Path) -> Elasticsearch:
    from siem_pack.cluster import es_client

    return es_client(ClusterSettings(es_url=es_settings.es_url, api_key=key_file.read_text().strip()))


def test_job_keys_are_least_privilege(es: Elasticsearch, es_settings: ClusterSettings, deployed_prefix: str,
                                      deployed: Any) -> None:
    _, _, keys = deployed
    seal_key = keys / "seal.key"
    assert stat.S_IMODE(seal_key.stat().st_mode) == 0o600
    seal = _key_client(es_settings, seal_key)
    seals = f"{deployed_prefix}siem-pack-seals"
    seal.index(index=seals, id="w1", document={"seal_id": "w1", "kind": "window"}, op_type="create")
    with pytest.raises(AuthorizationException):  # create only: no overwrite of a seal
        seal.index(index=seals, id="w1", document={"seal_id": "w1", "kind": "forged"})
    with pytest.raises(AuthorizationException):  # no delete
        seal.delete(index=seals, id="w1")
    for other in (f"{deployed_prefix}siem-pack-alerts", f"{deployed_prefix}siem-pack-anomalies", f"{deployed_prefix}other"):
        with pytest.raises(AuthorizationException):
            seal.index(index=other, document={"x": 1}, op_type="create")
    es.index(index=f"{deployed_prefix}siem-pack-approvals", document={"x": 1}, refresh=True)
    with pytest.raises(AuthorizationException):  # the seal job does not read approvals
        seal.search(index=f"{deployed_prefix}siem-pack-approvals")
    # the metrics job may index (idempotent results) in its own index only
    metrics = _key_client(es_settings, keys / "metrics.key")
    metrics.index(index=f"{deployed_prefix}siem-pack-metrics", id="m1", document={"v": 1})
    metrics.index(index=f"{deployed_prefix}siem-pack-metrics", id="m1", document={"v": 2})
    with pytest.raises(AuthorizationException):
        metrics.index(index=seals, document={"x": 1}, op_type="create")
    with pytest.raises(AuthorizationException):  # no cluster administration
        metrics.indices.put_index_template(name=f"{deployed_prefix}x", index_patterns=[f"{deployed_prefix}x*"])


def test_keys_rotate_replaces_the_key(es_settings: ClusterSettings, deployed_prefix: str, deployed: Any) -> None:
    _, _, keys = deployed
    old = (keys / "rules.key").read_text().strip()
    res = _cli(es_settings, "keys", "rotate", "rules", "--keys-dir", str(keys), "--prefix", deployed_prefix)
    assert res.exit_code == 0, res.output
    new = (keys / "rules.key").read_text().strip()
    assert new != old and new not in res.output and old not in res.output
    assert "1 old key(s) invalidated" in res.stdout
    from siem_pack.cluster import es_client

    with pytest.raises(AuthenticationException):
        es_client(ClusterSettings(es_url=es_settings.es_url, api_key=old)).security.authenticate()
    who = es_client(ClusterSettings(es_url=es_settings.es_url, api_key=new)).security.authenticate()
    assert who["authentication_type"] == "api_key"
    assert base64.b64decode(new).decode().split(":")[0] == who["api_key"]["id"]


def test_deploy_prints_no_secret_and_uninstall_removes_only_what_we_own(
        es: Elasticsearch, es_settings: ClusterSettings, es_prefix: str, tmp_path: Path) -> None:
    res = _cli(es_settings, "deploy", "--prefix", es_prefix, "--keys-dir", str(tmp_path / "k"))
    assert res.exit_code == 0, res.output
    for key in (tmp_path / "k").iterdir():
        assert key.read_text().strip() not in res.output
    assert es_settings.password not in res.output
    assert "(mode 0600)" in res.output
    es.indices.put_index_template(name=f"{es_prefix}theirs", index_patterns=[f"{es_prefix}theirs-*"])
    res = _cli(es_settings, "uninstall", "--prefix", es_prefix, "--dry-run")
    assert res.exit_code == 0 and "would remove" in res.stdout and f"{es_prefix}theirs" not in res.stdout
    res = _cli(es_settings, "uninstall", "--prefix", es_prefix)
    assert res.exit_code == 0, res.output
    assert f"data index(es)/data stream(s): {es_prefix}logs-siem_pack." in res.stdout
    after = commands.make_plan(es_settings, prefix=es_prefix)
    assert {c.action for c in after.changes if c.kind != "index"} == {"create"}
    assert es.indices.exists_index_template(name=f"{es_prefix}theirs")
    assert es.security.get_api_key(name=f"{es_prefix}siem-pack-job-seal", active_only=True)["api_keys"] == []


def test_failure_midway_names_what_was_applied_and_a_rerun_completes(es: Elasticsearch, es_prefix: str) -> None:
    good = DeployObject("component_template", f"{es_prefix}a", {"template": {"mappings": {}}, "_meta": {}})
    bad = DeployObject("index_template", f"{es_prefix}b", {"index_patterns": [f"{es_prefix}b*"],
                                                           "composed_of": [f"{es_prefix}missing"]})
    later = DeployObject("role", f"{es_prefix}r", {"cluster": ["monitor"], "metadata": {}})
    plan = Plan([judge(o, None) for o in (good, bad, later)], [], Bundle([good, bad, later], []))
    with pytest.raises(DeployError) as err:
        apply(plan, es, None)
    assert f"stopped at index_template/{es_prefix}b" in str(err.value)
    assert "applied 1, not applied 2" in str(err.value) and "run deploy again" in str(err.value)
    fixed = DeployObject("index_template", bad.name, {"index_patterns": [f"{es_prefix}b*"], "composed_of": [good.name]})
    plan2 = Plan([judge(good, {"template": {"mappings": {}}, "_meta": {}}), judge(fixed, None), judge(later, None)], [],
                 Bundle([good, fixed, later], []))
    assert [c.action for c in plan2.changes][1:] == ["create", "create"]
    result = apply(plan2, es, None)
    assert [(c.kind, c.action) for c in result.applied][-2:] == [("index_template", "create"), ("role", "create")]
    es.security.delete_role(name=later.name)  # the templates go with es_prefix
