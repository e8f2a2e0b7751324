"""Allow-list exceptions are honoured by both runners (until they expire) and reach the
Kibana payloads as exception lists and items."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from siem_pack.detect import kibana
from siem_pack.detect.export import exception_objects, kibana_ndjson, splunk_search
from siem_pack.detect.fixtures import es_index_fixture, fixture_dir, fixture_tick, load_fixture, run_duckdb
from siem_pack.detect.rules import AllowEntry, Rule
from siem_pack.detect.runner_es import ElasticsearchBackend
from siem_pack.detect.schedule import evaluate

from .conftest import BY_STEM, ENTRIES, RULES

CASES = ["new_user_model_pair", "identity_multiple_countries", "auth_failures_then_success",
         "privileged_action_without_approval", "large_token_request"]


def _entry(rule: Rule, expires: datetime) -> AllowEntry:
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    uid = docs[-1]["user"]["id"]
    return AllowEntry(Path("t.toml"), "t", "t", "test", (rule.rule_id,), (("user.id", uid),), expires)


@pytest.mark.parametrize("stem", CASES)
def test_exception_silences_hit_on_duckdb_until_expiry(stem: str) -> None:
    rule = BY_STEM[stem]
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    tick = fixture_tick(rule, docs)
    active = _entry(rule, datetime(2100, 1, 1))
    expired = replace(active, expires=tick)
    unexcepted = run_duckdb(rule, docs, [tick])
    assert unexcepted
    assert run_duckdb(rule, docs, [tick], [active]) == []
    assert run_duckdb(rule, docs, [tick], [expired]) == unexcepted


@pytest.mark.elasticsearch
@pytest.mark.parametrize("stem", CASES)
def test_exception_honoured_on_elasticsearch(stem: str, es: Any, es_prefix: str) -> None:
    rule = BY_STEM[stem]
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    tick = fixture_tick(rule, docs)
    index = f"{es_prefix}-x"
    es_index_fixture(es, index, docs)
    backend = ElasticsearchBackend(es, index, index)
    entry = _entry(rule, datetime(2100, 1, 1))
    with_entry = evaluate(rule, backend, [tick], [entry])
    assert with_entry == run_duckdb(rule, docs, [tick], [entry])
    assert len(with_entry) < len(evaluate(rule, backend, [tick]))


def test_shipped_exception_applies_to_its_rule() -> None:
    rule = BY_STEM["api_key_multiple_countries"]
    docs = load_fixture(fixture_dir(rule) / "hit.ndjson")
    for d in docs:
        d["siem_pack"]["api_key"]["id"] = "key-ci-shared"
    tick = fixture_tick(rule, docs)
    assert run_duckdb(rule, docs, [tick]) and run_duckdb(rule, docs, [tick], ENTRIES) == []


def test_kibana_payload_references_exception_lists() -> None:
    bodies = {b["rule_id"]: b for b in (kibana.api_body(r, ENTRIES) for r in RULES)}
    with_lists = {rid for rid, b in bodies.items() if "exceptions_list" in b}
    assert with_lists == {rid for e in ENTRIES for rid in e.rule_ids}
    objs = exception_objects(RULES, ENTRIES)
    lists = {o["list_id"]: o for o in objs if "item_id" not in o}
    items = [o for o in objs if "item_id" in o]
    for rid in with_lists:
        ref = bodies[rid]["exceptions_list"][0]
        assert lists[ref["list_id"]]["id"] == ref["id"]
    assert all(i["entries"][0]["operator"] == "included" and i["expire_time"].endswith("Z") for i in items)
    lines = [json.loads(x) for x in kibana_ndjson(RULES, ENTRIES).splitlines()]
    assert len(lines) == len(RULES) + len(objs)


def test_exception_items_validate_against_the_exceptions_api_spec(contracts_dir: Path) -> None:
    import jsonschema
    import yaml

    spec = yaml.safe_load((contracts_dir / "kibana-openapi" / "exceptions" /
                           "security_solution_exceptions_api_2023_10_31.bundled.schema.yaml").read_text())
    comps = spec["components"]["schemas"]
    item_schema = {"components": spec["components"], "$ref": "#/components/schemas/ExceptionListItemEntryArray"}
    assert "ExceptionListItemEntryArray" in comps
    for o in exception_objects(RULES, ENTRIES):
        if "item_id" in o:
            jsonschema.Draft4Validator(item_schema).validate(o["entries"])


def test_splunk_search_carries_exceptions() -> None:
    rule = BY_STEM["large_response_bytes"]
    spl = splunk_search(rule, ENTRIES)
    assert spl is not None and 'NOT (gen_ai.request.model="doc-summary-batch")' in spl
