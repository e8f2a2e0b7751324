"""Kibana rule payloads, in two layers.

Own (always runs): every rule's API body validates against our rule schema
(schema/kibana/rule.yml), broken bodies are rejected with the expected message, `build`
names the rule file of every problem, nothing at runtime touches the contract-test library,
and the conversion is checked field by field.

Conformance (needs the upstream contracts; no Kibana server runs here): every [rule] table
validates against detection-rules' schemas for 8.19 and 9.5 and every API body against
Kibana's detections OpenAPI spec, and the differential: every single-point mutation of a
rule's body or [rule] table that those contracts reject, our schema rejects too.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from siem_pack.detect import kibana
from siem_pack.detect.rules import Rule
from siem_pack.errors import ContentErrors
from tests.support import contracts
from tests.support.mutations import mutations

from .conftest import BY_STEM, ENTRIES, RULES

Body = dict[str, Any]


# -- own schema ----------------------------------------------------------------------------
def test_api_body_validates_against_our_schema(rule: Rule) -> None:
    assert kibana.validate(kibana.api_body(rule, ENTRIES)) == [], rule.path.name


def _set(key: str, value: Any) -> Callable[[Body], None]:
    return lambda b: b.__setitem__(key, value)


def _drop(key: str) -> Callable[[Body], None]:
    return lambda b: b.pop(key)


# (id, rule stem, mutation, the message our schema gives, whether Kibana's contracts reject it too)
BROKEN: list[tuple[str, str, Callable[[Body], None], str, bool]] = [
    ("risk-score-above-100", "secret_in_prompt", _set("risk_score", 150),
     "risk_score: 150 is greater than the maximum of 100", True),
    ("risk-score-a-string", "secret_in_prompt", _set("risk_score", "73"), "risk_score: '73' is not of type 'integer'",
     True),
    ("unknown-severity", "secret_in_prompt", _set("severity", "urgent"),
     "severity: 'urgent' is not one of ['low', 'medium', 'high', 'critical']", True),
    ("no-name", "secret_in_prompt", _drop("name"), "(root): 'name' is a required property", True),
    ("empty-description", "secret_in_prompt", _set("description", ""), "description: '' should be non-empty", True),
    ("max-signals-0", "secret_in_prompt", _set("max_signals", 0), "max_signals: 0 is less than the minimum of 1", True),
    ("version-0", "secret_in_prompt", _set("version", 0), "version: 0 is less than the minimum of 1", True),
    ("enabled-a-string", "secret_in_prompt", _set("enabled", "yes"), "enabled: 'yes' is not of type 'boolean'", True),
    ("index-a-string", "secret_in_prompt", _set("index", "logs-*"), "index: 'logs-*' is not of type 'array'", True),
    ("kql-rule-in-eql", "secret_in_prompt", _set("language", "eql"),
     "language: 'eql' is not one of ['kuery', 'lucene']", True),
    ("eql-rule-in-kuery", "auth_failures_then_success", _set("language", "kuery"), "language: 'eql' was expected",
     True),
    ("eql-without-language", "auth_failures_then_success", _drop("language"),
     "(root): 'language' is a required property", True),
    ("threshold-missing", "identity_multiple_countries", _drop("threshold"),
     "(root): 'threshold' is a required property", True),
    ("threshold-value-0", "identity_multiple_countries", lambda b: b["threshold"].__setitem__("value", 0),
     "threshold/value: 0 is less than the minimum of 1", True),
    ("threshold-six-fields", "identity_multiple_countries", lambda b: b["threshold"].__setitem__(
        "field", [f"f{i}" for i in range(6)]), "threshold/field: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'] is too long", True),
    ("cardinality-without-value", "identity_multiple_countries",
     lambda b: b["threshold"]["cardinality"][0].pop("value"),
     "threshold/cardinality/0: 'value' is a required property", True),
    ("new-terms-no-fields", "new_user_model_pair", _set("new_terms_fields", []),
     "new_terms_fields: [] should be non-empty", True),
    ("new-terms-four-fields", "new_user_model_pair", _set("new_terms_fields", ["a", "b", "c", "d"]),
     "new_terms_fields: ['a', 'b', 'c', 'd'] is too long", True),
    ("new-terms-empty-history", "new_user_model_pair", _set("history_window_start", ""),
     "history_window_start: '' does not match '^now-[1-9][0-9]*[smhd]$'", True),
    ("exception-list-without-list-id", "new_user_model_pair", lambda b: b["exceptions_list"][0].pop("list_id"),
     "exceptions_list/0: 'list_id' is a required property", True),
    ("exception-list-unknown-namespace", "new_user_model_pair",
     lambda b: b["exceptions_list"][0].__setitem__("namespace_type", "global"),
     "exceptions_list/0/namespace_type: 'global' is not one of ['agnostic', 'single']", True),
    ("threat-without-tactic", "secret_in_prompt", lambda b: b["threat"][0].pop("tactic"),
     "threat/0: 'tactic' is a required property", True),
    ("technique-without-reference", "secret_in_prompt", lambda b: b["threat"][0]["technique"][0].pop("reference"),
     "threat/0/technique/0: 'reference' is a required property", True),
    ("suppression-four-fields", "secret_in_prompt",
     lambda b: b["alert_suppression"].__setitem__("group_by", ["a", "b", "c", "d"]),
     "alert_suppression/group_by: ['a', 'b', 'c', 'd'] is too long", True),
    ("suppression-no-group-by", "secret_in_prompt", lambda b: b["alert_suppression"].pop("group_by"),
     "alert_suppression: 'group_by' is a required property", True),
    ("suppression-in-days", "secret_in_prompt", lambda b: b["alert_suppression"]["duration"].__setitem__("unit", "d"),
     "alert_suppression/duration/unit: 'd' is not one of ['s', 'm', 'h']", True),
    ("suppression-value-0", "new_user_model_pair",
     lambda b: b["alert_suppression"]["duration"].__setitem__("value", 0),
     "alert_suppression/duration/value: 0 is less than the minimum of 1", True),
    ("suppression-unknown-strategy", "auth_failures_then_success",
     lambda b: b["alert_suppression"].__setitem__("missing_fields_strategy", "drop"),
     "alert_suppression/missing_fields_strategy: 'drop' is not one of ['suppress', 'doNotSuppress']", True),
    ("threshold-suppression-no-duration", "identity_multiple_countries",
     lambda b: b["alert_suppression"].pop("duration"), "alert_suppression: 'duration' is a required property", True),
    # stricter than Kibana's OpenAPI spec (which leaves these open)
    ("suppression-no-duration", "secret_in_prompt", lambda b: b["alert_suppression"].pop("duration"),
     "alert_suppression: 'duration' is a required property", False),
    ("threshold-suppression-group-by", "identity_multiple_countries",
     lambda b: b["alert_suppression"].__setitem__("group_by", ["user.id"]),
     "alert_suppression: Additional properties are not allowed ('group_by' was unexpected)", False),
    ("unknown-key", "secret_in_prompt", _set("bogus", 1),
     "(root): Additional properties are not allowed ('bogus' was unexpected)", False),
    ("interval-in-words", "secret_in_prompt", _set("interval", "5 minutes"),
     "interval: '5 minutes' does not match '^[1-9][0-9]*[smhd]$'", False),
    ("from-not-date-math", "secret_in_prompt", _set("from", "yesterday"),
     "from: 'yesterday' does not match '^now-[1-9][0-9]*[smhd]$'", False),
    ("rule-id-not-a-uuid", "secret_in_prompt", _set("rule_id", "secret-in-prompt"),
     "rule_id: 'secret-in-prompt' does not match", False),
    ("no-index", "secret_in_prompt", _drop("index"), "(root): 'index' is a required property", False),
    ("esql-with-index", "log_source_silent", _set("index", ["logs-*"]),
     "(root): Additional properties are not allowed ('index' was unexpected)", False),
    ("two-cardinalities", "identity_multiple_countries", lambda b: b["threshold"]["cardinality"].append(
        {"field": "source.ip", "value": 2}), "threshold/cardinality: ", False),
    ("threshold-unknown-key", "identity_multiple_countries", lambda b: b["threshold"].__setitem__("bogus", 1),
     "threshold: Additional properties are not allowed ('bogus' was unexpected)", False),
    ("unknown-rule-type", "secret_in_prompt", _set("type", "machine_learning"),
     "type: 'machine_learning' unsupported; known: eql, esql, new_terms, query, threshold", False),
]


def _broken_body(stem: str, mutate: Callable[[Body], None]) -> Body:
    body = kibana.api_body(BY_STEM[stem], ENTRIES)
    mutate(body)
    return body


@pytest.mark.parametrize(("stem", "mutate", "message"), [c[1:4] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_our_schema_rejects_a_broken_body(stem: str, mutate: Callable[[Body], None], message: str) -> None:
    problems = kibana.validate(_broken_body(stem, mutate))
    assert any(p.startswith(message) for p in problems), problems


def test_build_names_the_rule_file_of_every_problem() -> None:
    good, bad = BY_STEM["guardrail_deleted"], BY_STEM["secret_in_prompt"]
    worse = dataclasses.replace(BY_STEM["identity_multiple_countries"], body={
        **BY_STEM["identity_multiple_countries"].body, "threshold": {"field": ["user.id"], "value": 0}})
    broken = dataclasses.replace(bad, body={**bad.body, "risk_score": 150, "interval": "5 minutes"})
    with pytest.raises(ContentErrors) as exc:
        kibana.build([good, broken, worse], ENTRIES)
    lines = [str(p) for p in exc.value.problems]
    schema = "API body fails schema/kibana/rule.yml"
    assert lines == [
        f"{bad.path}: {schema} (query): interval: '5 minutes' does not match '^[1-9][0-9]*[smhd]$'",
        f"{bad.path}: {schema} (query): risk_score: 150 is greater than the maximum of 100",
        f"{worse.path}: {schema} (threshold): threshold/value: 0 is less than the minimum of 1",
    ]


def test_build_returns_every_body() -> None:
    bodies = kibana.build(RULES, ENTRIES)
    assert [b["rule_id"] for b in bodies] == [r.rule_id for r in RULES]


def test_runtime_needs_no_contract_library(tmp_path: Path) -> None:
    """`rules build` and `rules export` validate without importing the tests' support package
    (tests.support), the only reader of Kibana's published contracts (and with SIEM_PACK_SHARED
    naming nothing)."""
    code = ("import sys; from pathlib import Path; from siem_pack.detect import api; api.build_rules(); "
            f"api.export_rules(Path({str(tmp_path)!r})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tests'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "SIEM_PACK_SHARED": str(tmp_path / "nowhere")})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    assert (tmp_path / "rules.ndjson").is_file()


# -- conversion ----------------------------------------------------------------------------
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


# -- conformance: Kibana's published contracts ----------------------------------------------
@pytest.mark.parametrize("version", contracts.SCHEMA_VERSIONS)
def test_rule_table_validates(rule: Rule, version: str, contracts_dir: Path) -> None:
    assert contracts.rule_toml_problems(rule, version, contracts_dir) == [], rule.path.name


def test_api_body_validates_against_openapi(rule: Rule, contracts_dir: Path) -> None:
    assert contracts.rule_api_problems(kibana.api_body(rule, ENTRIES), contracts_dir) == [], rule.path.name


def test_alert_suppression_body_conforms(rule: Rule, contracts_dir: Path) -> None:
    """Every body carries Kibana's alert_suppression in its type's shape (threshold: only a
    duration) and passes our schema, the detections OpenAPI spec and both rule schemas."""
    body = kibana.api_body(rule, ENTRIES)
    sup = body["alert_suppression"]
    assert set(sup) == ({"duration"} if rule.type == "threshold" else {"duration", "group_by", "missing_fields_strategy"})
    assert sup["duration"]["unit"] in ("s", "m", "h")
    assert kibana.validate(body) == []
    assert contracts.rule_api_problems(body, contracts_dir) == []
    for v in contracts.SCHEMA_VERSIONS:
        assert contracts.rule_toml_problems(rule, v, contracts_dir) == [], (rule.path.name, v)


UPSTREAM_REJECTS = [c for c in BROKEN if c[4]]


@pytest.mark.parametrize(("stem", "mutate"), [c[1:3] for c in UPSTREAM_REJECTS], ids=[c[0] for c in UPSTREAM_REJECTS])
def test_the_contract_rejects_the_broken_body_too(stem: str, mutate: Callable[[Body], None],
                                                  contracts_dir: Path) -> None:
    assert contracts.rule_api_problems(_broken_body(stem, mutate), contracts_dir)


def test_the_contract_tables_reject_a_broken_table(contracts_dir: Path) -> None:
    rule = BY_STEM["secret_in_prompt"]
    bad = dataclasses.replace(rule, body={**rule.body, "interval": "5 minutes", "bogus": 1})
    for v in contracts.SCHEMA_VERSIONS:
        errs = contracts.rule_toml_problems(bad, v, contracts_dir)
        assert any("interval" in e for e in errs) and any("bogus" in e for e in errs)


def test_differential_api_body(rule: Rule, contracts_dir: Path) -> None:
    """Every single-point mutation of the rule's API body that the detections OpenAPI spec
    rejects, our schema rejects too."""
    rejected = 0
    misses = []
    for label, body in mutations(kibana.api_body(rule, ENTRIES)):
        if contracts.rule_api_problems(body, contracts_dir):
            rejected += 1
            if not kibana.validate(body):
                misses.append(label)
    assert rejected >= 60, f"only {rejected} mutations rejected by the contract: the differential tests little"
    assert misses == [], f"{rule.path.name}: the contract rejects, our schema accepts: {misses}"


def test_differential_rule_table(rule: Rule, contracts_dir: Path) -> None:
    """Every single-point mutation of the rule's [rule] table that a detection-rules schema
    (8.19 or 9.5) rejects, our schema rejects in the API body rendered from it. The new_terms
    table is left alone: its conversion is covered by the API-body differential."""
    rejected = 0
    misses = []
    for label, table in mutations(dict(rule.body), skip=("new_terms",)):
        mutated = dataclasses.replace(rule, body=table)
        if any(contracts.rule_toml_problems(mutated, v, contracts_dir) for v in contracts.SCHEMA_VERSIONS):
            rejected += 1
            if not kibana.validate(kibana.api_body(mutated, ENTRIES)):
                misses.append(label)
    assert rejected >= 40, f"only {rejected} mutations rejected by the contract: the differential tests little"
    assert misses == [], f"{rule.path.name}: the contract rejects, our schema accepts: {misses}"


def test_export_imports_into_the_kibana_contract_server(contracts_dir: Path) -> None:
    """The NDJSON goes through `POST /api/detection_engine/rules/_import` of the recording
    contract server (request and response checked against the detections OpenAPI spec)."""
    import urllib.request

    from siem_pack.detect.export import kibana_ndjson
    from tests.support.kibana_server import KibanaContractServer

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
