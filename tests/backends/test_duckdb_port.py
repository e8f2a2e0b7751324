"""The embedded port (siem_pack.backends.duckdb.Store) on a real DuckDB file: ordered reads
fetched a page at a time, group-by rows, counts, and the three conflict rules of a stage's
own table; and `connect`, which opens the store a run names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from siem_pack.backends import Store, connect
from siem_pack.errors import ConfigError

TABLE = 'CREATE TABLE IF NOT EXISTS receipts ("r.id" VARCHAR PRIMARY KEY, "@timestamp" TIMESTAMP, who VARCHAR, doc JSON)'


def event(i: int) -> dict[str, Any]:
    return {"@timestamp": f"2026-01-01T00:00:{59 - i % 60:02d}Z", "event": {"id": f"e{i:04d}"},
            "user": {"id": f"u{i % 3}"}, "gen_ai": {"request": {"model": "m"}}}


def test_search_all_reads_in_order_a_page_at_a_time(db_path: Path) -> None:
    with Store(db_path) as store:
        assert store.write_docs("events", [event(i) for i in range(130)]) == (130, 0)
        got = list(store.search_all("events", '"user.id" = ?', ["u1"], page_size=7))
        stamps = [(d["@timestamp"], d["event"]["id"]) for d in got]
        assert stamps == sorted(stamps) and len(got) == len([i for i in range(130) if i % 3 == 1])
        newest = list(store.search_all("events", order=("event.id",), limit=2))
        assert [d["event"]["id"] for d in newest] == ["e0000", "e0001"]
        unordered = store.search_all("events", '"user.id" = ?', ["u1"], order=())  # no ORDER BY at all
        assert sorted(d["event"]["id"] for d in unordered) == sorted(d["event"]["id"] for d in got)
        # a stage may write while it reads: the read has its own cursor and sees the table as
        # it was when the read began
        reader = store.search_all("events", page_size=10)
        next(reader)
        assert store.write_docs("events", [event(500)]) == (1, 0)
        assert len(list(reader)) == 129


def test_composite_and_count(db_path: Path) -> None:
    with Store(db_path) as store:
        store.write_docs("events", [event(i) for i in range(10)])
        rows = store.composite("events", ["user.id"], {"n": "count(*)", "last": 'max("event.id")'})
        assert rows == [{"user.id": "u0", "n": 4, "last": "e0009"}, {"user.id": "u1", "n": 3, "last": "e0007"},
                        {"user.id": "u2", "n": 3, "last": "e0008"}]
        assert store.count("events") == 10
        assert store.count("events", '"user.id" IN (?, ?)', ["u1", "u2"]) == 6


def test_write_rows_conflict_rules(db_path: Path) -> None:
    row = {"r.id": "a", "@timestamp": "2026-01-01 00:00:00", "who": "x", "doc": "{}"}
    with Store(db_path) as store:
        store.ensure_table(TABLE)
        assert store.write_rows("receipts", [row]) == 1
        with pytest.raises(duckdb.ConstraintException):
            store.write_rows("receipts", [row])  # create-only by default
        assert store.write_rows("receipts", [{**row, "who": "y"}], on_conflict="nothing") == 0
        assert store.write_rows("receipts", [{**row, "who": "z"}], on_conflict="replace") == 1
        assert store.con.execute("SELECT who FROM receipts").fetchall() == [("z",)]
        assert store.write_rows("receipts", []) == 0


def test_connect_opens_the_embedded_store(db_path: Path, tmp_path: Path) -> None:
    with connect(None, db_path) as opened:
        assert isinstance(opened, Store) and opened.path == db_path
    with pytest.raises(ConfigError, match="no embedded store"), connect(None, tmp_path / "none.duckdb", read_only=True):
        pass
