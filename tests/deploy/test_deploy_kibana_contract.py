"""Deploy, the Kibana half, against a recording HTTP server that validates every request
against Kibana's OpenAPI contracts (../shared/contracts/kibana-openapi). This is a contract
test, not Kibana: no Kibana can run here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siem_pack.deploy import commands
from siem_pack.deploy.kibana import KibanaClient, KibanaError
from siem_pack.settings import ClusterSettings
from tests.support.kibana_server import KibanaContractServer

pytestmark = pytest.mark.elasticsearch


@pytest.fixture()
def kibana(contracts_dir: Path) -> Iterator[KibanaContractServer]:
    with KibanaContractServer(contracts_dir) as server:
        yield server


def _settings(es_settings: ClusterSettings, kb: KibanaContractServer, space: str = "default") -> ClusterSettings:
    return ClusterSettings(es_url=es_settings.es_url, user=es_settings.user, password=es_settings.password,
                           kibana_url=kb.url, space=space)


@pytest.mark.parametrize("kibana_version", ["8.19", "9.x"])
def test_deploy_sends_only_contract_valid_requests_and_redeploy_is_a_no_op(
        es_settings: ClusterSettings, es_prefix: str, kibana: KibanaContractServer, kibana_version: str,
        tmp_path: Path) -> None:
    settings = _settings(es_settings, kibana, space="security")
    try:
        p, result = commands.deploy(settings, prefix=es_prefix, kibana_version=kibana_version, keys_dir=tmp_path)
        assert kibana.problems == []
        kinds = {c.kind for c in result.applied}
        assert {"saved_object", "rule"} <= kinds
        paths = {(r.method, r.path) for r in kibana.requests}
        assert ("POST", "/s/security/api/detection_engine/rules/_import") in paths
        assert ("POST", "/s/security/api/saved_objects/_import") in paths
        n_rules = len([o for o in p.bundle.objects if o.kind == "rule"]) if p.bundle else 0
        assert len(kibana.rules["security"]) == n_rules >= 20
        again = commands.make_plan(settings, prefix=es_prefix, kibana_version=kibana_version)
        assert [f"{c.kind}/{c.name}" for c in again.pending] == []
        # an analyst edits a rule's query by hand: drift
        rule_id = next(iter(kibana.rules["security"]))
        kibana.rules["security"][rule_id]["severity"] = "low" if kibana.rules["security"][rule_id]["severity"] != "low" \
            else "high"
        drifted = [c for c in commands.make_plan(settings, prefix=es_prefix).changes if c.action == "drifted"]
        assert [(c.kind, c.name) for c in drifted] == [("rule", rule_id)]
        assert drifted[0].diff and drifted[0].diff[0].startswith("severity:")
    finally:
        commands.remove(settings, prefix=es_prefix, delete_data=True)
    assert kibana.problems == []


def test_every_detection_call_carries_the_api_version_and_xsrf(es_settings: ClusterSettings, es_prefix: str,
                                                              kibana: KibanaContractServer) -> None:
    settings = _settings(es_settings, kibana)
    try:
        commands.deploy(settings, prefix=es_prefix)
    finally:
        commands.remove(settings, prefix=es_prefix, delete_data=True)
    for r in kibana.requests:
        headers = {k.lower(): v for k, v in r.headers.items()}
        if r.method != "GET":
            assert headers.get("kbn-xsrf") == "true", r.path
        if "/api/detection_engine" in r.path:
            assert headers.get("elastic-api-version") == "2023-10-31", r.path
        assert headers.get("authorization") == "***"  # recorded redacted; sent as Basic


def test_per_rule_errors_in_a_200_answer_fail_the_deploy(contracts_dir: Path, kibana: KibanaContractServer) -> None:
    client = KibanaClient(ClusterSettings(es_url="http://127.0.0.1:9", kibana_url=kibana.url))
    bad_rule = b'{"rule_id": "x", "type": "query", "name": "n"}\n'
    with pytest.raises(KibanaError, match=r"rule import: 1 rule error\(s\); first: x:"):
        client.import_rules(bad_rule)


def test_kibana_contract_server_rejects_what_kibana_would(kibana: KibanaContractServer) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{kibana.url}/api/detection_engine/rules/_import", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400
    assert any("missing kbn-xsrf header" in p for p in kibana.problems)
