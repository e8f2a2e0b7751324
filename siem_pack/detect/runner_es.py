"""Stage 3 on Elasticsearch: the rule runner's backend over the search API only (no EQL,
ES|QL or scripts, which the test node lacks): `query_string` for Lucene, the kuery AST as
query DSL, `filters` + `terms` aggregations (one bucket per window) for threshold, new_terms
and silence, `msearch` for the few events an alert needs (ancestors, first or newest event),
and paged hits for queries and sequences (schedule.py scans them in order).

Its twin is runner_duckdb.py. Index names are parameters (tests pass their `es_prefix`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ..doc import flatten
from ..errors import ClusterError
from ..times import format_ts
from .kuery import Node, to_dsl
from .rules import ANOMALIES_INDEX, EVENTS_INDEX
from .schedule import DocRequest, Group, Key, Where, Window

TERMS_SIZE = 10000  # groups per window and field; more are cut off (documented)
WINDOWS_PER_REQUEST = 20
DOCS_PER_MSEARCH = 100
SORT = [{"@timestamp": "asc"}, {"event.id": "asc"}]


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, events_index: str = EVENTS_INDEX,
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
        out = []
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after else {}
            resp = self.client.search(index=self.index[table], query=query, sort=SORT, size=1000,
                                      track_total_hits=False, ignore_unavailable=True, allow_no_indices=True, **kwargs)
            page = resp["hits"]["hits"]
            for h in page:
                out.append((flatten(h["_source"]), frozenset(h.get("matched_queries", []))))
            if len(page) < 1000:
                return out
            after = page[-1]["sort"]

    def _chunks(self, windows: Sequence[Window]) -> Iterator[tuple[int, Sequence[Window]]]:
        for i in range(0, len(windows), WINDOWS_PER_REQUEST):
            yield i, windows[i:i + WINDOWS_PER_REQUEST]

    def _agg_search(self, table: str, where: Where, windows: Sequence[Window], inner: dict[str, Any]) -> dict[str, Any]:
        start = min(s for s, _ in windows)
        end = max(e for _, e in windows)
        aggs = {"w": {"filters": {"filters": {str(i): _range(s, e) for i, (s, e) in enumerate(windows)}},
                      "aggs": inner}}
        resp = self.client.search(index=self.index[table], query=self._filter(where, start, end), size=0,
                                  aggs=aggs, ignore_unavailable=True, allow_no_indices=True)
        return dict(resp.get("aggregations", {}).get("w", {}).get("buckets", {}))

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
            searches: list[dict[str, Any]] = []
            for req in requests[i:i + DOCS_PER_MSEARCH]:
                query = self._filter(where, *req.window)
                query["bool"]["filter"] += [{"term": {f: v}} for f, v in zip(req.fields, req.key, strict=True)]
                order = "desc" if req.newest else "asc"
                searches += [{"index": self.index[table], "ignore_unavailable": True, "allow_no_indices": True},
                             {"query": query, "size": req.size, "track_total_hits": False,
                              "sort": [{"@timestamp": order}, {"event.id": order}]}]
            for resp in self.client.msearch(searches=searches)["responses"]:
                if "error" in resp:
                    raise ClusterError(f"search failed: {resp['error'].get('reason', resp['error'])}",
                                       where=self.index[table])
                out.append([flatten(h["_source"]) for h in resp["hits"]["hits"]])
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
