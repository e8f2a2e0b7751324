"""Cross-cutting (integrity), embedded backend: events from the DuckDB `events` table, and
the seal store: table `seals` plus an append-only journal file next to the database.

Events: the evidence is each row's `doc` (what seals cover); the per-field columns
(`"user.id"`, `"event.outcome"`, ...) that reports, rules and responders read are derived
from it at insert (`Store.event_row`). `DuckDBEvents.self_check` derives them again and
compares every column with what the row holds, so an `UPDATE` of a column alone is named
(`modified_column`: event and column).

Table `seals`: seal_id (PK), kind (window | addendum | key), dataset, seq, window_start,
window_end, key_id, count, sealed_at (key records: published_at) as columns for queries
(the report's Integrity panels), `record` (the whole record but its manifest, JSON) and
`manifest`. Verification reads `record` and `manifest`; the columns are conveniences.

The journal (`<db>.seals.jsonl`) holds one line per seal or key record, in append order;
each line carries the SHA-256 of the line before it (`prev`), so removing, reordering or
editing a line breaks the chain from there on. `self_check` compares journal and table
both ways: a row deleted from the table, a row that differs from its line, a line removed.
The table makes seals queryable (the static report, verify); the journal is what an
attacker with write access to the database file would also have to rewrite consistently.
Input of seals.py / verify.py. The `Store` port (siem_pack.backends.duckdb) reads a window's
events (`search_all`) and writes seal rows (`write_rows`); the column check, the window counts
and the seal reads (record and manifest together) are statements of their own on `Store.con`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ..backends.duckdb import Store, quote
from ..errors import ConfigError
from .keys import PublicKey
from .seals import NO_DATASET, Bucket, Finding, Seal, compact_json, parse_ts_or_none

SEALS_DDL = """
CREATE TABLE IF NOT EXISTS seals (
    seal_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    dataset VARCHAR,
    seq BIGINT,
    window_start TIMESTAMP,
    window_end TIMESTAMP,
    key_id VARCHAR,
    count BIGINT,
    sealed_at TIMESTAMP,
    record JSON NOT NULL,
    manifest VARCHAR
)"""
GENESIS_LINE = "0" * 64
_CHUNK = 20_000  # rows whose columns are derived again at once


def journal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".seals.jsonl")


def head_path(db_path: Path) -> Path:
    """The default head file (head.py) of an embedded store: beside the database."""
    return db_path.with_name(db_path.name + ".seals.head.json")


class DuckDBEvents:
    """`EventSource` over a `Store` table (default `events`)."""

    def __init__(self, store: Store, table: str = "events") -> None:
        self.store = store
        self.table = table
        self.name = f"{store.path}:{table}"

    def buckets(self, window: timedelta) -> list[Bucket]:
        step = int(window.total_seconds() * 1_000_000)
        rows = self.store.con.execute(
            f'SELECT coalesce("event.dataset", ?), (epoch_us("@timestamp") // ?)::BIGINT, count(*) '
            f'FROM {self.table} WHERE "@timestamp" IS NOT NULL GROUP BY 1, 2', [NO_DATASET, step]).fetchall()
        epoch = datetime(1970, 1, 1)
        return [Bucket(ds, epoch + timedelta(microseconds=b * step), int(n)) for ds, b, n in rows]

    def window_events(self, dataset: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Documents decoded one at a time as the caller takes them (`Store.search_all`: a
        cursor of its own, so the connection is free for other queries meanwhile)."""
        where = '"event.dataset" IS NULL' if dataset == NO_DATASET else '"event.dataset" = ?'
        params: list[Any] = [] if dataset == NO_DATASET else [dataset]
        return self.store.search_all(self.table, f'{where} AND "@timestamp" >= ? AND "@timestamp" < ?',
                                     [*params, start, end], order=())  # any order: seals sort their leaves

    def lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        rows = self.store.con.execute(
            f'SELECT "event.id", doc FROM {self.table} WHERE "event.id" IN (SELECT unnest(?::VARCHAR[]))',
            [list(ids)]).fetchall()
        return {eid: json.loads(doc) for eid, doc in rows}

    def self_check(self, start: datetime | None = None, end: datetime | None = None,
                   ids: Sequence[str] | None = None) -> list[Finding]:
        """Every per-field column against the value the row's own `doc` gives (what insert
        stored): one `modified_column` finding per column that differs. The columns compared
        are the schema's fields present in the table, so a field added to the schema is
        covered as soon as it has a column. Rows by `event.id` column (`ids`), else by
        `@timestamp` column (`start`/`end`), else all of them."""
        params: list[Any]
        if ids is not None:
            where, params = '"event.id" IN (SELECT unnest(?::VARCHAR[]))', [list(ids)]
        else:
            conds = (['"@timestamp" >= ?'] if start else []) + (['"@timestamp" < ?'] if end else [])
            where, params = " AND ".join(conds) or "TRUE", [t for t in (start, end) if t]
        present = {r[0] for r in self.store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [self.table]).fetchall()}
        columns = [(i, name, t) for i, (name, t) in enumerate(self.store.doc_columns()) if name in present]
        findings: list[Finding] = []
        last = -1
        while True:
            rows = self.store.con.execute(f"SELECT rowid, doc FROM {self.table} WHERE rowid > ? AND {where} "
                                          f"ORDER BY rowid LIMIT {_CHUNK}", [last, *params]).fetchall()
            if not rows:
                return findings
            last = rows[-1][0]
            findings.extend(self._compare(rows, columns))

    def _compare(self, rows: list[tuple[int, str]], columns: list[tuple[int, str, str]]) -> list[Finding]:
        import pandas as pd

        width = len(self.store.doc_columns())
        derived = [[rowid, *self.store.event_columns(json.loads(doc))] for rowid, doc in rows]
        frame = pd.DataFrame(derived, columns=["r", *(f"c{i}" for i in range(width))], dtype=object)
        diffs = ", ".join(
            f"CASE WHEN CAST(d.c{i} AS {t}) IS DISTINCT FROM e.{quote(name)} THEN "
            f"[{_literal(name)}, CAST(e.{quote(name)} AS VARCHAR), CAST(CAST(d.c{i} AS {t}) AS VARCHAR)] END"
            for i, name, t in columns)
        self.store.con.register("_siem_pack_derived", frame)
        try:
            found = self.store.con.execute(
                f"SELECT r, diffs FROM (SELECT d.r, list_filter([{diffs}], lambda x: x IS NOT NULL) AS diffs "
                f"FROM _siem_pack_derived d JOIN {self.table} e ON e.rowid = d.r) WHERE len(diffs) > 0 "
                "ORDER BY r").fetchall()
        finally:
            self.store.con.unregister("_siem_pack_derived")
        by_rowid = {row[0]: row for row in derived}
        ds = 1 + [name for name, _ in self.store.doc_columns()].index("event.dataset")
        findings = []
        for rowid, diffs in found:
            eid, dataset = str(by_rowid[rowid][1]), by_rowid[rowid][ds]
            for name, stored, should in diffs:
                findings.append(Finding(
                    "modified_column", f"column {name} holds {_shown(stored)}, but the event's doc (the sealed "
                    f"evidence) gives {_shown(should)}", event_id=eid, dataset=dataset or NO_DATASET, column=name))
        return findings


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _shown(value: str | None, limit: int = 60) -> str:
    if value is None:
        return "NULL"
    return repr(value if len(value) <= limit else value[:limit - 3] + "...")


class DuckDBSeals:
    """`SealStore`: the `seals` table and its append-only journal file."""

    def __init__(self, store: Store, journal: Path | None = None) -> None:
        self.store = store
        self.journal = journal or journal_path(store.path)
        self.name = f"{store.path}:seals"
        if not self._has_table():
            try:
                store.ensure_table(SEALS_DDL)
            except duckdb.Error:  # a read-only store without seals: nothing sealed yet
                pass

    def _has_table(self) -> bool:
        row = self.store.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'seals'").fetchone()
        return bool(row and row[0])

    # -- reading ------------------------------------------------------------
    def _rows(self, where: str, params: list[Any], with_manifest: bool) -> list[tuple[dict[str, Any], str | None]]:
        if not self._has_table():
            return []
        col = "manifest" if with_manifest else "NULL"
        rows = self.store.con.execute(f"SELECT record, {col} FROM seals WHERE {where} ORDER BY dataset, seq, seal_id",
                                      params).fetchall()
        return [(json.loads(r), m) for r, m in rows]

    def seals(self, with_manifest: bool = False, ids: Sequence[str] | None = None) -> list[Seal]:
        where, params = "kind <> 'key'", []
        if ids is not None:
            where, params = "kind <> 'key' AND seal_id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)]
        out = []
        for record, manifest in self._rows(where, params, with_manifest):
            if with_manifest:
                record["manifest"] = manifest
            out.append(Seal.from_record(record))
        return out

    def keys(self) -> list[PublicKey]:
        return [PublicKey.from_record(r) for r, _ in self._rows("kind = 'key'", [], False)]

    # -- writing (create-only) -------------------------------------------------
    def append(self, seals: Sequence[Seal]) -> None:
        self._write([s.record(with_manifest=True) for s in seals])

    def publish_key(self, key: PublicKey, published_at: str) -> bool:
        if any(k.key_id == key.key_id for k in self.keys()):
            return False
        self._write([key.record(published_at)])
        return True

    def _write(self, records: list[dict[str, Any]]) -> None:
        con = self.store.con
        con.execute("BEGIN TRANSACTION")
        try:
            self.store.write_rows("seals", [_seal_row(r) for r in records])  # create-only: a taken id raises
            self._journal_append(records)
        except duckdb.ConstraintException as exc:
            con.execute("ROLLBACK")
            raise ConfigError(f"a seal already exists at that position (another seal job ran?): {exc}",
                              where=self.name) from exc
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _journal_append(self, records: list[dict[str, Any]]) -> None:
        n, prev = _journal_tail(self.journal)
        lines = []
        for r in records:
            n += 1
            line = compact_json({"n": n, "prev": prev, "record": r})
            prev = hashlib.sha256(line).hexdigest()
            lines.append(line + b"\n")
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())

    # -- checking -------------------------------------------------------------
    def self_check(self) -> list[Finding]:
        """Journal chain, and journal against table (both ways)."""
        findings: list[Finding] = []
        journal: dict[str, dict[str, Any]] = {}
        if self.journal.is_file():
            prev, expected_n = GENESIS_LINE, 1
            with self.journal.open("rb") as fh:
                for lineno, raw in enumerate(fh, 1):
                    line = raw.rstrip(b"\n")
                    try:
                        entry = json.loads(line)
                        record = entry["record"]
                    except (ValueError, KeyError, TypeError):
                        findings.append(Finding("journal_mismatch", f"{self.journal}:{lineno}: not a journal line"))
                        prev = hashlib.sha256(line).hexdigest()
                        continue
                    sid = str(record.get("seal_id"))
                    if entry.get("n") != expected_n or entry.get("prev") != prev:
                        findings.append(Finding(
                            "journal_mismatch", f"{self.journal}:{lineno}: hash chain broken before this line "
                            f"(line {expected_n} expected, found n={entry.get('n')}): a line was removed, reordered "
                            "or changed", seal_id=sid))
                    prev = hashlib.sha256(line).hexdigest()
                    expected_n = int(entry.get("n", expected_n)) + 1 if isinstance(entry.get("n"), int) else expected_n + 1
                    journal[sid] = record
        table = {r["seal_id"]: (r, m) for r, m in self._rows("TRUE", [], True)}
        for sid, (record, manifest) in table.items():
            full = dict(record)
            if manifest is not None:
                full["manifest"] = manifest
            logged = journal.get(sid)
            if logged is None:
                findings.append(Finding("journal_mismatch", f"seal {sid} is in the table but not in the journal "
                                        f"{self.journal.name}", seal_id=sid, dataset=record.get("dataset")))
            elif logged != full:
                changed = sorted(k for k in set(logged) | set(full) if logged.get(k) != full.get(k))
                findings.append(Finding("journal_mismatch", f"seal {sid} differs between table and journal in "
                                        f"{', '.join(changed)}", seal_id=sid, dataset=record.get("dataset")))
        for sid, record in journal.items():
            if sid not in table:
                findings.append(Finding("missing_seal", f"seal {sid} was deleted from the seals table (still in the "
                                        f"journal {self.journal.name})", seal_id=sid, dataset=record.get("dataset"),
                                        window_start=record.get("window_start")))
        return findings


def _seal_row(r: dict[str, Any]) -> dict[str, Any]:
    """The `seals` row of a seal or key record: its columns, the record but its manifest as
    JSON, and the manifest."""
    body = {k: v for k, v in r.items() if k != "manifest"}
    return {"seal_id": r["seal_id"], "kind": r["kind"], "dataset": r.get("dataset"), "seq": r.get("seq"),
            "window_start": parse_ts_or_none(r.get("window_start")),
            "window_end": parse_ts_or_none(r.get("window_end")), "key_id": r.get("key_id"), "count": r.get("count"),
            "sealed_at": parse_ts_or_none(r.get("sealed_at") or r.get("published_at")),
            "record": json.dumps(body, sort_keys=True), "manifest": r.get("manifest")}


def _journal_tail(path: Path) -> tuple[int, str]:
    """(line count n of the last line, SHA-256 of the last line) without reading the whole file."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0, GENESIS_LINE
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        chunk, pos, data = 1 << 16, size, b""
        while pos > 0:
            pos = max(0, pos - chunk)
            fh.seek(pos)
            data = fh.read(size - pos)
            if data.rstrip(b"\n").count(b"\n") >= 1 or pos == 0:
                break
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        n = int(json.loads(last)["n"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("the seal journal's last line is unreadable; run `siem-pack verify`", where=str(path)) from exc
    return n, hashlib.sha256(last).hexdigest()
