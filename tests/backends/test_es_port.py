"""The Elasticsearch port (siem_pack.backends.es) on the real node: composite paging past one
page, counts, bounded reads, aggregations, multi-searches, bulk writes with each document's
outcome (stored, already present, refused) and index creation. search_all's paging past the
10,000-hit window is tested with the response workflow (tests/respond/test_es_paging.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from siem_pack.backends import es as port
from siem_pack.errors import ClusterError

MAPPING = {"mappings": {"properties": {"@timestamp": {"type": "date"}, "user": {"properties": {
    "id": {"type": "keyword"}}}, "n": {"type": "long"}}}, "settings": {"number_of_replicas": 0}}


def docs(count: int) -> list[dict[str, Any]]:
    return [{"@timestamp": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", "user": {"id": f"u{i % 7}"}, "n": i}
            for i in range(count)]


@pytest.fixture()
def index(es: Any, es_prefix: str) -> str:
    name = f"{es_prefix}-port"
    assert port.ensure_index(es, name, MAPPING) is True
    assert port.ensure_index(es, name, MAPPING) is False  # there already: no error, not made twice
    written = port.write(es, name, docs(250), id_of=lambda d: f"d{d['n']}", refresh=True)
    assert (written.stored, written.present, written.refused) == (250, 0, [])
    return name


def test_composite_all_pages_every_bucket_in_key_order(es: Any, index: str) -> None:
    pages: list[int] = []
    buckets = list(port.composite_all(
        es, index, {"range": {"n": {"gte": 10}}}, [{"n": {"terms": {"field": "n"}}}],
        {"users": {"cardinality": {"field": "user.id"}}}, page_size=40,
        on_page=lambda body: pages.append(len(body["aggregations"]["c"]["buckets"]))))
    assert [b["key"]["n"] for b in buckets] == list(range(10, 250))
    assert all(b["doc_count"] == 1 and b["users"]["value"] == 1 for b in buckets)
    assert pages == [40] * 6 + [0]  # 240 buckets in pages of 40, then the empty last page


def test_count_first_aggregate_and_search_many(es: Any, index: str) -> None:
    assert port.count(es, index) == 250
    assert port.count(es, index, {"term": {"user.id": "u3"}}) == len([i for i in range(250) if i % 7 == 3])
    assert port.count(es, f"{index}-missing*") == 0
    newest = port.first(es, index, {"match_all": {}}, 3, sort=[port.by("n", "long", "desc")], source=["n"])
    assert [h["_source"]["n"] for h in newest] == [249, 248, 247]
    aggs = port.aggregate(es, index, {"range": {"n": {"lt": 14}}}, {"u": {"terms": {"field": "user.id"}}})
    assert {b["key"]: b["doc_count"] for b in aggs["u"]["buckets"]} == {f"u{i}": 2 for i in range(7)}
    hits = port.search_many(es, index, [{"query": {"term": {"n": 5}}, "size": 5},
                                        {"query": {"term": {"user.id": "u0"}}, "size": 2, "sort": [{"n": "asc"}]}])
    assert [[h["_source"]["n"] for h in page] for page in hits] == [[5], [0, 7]]


def test_search_many_names_a_failed_search(es: Any, index: str) -> None:
    with pytest.raises(ClusterError, match="search failed") as err:
        port.search_many(es, index, [{"query": {"range": {"@timestamp": {"gte": "not a date"}}}}])
    assert index in str(err.value)


def test_write_reports_each_outcome(es: Any, index: str) -> None:
    again = docs(3) + [{"@timestamp": "2026-01-02T00:00:00Z", "user": {"id": "u9"}, "n": "not a number"}]
    ids = iter(["d0", "d1", "new", "bad"])
    outcomes = list(port.write_each(es, index, again, id_of=lambda d: next(ids), refresh=True))
    assert [(o.id, o.stored, o.present) for o in outcomes] == [
        ("d0", False, True), ("d1", False, True), ("new", True, False), ("bad", False, False)]
    assert outcomes[3].status == 400 and "n" in str(outcomes[3].error)
    summary = port.write(es, index, [{"n": "still not a number"}], id_of=lambda d: "bad2")
    assert (summary.stored, summary.present, len(summary.refused)) == (0, 0, 1)
    with pytest.raises(ClusterError, match=r"1 events not written \(400\)"):
        summary.raise_refused("events", index)
    # index replaces, update merges the given fields; neither counts a 409
    assert port.write(es, index, [{"n": 1000}], op="index", id_of=lambda d: "d0", refresh=True).stored == 1
    assert port.write(es, index, [{"user": {"id": "x"}}], op="update", id_of=lambda d: "d0", refresh=True).stored == 1
    assert es.get(index=index, id="d0")["_source"] == {"n": 1000, "user": {"id": "x"}}
    # `id_of` may name a dotted field instead of a function
    assert port.write(es, index, [{"user": {"id": "by-path"}, "n": 1}], id_of="user.id", refresh=True).stored == 1
    assert es.get(index=index, id="by-path")["_source"]["n"] == 1


def test_ensure_index_refuses_a_bad_body_clearly(es: Any, es_prefix: str) -> None:
    with pytest.raises(ClusterError, match="refused") as err:
        port.ensure_index(es, f"{es_prefix}-bad", {"mappings": {"properties": {"x": {"type": "no-such-type"}}}})
    assert f"{es_prefix}-bad" in str(err.value)
