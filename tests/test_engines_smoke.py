"""Smoke tests of the real engines the project's script starts."""

from __future__ import annotations

from typing import Any

import pytest

SMALL_PIPELINE = {
    "description": "set, rename, date, json",
    "processors": [
        {"json": {"field": "message", "target_field": "parsed"}},
        {"rename": {"field": "parsed.who", "target_field": "user.name"}},
        {"date": {"field": "parsed.ts", "target_field": "@timestamp", "formats": ["ISO8601"]}},
        {"set": {"field": "event.kind", "value": "event"}},
        {"set": {"field": "event.action", "value": "{{parsed.op}}"}},
        {"remove": {"field": ["message", "parsed"]}},
    ],
}


@pytest.mark.opensearch
def test_opensearch_simulates_a_small_pipeline(opensearch: Any) -> None:
    doc = {"message": '{"who": "ana", "ts": "2025-03-01T10:20:30.4465902Z", "op": "InvokeModel"}'}
    res = opensearch.simulate(SMALL_PIPELINE, [doc])
    out = res["docs"][0]["doc"]["_source"]
    assert out == {"user": {"name": "ana"}, "@timestamp": "2025-03-01T10:20:30.446Z",
                   "event": {"kind": "event", "action": "InvokeModel"}}


@pytest.mark.opensearch
def test_opensearch_has_the_ingest_modules(opensearch: Any) -> None:
    nodes = opensearch.request("GET", "/_nodes/ingest")
    types = {p["type"] for n in nodes["nodes"].values() for p in n["ingest"]["processors"]}
    assert {"set", "rename", "date", "json", "grok", "dissect", "geoip", "pipeline", "script"} <= types


@pytest.mark.elasticsearch
def test_elasticsearch_security_and_api_keys(es: Any, es_prefix: str) -> None:
    me = es.security.authenticate()
    assert me["username"] == "elastic"
    key = es.security.create_api_key(name=f"{es_prefix}-smoke", expiration="1h")
    try:
        assert key["id"] and key["api_key"]
    finally:
        es.security.invalidate_api_key(ids=[key["id"]])
    es.indices.create(index=f"{es_prefix}-smoke", mappings={"properties": {"a": {"type": "keyword"}}})
    es.index(index=f"{es_prefix}-smoke", id="1", document={"a": "x y"}, refresh=True)
    hits = es.search(index=f"{es_prefix}-smoke", query={"query_string": {"query": 'a:"x y"'}})
    assert hits["hits"]["total"]["value"] == 1
