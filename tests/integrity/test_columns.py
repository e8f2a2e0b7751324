"""The copies of an event's fields that readers use are covered too (issue 16): in DuckDB the
report, rules and responders read the per-field columns (`"user.id"`, `"event.outcome"`, ...),
not the sealed `doc`, so verify derives every column from `doc` again and names each one that
differs. On Elasticsearch `_source` is the only copy: a partial update of any field changes
what was sealed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from siem_pack.backends.duckdb import Store, quote
from siem_pack.doc import unflatten
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import Seal, seal_windows
from siem_pack.integrity.verify import verify, verify_event
from siem_pack.times import format_ts

from .synthetic import DATASETS, START, Backend, event_id, synthetic_events

NOW = START + timedelta(hours=4)
DS = DATASETS[0]
SEAL = f"{DS}/1"
with Store(":memory:") as _store:  # every per-field column of `events`, from the store's schema
    TYPES = dict(_store.doc_columns())
COLUMNS = list(TYPES)
# the fields the issue names: read by the report and by respond
ISSUE_FIELDS = ("user.id", "event.outcome", "@timestamp", "event.original", "siem_pack.policy.verdict")


def tampered(column: str) -> str:
    """An SQL expression giving the column another value of its type."""
    col = quote(column)
    return {
        "VARCHAR": "'someone-else'",
        "VARCHAR[]": "['someone-else']",
        "BIGINT": f"coalesce({col}, 0) + 1",
        "DOUBLE": f"coalesce({col}, 0) + 0.5",
        "BOOLEAN": f"NOT coalesce({col}, false)",
        "TIMESTAMP": f"coalesce({col}, TIMESTAMP '2026-01-05 09:00:00') + INTERVAL 1 SECOND",
        "JSON": "'{\"tampered\": true}'",
    }[TYPES[column]]


def sealed_victim(b: Backend, key: SigningKey) -> str:
    b.insert(synthetic_events(24))
    seal_windows(b.source, b.store, key, now=NOW)
    first = Seal.from_record(b.seal_record(SEAL)).first_id
    assert first is not None
    return first


def kinds(b: Backend) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(f.kind, f.seal_id, f.event_id, f.column) for f in verify(b.source, b.store).findings}


def test_every_column_but_doc_is_compared(duckdb_backend: Backend) -> None:
    rows = duckdb_backend.extra["store"].con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'").fetchall()
    assert sorted(COLUMNS) == sorted(name for (name,) in rows if name != "doc")


@pytest.mark.parametrize("column", COLUMNS, ids=COLUMNS)
def test_a_tampered_column_is_named(duckdb_backend: Backend, key: SigningKey, column: str) -> None:
    b = duckdb_backend
    victim = sealed_victim(b, key)
    assert verify(b.source, b.store).ok
    b.extra["store"].con.execute(f'UPDATE events SET {quote(column)} = {tampered(column)} WHERE "event.id" = ?',
                                 [victim])
    assert kinds(b) == {("modified_column", SEAL, victim, column)}


def test_the_finding_shows_both_values(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    victim = sealed_victim(b, key)
    doc = next(d for d in b.docs() if event_id(d) == victim)
    b.extra["store"].con.execute("""UPDATE events SET "user.id" = 'someone-else' WHERE "event.id" = ?""", [victim])
    [finding] = verify(b.source, b.store).findings
    assert finding.detail == (f"column user.id holds 'someone-else', but the event's doc (the sealed evidence) "
                              f"gives {doc['user']['id']!r}")
    assert (finding.dataset, finding.window_start) == (DS, "2026-01-05T09:00:00Z")


def test_a_proof_names_a_tampered_column(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    victim = sealed_victim(b, key)
    assert verify_event(b.source, b.store, victim).proven
    b.extra["store"].con.execute("""UPDATE events SET "event.outcome" = 'someone-else' WHERE "event.id" = ?""",
                                 [victim])
    proof = verify_event(b.source, b.store, victim)
    assert not proof.proven and proof.problems[0].startswith("column event.outcome holds 'someone-else'")


def test_from_to_limits_the_rows_compared(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    victim = sealed_victim(b, key)  # in 09:00-10:00
    b.extra["store"].con.execute("""UPDATE events SET "user.id" = 'someone-else' WHERE "event.id" = ?""", [victim])
    assert verify(b.source, b.store, start=START + timedelta(hours=2)).ok
    assert [f.column for f in verify(b.source, b.store, end=START + timedelta(hours=2)).findings] == ["user.id"]


def test_a_column_added_by_a_newer_schema_is_filled_from_doc(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    sealed_victim(b, key)
    store = b.extra["store"]
    store.con.execute('ALTER TABLE events DROP COLUMN "siem_pack.policy.verdict"')  # a file from before that field
    with Store(store.path) as reopened:  # what every writer does on open: add the column, fill it from doc
        filled = reopened.con.execute('SELECT count("siem_pack.policy.verdict") FROM events').fetchone()
    assert filled == (24,)
    assert verify(b.source, b.store).ok


@pytest.mark.elasticsearch
@pytest.mark.parametrize("field", ISSUE_FIELDS, ids=ISSUE_FIELDS)
def test_a_partial_update_on_elasticsearch_is_named(elasticsearch_backend: Backend, key: SigningKey,
                                                    field: str) -> None:
    b = elasticsearch_backend
    victim = sealed_victim(b, key)
    doc = next(d for d in b.docs() if event_id(d) == victim)
    value = "someone-else"
    if field == "@timestamp":  # one second later: the same window
        value = format_ts(datetime.fromisoformat(doc["@timestamp"]) + timedelta(seconds=1), "auto")
    es = b.extra["es"]
    es.update(index=b.extra["events_index"], id=victim, doc=unflatten({field: value}), refresh=True)
    assert {(f.kind, f.seal_id, f.event_id, f.column) for f in verify(b.source, b.store).findings} == {
        ("modified_event", SEAL, victim, None)}
