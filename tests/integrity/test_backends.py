"""What differs between the backends: the same events give the same seals on DuckDB and on
Elasticsearch; the DuckDB journal catches edits to the seals table; on Elasticsearch the seal
job, with the role `siem-pack deploy` gives it (create_doc on seals), can seal but never
overwrite or delete a seal."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from typing import Any

import elasticsearch
import pytest

from siem_pack.cluster import es_client
from siem_pack.deploy.bundle import load_roles, role_body
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import leaf_entry, seal_windows, window_leaves
from siem_pack.integrity.store_es import ESEvents, ESSeals
from siem_pack.integrity.verify import seal_status, verify
from siem_pack.settings import ClusterSettings

from .synthetic import DATASETS, START, Backend, event, synthetic_events

NOW = START + timedelta(hours=4)


@pytest.mark.elasticsearch
def test_same_events_same_roots_on_both_backends(duckdb_backend: Backend, elasticsearch_backend: Backend,
                                                 key: SigningKey) -> None:
    docs = synthetic_events(24)
    roots = []
    for b in (duckdb_backend, elasticsearch_backend):
        b.insert(docs)
        report = seal_windows(b.source, b.store, key, now=NOW)
        roots.append({s.seal_id: (s.root, s.count, s.first_id, s.last_id, s.manifest_sha256) for s in report.sealed})
    assert roots[0] == roots[1] and len(roots[0]) == 6


def test_journal_catches_reordered_lines_and_table_edits(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    b.insert(synthetic_events(24))
    seal_windows(b.source, b.store, key, now=NOW)
    journal = b.store.journal  # type: ignore[attr-defined]
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    journal.write_bytes(b"".join(lines))
    found = verify(b.source, b.store).findings
    assert {f.kind for f in found} == {"journal_mismatch"}
    assert any("hash chain broken" in f.detail for f in found)


def test_journal_names_a_seal_deleted_from_the_table(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    b.insert(synthetic_events(24))
    seal_windows(b.source, b.store, key, now=NOW)
    last = f"{DATASETS[0]}/2"  # the chain head: no gap shows, the journal still names it
    b.delete_seal(last)
    found = verify(b.source, b.store).findings
    assert [(f.kind, f.seal_id) for f in found] == [("missing_seal", last)]
    assert "deleted from the seals table" in found[0].detail


def test_seal_status_rows(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    b.insert(synthetic_events(24))
    seal_windows(b.source, b.store, key, now=START + timedelta(hours=2, minutes=30))
    rows = {r["dataset"]: r for r in seal_status(b.store, b.source)}
    assert set(rows) == set(DATASETS)
    r = rows[DATASETS[0]]
    assert (r["seals"], r["addenda"], r["head_seq"], r["key_ids"], r["problems"]) == (2, 0, 1, [key.key_id], 0)
    assert r["last_window_end"] == "2026-01-05T10:00:00Z" and r["unsealed_events"] > 0


@pytest.mark.elasticsearch
def test_seal_writer_may_only_create(elasticsearch_backend: Backend, es_settings: ClusterSettings,
                                     key: SigningKey) -> None:
    b = elasticsearch_backend
    es, seals_index = b.extra["es"], b.extra["seals_index"]
    prefix = seals_index.removesuffix("siem-pack-seals")  # the test indices are deploy-prefixed names
    assert b.source.name == f"{prefix}logs-siem_pack.*"  # type: ignore[attr-defined]
    name = f"siem-pack-sealer-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    # the role `siem-pack deploy` gives the seal job (schema/roles.yml): create_doc only on seals
    role = role_body(next(r for r in load_roles() if r.job == "seal"), prefix)
    assert [i for i in role["indices"] if seals_index in i["names"] and "create_doc" in i["privileges"]]
    assert not [i for i in role["indices"] if {"index", "write", "delete", "all"} & set(i["privileges"])]
    es.security.put_role(name=name, **role)
    es.security.put_user(username=name, password=password, roles=[name])
    try:
        writer = es_client(ClusterSettings(es_url=es_settings.es_url, user=name, password=password))
        b.insert(synthetic_events(24))
        report = seal_windows(ESEvents(writer, b.source.name), ESSeals(writer, seals_index), key,  # type: ignore[attr-defined]
                              now=NOW)
        assert len(report.sealed) == 6
        record: dict[str, Any] = dict(es.get(index=seals_index, id=report.sealed[0].seal_id)["_source"])
        with pytest.raises(elasticsearch.AuthorizationException):
            writer.index(index=seals_index, id=record["seal_id"], document=record | {"count": 0})
        with pytest.raises(elasticsearch.AuthorizationException):
            writer.delete(index=seals_index, id=record["seal_id"])
        with pytest.raises(elasticsearch.ConflictError):
            writer.create(index=seals_index, id=record["seal_id"], document=record)
        assert verify(b.source, b.store).ok
    finally:
        es.security.delete_user(username=name)
        es.security.delete_role(name=name)


def test_no_private_key_material_reaches_the_stores(duckdb_backend: Backend, key: SigningKey) -> None:
    b = duckdb_backend
    b.insert(synthetic_events(20))
    seal_windows(b.source, b.store, key, now=NOW)
    secret = key.pem().decode().splitlines()[1]
    journal = b.store.journal.read_text()  # type: ignore[attr-defined]
    rows = json.dumps(b.extra["store"].con.execute("SELECT * FROM seals").fetchall(), default=str)
    assert secret not in journal and secret not in rows
    assert os.path.getsize(b.store.journal) > 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [1, 20_000], ids=["query-per-window", "one-query"])
def test_window_leaves_puts_each_event_in_its_own_window(backend: Backend, limit: int) -> None:
    # two windows with a gap between them: in one query the gap's events are fetched and dropped
    edges = [event("edge-1h", START + timedelta(hours=1), DATASETS[0]),  # end of window 0: not in it
             event("edge-2h", START + timedelta(hours=2), DATASETS[0])]  # start of window 1: in it
    docs = synthetic_events(40, hours=3) + edges
    backend.insert(docs)
    windows = [(START, START + timedelta(hours=1)), (START + timedelta(hours=2), START + timedelta(hours=3))]
    got = {i: sorted(keyed) for i, keyed in window_leaves(backend.source, DATASETS[0], windows, [10, 10], limit=limit)}
    entries = [leaf_entry(d) for d in docs if d["event"]["dataset"] == DATASETS[0]]
    want = {i: sorted(k for k in entries if lo <= k[0] < hi) for i, (lo, hi) in enumerate(windows)}
    assert got == want
    assert "edge-2h" in {eid for _, eid, _ in got[1]} and "edge-1h" not in {eid for k in got.values() for _, eid, _ in k}
