"""Stage 3 on Elasticsearch: `ESRuleReader`, the rule runner's reader over the search API
only (no EQL, ES|QL or scripts, which the test node lacks): `query_string` for Lucene, the
kuery AST as query DSL, `filters` + `terms` aggregations (one bucket per window) for
threshold, new_terms and silence (`es.aggregate`), one `msearch` for the few events an alert
needs (ancestors, first or newest event; `es.search_many`), and every hit for queries and
sequences (`es.search_all`, in (@timestamp, event.id) order: schedule.py scans them so).
All of it goes through the storage port siem_pack.backends.es.

Its twin is runner_duckdb.py (`DuckDBRuleReader`). Index names are parameters (default
siem_pack.backends.indices; tests pass their `es_prefix`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ..backends import es
from ..backends.indices import ANOMALIES_INDEX, EVENTS_PATTERN
from ..doc import flatten
from ..times import format_ts
from .kuery import Node, to_dsl
from .schedule import DocRequest, Group, Key, Where, Window

TERMS_SIZE = 10000  # groups per window and field; more are cut off (documented)
WINDOWS_PER_REQUEST = 20
DOCS_PER_MSEARCH = 100
HITS_PAGE = 1000


def _order(direction: str) -> list[dict[str, Any]]:
    """(@timestamp, event.id) in `direction`; fine on an index where either is unmapped."""
    return [es.by("@timestamp", "date", direction), es.by("event.id", "keyword", direction)]


SORT = _order("asc")


class ESRuleReader:
    """What schedule.py asks (its `Backend` protocol), answered by an Elasticsearch cluster."""

    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, events_index: str = EVENTS_PATTERN,
                 anomalies_index: str = ANOMALIES_INDEX) -> None:
        self.client = client
        self.index = {"events": events_index, "anomalies": anomalies_index}

    def _filter(self, where: Where, start: datetime, end: datetime) -> dict[str, Any]:
        return {"bool": {
            "filter": [q.dsl() for q in where.must] + [_range(start, end)],
            "must_not": [to_dsl(n) for n in where.must_not],
        }}

    def hits(self, table: str, where: Where, start: datetime, end: datetime,
             named: dict[str, Node]) -> list[tuple[dict[str, Any], frozenset[str]]]:
        query = self._filter(where, start, end)
        if named:
            query["bool"]["should"] = [{"bool": {"filter": [to_dsl(n)], "_name": name}} for name, n in named.items()]
            query["bool"]["minimum_should_match"] = 1
        return [(flatten(h["_source"]), frozenset(h.get("matched_queries", [])))
                for h in es.search_all(self.client, self.index[table], query, sort=SORT, page_size=HITS_PAGE)]

    def _chunks(self, windows: Sequence[Window]) -> Iterator[tuple[int, Sequence[Window]]]:
        for i in range(0, len(windows), WINDOWS_PER_REQUEST):
            yield i, windows[i:i + WINDOWS_PER_REQUEST]

    def _agg_search(self, table: str, where: Where, windows: Sequence[Window], inner: dict[str, Any]) -> dict[str, Any]:
        start = min(s for s, _ in windows)
        end = max(e for _, e in windows)
        aggs = {"w": {"filters": {"filters": {str(i): _range(s, e) for i, (s, e) in enumerate(windows)}},
                      "aggs": inner}}
        found = es.aggregate(self.client, self.index[table], self._filter(where, start, end), aggs)
        return dict(found.get("w", {}).get("buckets", {}))

    def groups(self, table: str, where: Where, windows: Sequence[Window], fields: Sequence[str],
               min_count: int, cardinality_field: str | None) -> list[list[Group]]:
        leaf: dict[str, Any] = {"last": {"max": {"field": "@timestamp"}}}
        if cardinality_field:
            leaf["card"] = {"cardinality": {"field": cardinality_field, "precision_threshold": 3000}}
        inner = _nest(fields, leaf, min_count)
        out: list[list[Group]] = [[] for _ in windows]
        for offset, chunk in self._chunks(windows):
            buckets = self._agg_search(table, where, chunk, inner)
            for i in range(len(chunk)):
                for key, leafb in _leaves(buckets.get(str(i), {}), len(fields)):
                    if leafb["doc_count"] < min_count:
                        continue
                    card = int(leafb["card"]["value"]) if cardinality_field else None
                    out[offset + i].append(Group(key, int(leafb["doc_count"]), card, _ms(leafb["last"]["value"])))
        return out

    def terms(self, table: str, where: Where, windows: Sequence[Window],
              fields: Sequence[str]) -> list[dict[Key, datetime]]:
        inner = _nest(fields, {"last": {"max": {"field": "@timestamp"}}}, 1)
        out: list[dict[Key, datetime]] = [{} for _ in windows]
        for offset, chunk in self._chunks(windows):
            buckets = self._agg_search(table, where, chunk, inner)
            for i in range(len(chunk)):
                for key, leafb in _leaves(buckets.get(str(i), {}), len(fields)):
                    if leafb["doc_count"]:
                        out[offset + i][key] = _ms(leafb["last"]["value"])
        return out

    def docs(self, table: str, where: Where, requests: Sequence[DocRequest]) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for i in range(0, len(requests), DOCS_PER_MSEARCH):
            bodies: list[dict[str, Any]] = []
            for req in requests[i:i + DOCS_PER_MSEARCH]:
                query = self._filter(where, *req.window)
                query["bool"]["filter"] += [{"term": {f: v}} for f, v in zip(req.fields, req.key, strict=True)]
                bodies.append({"query": query, "size": req.size, "sort": _order("desc" if req.newest else "asc")})
            out += [[flatten(h["_source"]) for h in hits]
                    for hits in es.search_many(self.client, self.index[table], bodies)]
        return out


def _ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)


def _range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": format_ts(start), "lt": format_ts(end),
                                     "format": "strict_date_optional_time"}}}


def _nest(fields: Sequence[str], leaf: dict[str, Any], min_count: int) -> dict[str, Any]:
    """terms(f1) → terms(f2) → ... → leaf aggregations."""
    inner = leaf
    for f in reversed(fields):
        inner = {"t": {"terms": {"field": f, "size": TERMS_SIZE, "min_doc_count": min_count,
                                 "order": {"_key": "asc"}}, "aggs": inner}}
    return inner


def _leaves(bucket: dict[str, Any], depth: int, prefix: Key = ()) -> Iterator[tuple[Key, dict[str, Any]]]:
    if not bucket:
        return
    if depth == 0:
        yield prefix, bucket
        return
    for b in bucket["t"]["buckets"]:
        yield from _leaves(b, depth - 1, prefix + (b["key"],))
