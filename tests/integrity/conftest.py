"""Fixtures for the integrity tests: one `Backend` per store (DuckDB, the real Elasticsearch
node), each able to tamper with what it holds the way an attacker with write access would,
and signing keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.store_duckdb import DuckDBEvents, DuckDBSeals
from siem_pack.integrity.store_es import ESEvents, ESSeals, ensure_seals_index
from siem_pack.schema import load_schema

from .synthetic import Backend, event_id


@pytest.fixture()
def duckdb_backend(db_path: Path) -> Iterator[Backend]:
    with Store(db_path) as store:
        con = store.con

        def replace_event(doc: dict[str, Any]) -> None:  # an UPDATE of the row, doc and columns alike
            con.execute('DELETE FROM events WHERE "event.id" = ?', [event_id(doc)])
            store.insert_events([doc])

        def seal_record(seal_id: str) -> dict[str, Any]:
            record, manifest = con.execute("SELECT record, manifest FROM seals WHERE seal_id = ?", [seal_id]).fetchone()
            return {**json.loads(record), "manifest": manifest}

        def put_seal_record(record: dict[str, Any]) -> None:
            body = {k: v for k, v in record.items() if k != "manifest"}
            con.execute("UPDATE seals SET record = ?, manifest = ?, seq = ? WHERE seal_id = ?",
                        [json.dumps(body), record.get("manifest"), record.get("seq"), record["seal_id"]])

        yield Backend(
            "duckdb", DuckDBEvents(store), DuckDBSeals(store),
            insert=lambda docs: store.insert_events(docs) and None,
            replace_event=replace_event,
            delete_event=lambda eid: con.execute('DELETE FROM events WHERE "event.id" = ?', [eid]) and None,
            seal_record=seal_record, put_seal_record=put_seal_record,
            delete_seal=lambda sid: con.execute("DELETE FROM seals WHERE seal_id = ?", [sid]) and None,
            extra={"store": store},
        )


@pytest.fixture()
def elasticsearch_backend(es: Any, es_prefix: str) -> Backend:
    events_index = f"{es_prefix}-logs-siem_pack.synthetic-default"
    seals_index = f"{es_prefix}-siem-pack-seals"
    props = load_schema().es_properties(frozenset({"match_only_text", "wildcard", "constant_keyword"}))
    es.indices.create(index=events_index, mappings={"dynamic": "strict", "properties": props})
    ensure_seals_index(es, seals_index)

    def insert(docs: list[dict[str, Any]]) -> None:
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops += [{"create": {"_index": events_index, "_id": event_id(d)}}, d]
        resp = es.bulk(operations=ops, refresh=True)
        assert not resp["errors"], resp

    def replace_event(doc: dict[str, Any]) -> None:
        es.index(index=events_index, id=event_id(doc), document=doc, refresh=True)

    def seal_record(seal_id: str) -> dict[str, Any]:
        return dict(es.get(index=seals_index, id=seal_id)["_source"])

    return Backend(
        "elasticsearch", ESEvents(es, f"{es_prefix}-logs-siem_pack.*"), ESSeals(es, seals_index),
        insert=insert, replace_event=replace_event,
        delete_event=lambda eid: es.delete(index=events_index, id=eid, refresh=True) and None,
        seal_record=seal_record,
        put_seal_record=lambda r: es.index(index=seals_index, id=r["seal_id"], document=r, refresh=True) and None,
        delete_seal=lambda sid: es.delete(index=seals_index, id=sid, refresh=True) and None,
        extra={"events_index": events_index, "seals_index": seals_index, "es": es},
    )


@pytest.fixture(params=["duckdb", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that takes `backend` runs on DuckDB and on the real Elasticsearch node."""
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    return SigningKey.generate()
