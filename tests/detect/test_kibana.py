"""Kibana payloads: every rule's [rule] table validates against the detection-rules schemas
for 8.19 and 9.5, every API body against the detections OpenAPI spec (no Kibana server
here), and the conversion is checked field by field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from siem_pack.detect import kibana
from siem_pack.detect.rules import Rule

from .conftest import BY_STEM, ENTRIES


@pytest.mark.parametrize("version", kibana.SCHEMA_VERSIONS)
def test_rule_table_validates(rule: Rule, version: str, contracts_dir: Path) -> None:
    assert kibana.validate_toml(rule, version, contracts_dir) == [], rule.path.name


def test_api_body_validates_against_openapi(rule: Rule, contracts_dir: Path) -> None:
    assert kibana.validate_api(kibana.api_body(rule, ENTRIES), contracts_dir) == [], rule.path.name


def test_validation_can_fail(contracts_dir: Path) -> None:
    rule = BY_STEM["secret_in_prompt"]
    body = kibana.api_body(rule)
    body["risk_score"] = 150
    body["severity"] = "urgent"
    errs = kibana.validate_api(body, contracts_dir)
    assert errs
    bad = copy.copy(rule)
    object.__setattr__(bad, "body", {**rule.body, "interval": "5 minutes", "bogus": 1})
    for v in kibana.SCHEMA_VERSIONS:
        errs = kibana.validate_toml(bad, v, contracts_dir)
        assert any("interval" in e for e in errs) and any("bogus" in e for e in errs)


def test_new_terms_conversion() -> None:
    body = kibana.api_body(BY_STEM["new_user_model_pair"])
    assert body["new_terms_fields"] == ["user.id", "gen_ai.request.model"]
    assert body["history_window_start"] == "now-14d"
    assert "new_terms" not in body


def test_threat_from_atlas_tags() -> None:
    body = kibana.api_body(BY_STEM["guardrail_violation_burst"])
    techniques = {t["id"] for th in body["threat"] for t in th["technique"]}
    assert techniques == {"AML.T0054", "AML.T0051"}
    assert all(th["framework"] == "MITRE ATLAS" for th in body["threat"])


def test_threshold_and_eql_and_esql_bodies() -> None:
    thr = kibana.api_body(BY_STEM["identity_multiple_countries"])
    assert thr["threshold"] == {"field": ["user.id"], "value": 2,
                                "cardinality": [{"field": "source.geo.country_iso_code", "value": 2}]}
    eql = kibana.api_body(BY_STEM["auth_failures_then_success"])
    assert eql["language"] == "eql" and eql["query"].startswith("sequence by user.id")
    esql = kibana.api_body(BY_STEM["log_source_silent"])
    assert esql["type"] == "esql" and "index" not in esql


def test_build_collects_every_rule(contracts_dir: Path) -> None:
    from .conftest import RULES

    assert len(kibana.build(RULES, ENTRIES, contracts_dir)) == len(RULES)


def test_export_imports_into_the_kibana_contract_server(contracts_dir: Path) -> None:
    """The NDJSON goes through `POST /api/detection_engine/rules/_import` of the recording
    contract server (request and response checked against the detections OpenAPI spec)."""
    import json
    import urllib.request

    from siem_pack.detect.export import kibana_ndjson
    from siem_pack.testing.kibana_server import KibanaContractServer

    from .conftest import RULES

    ndjson = kibana_ndjson(RULES, ENTRIES).encode()
    boundary = "siem-pack-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rules.ndjson\"\r\n"
            f"Content-Type: application/ndjson\r\n\r\n").encode() + ndjson + f"\r\n--{boundary}--\r\n".encode()
    with KibanaContractServer(contracts_dir) as kb:
        req = urllib.request.Request(f"{kb.url}/api/detection_engine/rules/_import?overwrite=true", data=body,
                                     method="POST", headers={
                                         "Content-Type": f"multipart/form-data; boundary={boundary}",
                                         "kbn-xsrf": "true", "Elastic-Api-Version": "2023-10-31"})
        with urllib.request.urlopen(req) as resp:
            answer = json.loads(resp.read())
        assert kb.problems == []
    assert answer["success"] and answer["success_count"] == len(RULES) == answer["rules_count"]
    assert answer["exceptions_success_count"] == len([x for x in ndjson.splitlines() if b'"list_id"' in x
                                                      and b'"rule_id"' not in x])
