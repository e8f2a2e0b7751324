"""The query languages: KQL and the Lucene subset parse into one AST; DSL and SQL agree on
small documents; EQL sequences follow ES's matcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.detect.eql import Hit, parse_eql, scan_sequences
from siem_pack.detect.kuery import (
    And,
    Exists,
    Not,
    Or,
    QuerySyntaxError,
    Range,
    Term,
    Wildcard,
    parse_kuery,
    parse_lucene,
    to_dsl,
    to_sql,
)
from siem_pack.detect.rules import Query
from siem_pack.detect.runner_duckdb import DuckDBRuleReader
from siem_pack.detect.schedule import Where


def test_kuery_parses() -> None:
    assert parse_kuery('a: x and not b: "y z" or c >= 3') == Or((And((Term("a", "x"), Not(Term("b", "y z", True)))),
                                                                  Range("c", "gte", 3)))
    assert parse_kuery("a: (x or y*)") == Or((Term("a", "x"), Wildcard("a", "y*")))
    assert parse_kuery("a: * AND b: true") == And((Exists("a"), Term("b", True)))


def test_lucene_parses() -> None:
    assert parse_lucene("a:x AND NOT b:y") == And((Term("a", "x"), Not(Term("b", "y"))))
    assert parse_lucene("a:[1 TO *] OR _exists_:c") == Or((Range("a", "gte", 1), Exists("c")))
    assert parse_lucene('a:(x OR "y/z")') == Or((Term("a", "x"), Term("a", "y/z", True)))
    assert parse_lucene(r"u:arn\:aws*") == Wildcard("u", "arn:aws*")


@pytest.mark.parametrize("bad", ["a:x OR b:y AND c:z", "a:x b:y", "a:x OR NOT b:y", "a:[1 TO 2", "(a:x"])
def test_lucene_outside_subset_is_rejected(bad: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_lucene(bad)


@pytest.mark.parametrize("bad", ["free text", "a: (x or", "a:"])
def test_kuery_errors(bad: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_kuery(bad)


def test_dsl_shapes() -> None:
    assert to_dsl(parse_kuery("a: x")) == {"bool": {"should": [{"match": {"a": "x"}}], "minimum_should_match": 1}}
    assert to_dsl(parse_kuery("not a: *")) == {"bool": {"must_not": [{"exists": {"field": "a"}}]}}
    assert Query("lucene", "a:x", parse_lucene("a:x")).dsl() == {"query_string": {"query": "a:x"}}


DOCS = [
    {"event": {"id": "1", "category": ["api", "iam"], "action": "api_key.created"}, "@timestamp": "2026-11-02T10:00:00Z",
     "user": {"id": "a"}, "http": {"response": {"status_code": 403}}},
    {"event": {"id": "2", "category": ["api"], "action": "x_%y"}, "@timestamp": "2026-11-02T10:01:00Z",
     "siem_pack": {"user": {"off_hours": True}}},
    {"event": {"id": "3", "action": "Delete"}, "@timestamp": "2026-11-02T10:02:00Z", "user": {"id": "b"}},
]
CASES = [
    ("kuery", "event.category: iam", {"1"}),
    ("kuery", "event.category: api and not user.id: a", {"2"}),
    ("kuery", "not user.id: a", {"2", "3"}),
    ("kuery", "event.action: x_%*", {"2"}),
    ("kuery", "event.action: api_key*", {"1"}),
    ("kuery", "siem_pack.user.off_hours: true", {"2"}),
    ("kuery", "http.response.status_code >= 400", {"1"}),
    ("kuery", "user.id: *", {"1", "3"}),
    ("lucene", "event.action:(Delete OR api_key.created)", {"1", "3"}),
    ("lucene", "http.response.status_code:[400 TO 499] AND NOT user.id:b", {"1"}),
    ("lucene", "-user.id:a AND _exists_:user.id", {"3"}),
]


def _sql_ids(store: Store, q: Query) -> set[str]:
    start, end = datetime(2026, 11, 1), datetime(2026, 11, 3)
    return {d["event.id"] for d, _ in DuckDBRuleReader(store).hits("events", Where((q,)), start, end, {})}


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Store(tmp_path_factory.mktemp("q") / "q.duckdb") as store:
        store.write_docs("events", DOCS)
        yield store


@pytest.mark.parametrize(("language", "text", "expected"), CASES, ids=[c[1] for c in CASES])
def test_sql_semantics(tiny_store: Store, language: str, text: str, expected: set[str]) -> None:
    ast = parse_kuery(text) if language == "kuery" else parse_lucene(text)
    assert _sql_ids(tiny_store, Query(language, text, ast)) == expected


@pytest.mark.elasticsearch
def test_dsl_and_query_string_semantics_match_sql(es: Any, es_prefix: str, tiny_store: Store) -> None:
    from siem_pack.detect.fixtures import es_index_fixture
    from siem_pack.detect.runner_es import ESRuleReader

    index = f"{es_prefix}-q"
    es_index_fixture(es, index, DOCS)
    backend = ESRuleReader(es, index, index)
    for language, text, expected in CASES:
        ast = parse_kuery(text) if language == "kuery" else parse_lucene(text)
        got = {d["event.id"] for d, _ in backend.hits("events", Where((Query(language, text, ast),)),
                                                        datetime(2026, 11, 1), datetime(2026, 11, 3), {})}
        assert got == expected, text


def test_sql_is_parametrised() -> None:
    from siem_pack.schema import load_schema

    params: list[Any] = []
    sql = to_sql(parse_kuery("user.id: \"x' OR 1=1 --\""), load_schema(), params)
    assert "OR 1=1" not in sql and params == ["x' OR 1=1 --"]


def test_eql_parses_runs_and_maxspan() -> None:
    seq = parse_eql('sequence by user.id with maxspan=5m [any where event.outcome == "failure"] with runs=2 '
                    '[iam where event.action in ("a", "b")]')
    assert seq.by == ("user.id",) and seq.maxspan == timedelta(minutes=5) and len(seq.steps) == 3


def _hit(i: int, minute: int, key: str, steps: set[int]) -> Hit:
    return Hit(str(i), datetime(2026, 1, 1, 0, minute), (key,), frozenset(steps), {})


def test_sequence_scan_semantics() -> None:
    seq = parse_eql('sequence by user.id with maxspan=5m [any where x == 1] [any where x == 1] [any where y == 1]')
    # two failures then success: one sequence; a second success alone does not complete another
    hits = [_hit(1, 0, "a", {0, 1}), _hit(2, 1, "a", {0, 1}), _hit(3, 2, "a", {2}), _hit(4, 3, "a", {2})]
    assert [[h.id for h in s] for s in scan_sequences(seq, hits)] == [["1", "2", "3"]]
    # maxspan drops a stale partial sequence
    stale = [_hit(1, 0, "a", {0, 1}), _hit(2, 1, "a", {0, 1}), _hit(3, 7, "a", {2})]
    assert scan_sequences(seq, stale) == []
    # keys do not mix
    mixed = [_hit(1, 0, "a", {0, 1}), _hit(2, 1, "b", {0, 1}), _hit(3, 2, "a", {2})]
    assert scan_sequences(seq, mixed) == []


def test_eql_not_equal_needs_the_field() -> None:
    seq = parse_eql('sequence [any where user.id != "a"] [any where true]')
    assert seq.steps[0].condition == And((Exists("user.id"), Not(Term("user.id", "a", True))))


@pytest.mark.parametrize("bad", ['sequence [any where a = = "x"] [any where true]',
                                 'sequence [any where a ! = "x"] [any where true]',
                                 'sequence [any where a == "x"]'])
def test_eql_errors(bad: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_eql(bad)
