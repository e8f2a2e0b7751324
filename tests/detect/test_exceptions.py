"""Allow-list exceptions are honoured by both runners (until they expire) and reach the
Kibana payloads as exception lists and items, which validate against our own schema
(schema/kibana/exception.yml) and, in the conformance layer, against Kibana's exceptions
contract, with a differential: what that contract rejects, our schema rejects too."""

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
from siem_pack.detect.runner_es import ESRuleReader
from siem_pack.detect.schedule import evaluate
from siem_pack.errors import ContentError
from tests.support import contracts
from tests.support.mutations import mutations

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
    backend = ESRuleReader(es, index, index)
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


EXCEPTION_FILES = sorted({e.path for e in ENTRIES})


def _objects_of(path: Path) -> list[dict[str, Any]]:
    """The exception lists and items an exception file contributes (with its rules' lists)."""
    mine = [e for e in ENTRIES if e.path == path]
    return exception_objects(RULES, mine)


@pytest.mark.parametrize("path", EXCEPTION_FILES, ids=[p.name for p in EXCEPTION_FILES])
def test_exception_objects_validate_against_our_schema(path: Path) -> None:
    objects = _objects_of(path)
    assert objects and all(kibana.validate(o, kibana.EXCEPTION_SCHEMA) == [] for o in objects), path.name


def test_our_schema_rejects_broken_exception_objects() -> None:
    objects = exception_objects(RULES, ENTRIES)
    item = json.loads(json.dumps(next(o for o in objects if "item_id" in o)))
    item["entries"][0]["operator"] = "is"
    item["expire_time"] = "31/03/2027"
    item["bogus"] = 1
    problems = kibana.validate(item, kibana.EXCEPTION_SCHEMA)
    assert problems[:2] == ["(root): Additional properties are not allowed ('bogus' was unexpected)",
                            "entries/0/operator: 'is' is not one of ['excluded', 'included']"]
    assert len(problems) == 3 and problems[2].startswith("expire_time: '31/03/2027' does not match")
    listed = json.loads(json.dumps(next(o for o in objects if "item_id" not in o)))
    del listed["id"]
    assert kibana.validate(listed, kibana.EXCEPTION_SCHEMA) == ["(root): 'id' is a required property"]


def test_build_names_the_exception_file_of_a_broken_item() -> None:
    entry = replace(ENTRIES[0], match=(("user.id", ""),))
    rule = next(r for r in RULES if r.rule_id in entry.rule_ids)
    with pytest.raises(ContentError) as exc:
        kibana.build([rule], [entry])
    assert str(exc.value) == (f"{entry.path}: exception item {entry.item_id}--{rule.stem} fails "
                              "schema/kibana/exception.yml: entries/0/value: '' should be non-empty")


def test_exception_objects_validate_against_the_exceptions_api_spec(contracts_dir: Path) -> None:
    for o in exception_objects(RULES, ENTRIES):
        assert contracts.exception_problems(o, contracts_dir) == [], o.get("item_id") or o["list_id"]


@pytest.mark.parametrize("path", EXCEPTION_FILES, ids=[p.name for p in EXCEPTION_FILES])
def test_differential_exception_objects(path: Path, contracts_dir: Path) -> None:
    """Every single-point mutation of the file's lists and items that the exceptions contract
    rejects, our schema rejects too."""
    rejected = 0
    misses = []
    for obj in _objects_of(path):
        for label, mutated in mutations(obj):
            if contracts.exception_problems(mutated, contracts_dir):
                rejected += 1
                if not kibana.validate(mutated, kibana.EXCEPTION_SCHEMA):
                    misses.append(f"{obj.get('item_id') or obj['list_id']}: {label}")
    assert rejected >= 40, f"only {rejected} mutations rejected by the contract: the differential tests little"
    assert misses == [], f"the contract rejects, our schema accepts: {misses}"


def test_splunk_search_carries_exceptions() -> None:
    rule = BY_STEM["large_response_bytes"]
    spl = splunk_search(rule, ENTRIES)
    assert spl is not None and 'NOT (gen_ai.request.model="doc-summary-batch")' in spl
