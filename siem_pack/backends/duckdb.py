"""Cross-cutting (storage), the embedded port: one DuckDB file (default `./siem-pack.duckdb` or
`SIEM_PACK_DB`).

Every stage on the embedded default reads and writes through a `Store`, as it does through
siem_pack.backends.es on a cluster, with the same four questions:
- `search_all(table, where, params, order=...)`: every document of a query, in order, read
  a page at a time (the `search_all` of the Elasticsearch port);
- `composite(table, keys, aggs, where, params)`: one row per key combination (a composite
  aggregation);
- `count(table, where, params)`;
- `write_docs(table, docs)` for schema documents (create-only by `event.id`) and
  `write_rows(table, rows, on_conflict=...)` for a stage's own records.
Two compilers hand the store one statement of their own: the rule runner's window joins
(siem_pack.detect.runner_duckdb) and the feature frame (siem_pack.baselines.features); they
take `Store.con`.

Tables: `events` (one column per schema field, named by its dotted ECS name, plus the whole
document as JSON in `doc`), `dead_letters`, and the tables later stages own (`alerts`,
`anomalies`, `features`, `seals`, `actions`, `metrics`), each created by its owner through
`ensure_table`.

Events are written create-only by `event.id`: a re-run counts them as already present and
never overwrites evidence.

Memory: every connection caps DuckDB's buffer pool (`SIEM_PACK_DUCKDB_MEMORY_LIMIT`, default
512MB; DuckDB's own default is 80 % of RAM, which it fills with cached table pages) and
spills larger operators to a temporary folder beside the file; `SIEM_PACK_DUCKDB_THREADS`
sets its worker threads (default: DuckDB's, one per core).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

from ..doc import flatten, unflatten
from ..errors import ConfigError
from ..paths import default_db
from ..schema import Field, Schema, load_schema
from ..times import parse_ts, utcnow

MEMORY_LIMIT_ENV = "SIEM_PACK_DUCKDB_MEMORY_LIMIT"
THREADS_ENV = "SIEM_PACK_DUCKDB_THREADS"
DEFAULT_MEMORY_LIMIT = "512MB"
_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)

# tables whose rows are schema documents (one column per schema field, plus `doc`)
DOC_TABLES = ("events", "anomalies")
PAGE_SIZE = 1000  # rows fetched at a time by search_all
DOC_ORDER: tuple[str, ...] = ("@timestamp", "event.id")
OnConflict = Literal["nothing", "replace", "error"]

DEAD_LETTERS_DDL = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id VARCHAR PRIMARY KEY,
    source VARCHAR,
    line BIGINT,
    format VARCHAR,
    reason VARCHAR,
    original VARCHAR,
    recorded_at TIMESTAMP
)"""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A DuckDB file holding every embedded table. Use as a context manager."""

    def __init__(self, path: Path | str | None = None, schema: Schema | None = None, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.schema = schema or load_schema()
        # per-field columns after event.id, in doc_columns order, and where each sits in a row
        self._fields = [f for f in self.schema.fields if f.name != "event.id"]
        self._position = {f.name: i + 1 for i, f in enumerate(self._fields)}
        self._regathered = [(i + 1, f) for i, f in enumerate(self._fields) if f.type in ("geo_point", "flattened")]
        if read_only and not self.path.is_file():
            raise ConfigError(f"no embedded store at {self.path} (run `siem-pack ingest` first)", where="--db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise ConfigError(f"cannot open the DuckDB store: {exc}", where=str(self.path)) from exc
        try:
            for setting, value in duckdb_settings().items():
                self.con.execute(f"SET {setting} = {value}")
        except Exception:
            self.con.close()
            raise
        if not read_only:
            for table in DOC_TABLES:
                self._ensure_doc_table(table)
            self.con.execute(DEAD_LETTERS_DDL)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # -- tables -------------------------------------------------------------
    def _ensure_doc_table(self, table: str) -> None:
        cols = ",\n    ".join(f"{quote(f.name)} {f.duckdb_type}" for f in self.schema.fields if f.name != "event.id")
        self.con.execute(
            f'CREATE TABLE IF NOT EXISTS {table} (\n    "event.id" VARCHAR PRIMARY KEY,\n    {cols},\n    doc JSON\n)'
        )
        existing = {r[0] for r in self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        added = [f.name for f in self.schema.fields if f.name not in existing]
        for f in self.schema.fields:  # the schema grew since the file was made
            if f.name in added:
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(f.name)} {f.duckdb_type}")
        if added and existing:
            self._backfill(table, added)

    def _backfill(self, table: str, names: list[str]) -> None:
        """Fill columns just added to an older table from each row's `doc`, as `event_row`
        would have (the columns must always agree with `doc`: `siem-pack verify` checks it)."""
        import pandas as pd

        rows = self.con.execute(f"SELECT rowid, doc FROM {table}").fetchall()
        if not rows:
            return
        columns = self.doc_columns()
        pick = [i for i, (name, _) in enumerate(columns) if name in names]
        derived = []
        for rowid, doc in rows:
            row = self.event_columns(json.loads(doc))
            derived.append([rowid, *(row[i] for i in pick)])
        frame = pd.DataFrame(derived, columns=["r", *(f"c{i}" for i in pick)], dtype=object)
        sets = ", ".join(f"{quote(columns[i][0])} = CAST(d.c{i} AS {columns[i][1]})" for i in pick)
        self.con.register("_siem_pack_backfill", frame)
        try:
            self.con.execute(f"UPDATE {table} SET {sets} FROM _siem_pack_backfill d WHERE {table}.rowid = d.r")
        finally:
            self.con.unregister("_siem_pack_backfill")

    def doc_columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) of a document table's per-field columns in `event_row` order:
        `event.id` first, then every other schema field (`doc` not included)."""
        return [("event.id", "VARCHAR"), *((f.name, f.duckdb_type) for f in self._fields)]

    def ensure_table(self, ddl: str) -> None:
        self.con.execute(ddl)

    # -- the port ---------------------------------------------------------------
    def count(self, table: str, where: str = "TRUE", params: Sequence[Any] = ()) -> int:
        """How many rows of `table` match `where` (SQL with `?` placeholders for `params`)."""
        rows = self.con.execute(f"SELECT count(*) FROM {quote(table)} WHERE {where}", list(params)).fetchall()
        return int(rows[0][0]) if rows else 0

    def search_all(self, table: str, where: str = "TRUE", params: Sequence[Any] = (), *,
                   order: Sequence[str] = DOC_ORDER, column: str = "doc", limit: int | None = None,
                   page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every matching row's `column` (a JSON document) as a dict, ordered by the `order`
        columns (dotted names, quoted here; none: in no particular order), `page_size` rows
        fetched at a time."""
        by = f" ORDER BY {', '.join(quote(c) for c in order)}" if order else ""
        cap = f" LIMIT {int(limit)}" if limit is not None else ""
        cur = self.con.cursor()
        try:
            cur.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE {where}{by}{cap}", list(params))
            while page := cur.fetchmany(page_size):
                for (doc,) in page:
                    yield json.loads(doc)
        finally:
            cur.close()

    def composite(self, table: str, keys: Sequence[str], aggs: Mapping[str, str], where: str = "TRUE",
                  params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One row per combination of the `keys` columns (dotted names) with each of `aggs`
        (output name → SQL aggregate, e.g. `count(*)`), ordered by the keys: the embedded
        answer to a composite aggregation."""
        cols = [quote(k) for k in keys]
        sel = ", ".join([*cols, *(f"{expr} AS {quote(name)}" for name, expr in aggs.items())])
        group = f" GROUP BY {', '.join(cols)} ORDER BY {', '.join(cols)}" if cols else ""
        cur = self.con.execute(f"SELECT {sel} FROM {quote(table)} WHERE {where}{group}", list(params))
        names = [*keys, *aggs]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def write_rows(self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: OnConflict = "error") -> int:
        """Insert records of a stage's own table (column name → value; every row the same
        columns). `on_conflict`: `error` (create-only: a duplicate key raises), `nothing`
        (keep the stored row) or `replace` (idempotent by key). Returns the rows written."""
        if not rows:
            return 0
        names = list(rows[0])
        marks = ", ".join("?" * len(names))
        verb = "INSERT OR REPLACE INTO" if on_conflict == "replace" else "INSERT INTO"
        tail = " ON CONFLICT DO NOTHING" if on_conflict == "nothing" else ""
        before = self.count(table) if on_conflict == "nothing" else 0  # only then can rows be skipped
        self.con.executemany(f"{verb} {quote(table)} ({', '.join(quote(n) for n in names)}) VALUES ({marks}){tail}",
                             [[r[n] for n in names] for r in rows])
        return len(rows) if on_conflict != "nothing" else self.count(table) - before

    # -- events -------------------------------------------------------------
    def event_row(self, doc: Mapping[str, Any]) -> list[Any]:
        """The row `write_docs` stores: `event_columns(doc)`, then the document as JSON."""
        return [*self.event_columns(doc), json.dumps(doc, sort_keys=True, default=str)]

    def event_columns(self, doc: Mapping[str, Any]) -> list[Any]:
        """The per-field column values of a document, in `doc_columns` order. Only the fields
        the document has are converted; geo points and flattened objects that `flatten` split
        are gathered again."""
        flat = flatten(doc)
        row: list[Any] = [flat.get("event.id")] + [None] * len(self._fields)
        for name, v in flat.items():
            i = self._position.get(name)
            if i is not None and v is not None:
                row[i] = _column_value(v, self._fields[i - 1])
        for i, f in self._regathered:
            if flat.get(f.name) is not None:  # given whole: converted above
                continue
            v = None
            if f.type == "geo_point" and f"{f.name}.lat" in flat:  # flatten() split the point
                v = {"lat": flat[f"{f.name}.lat"], "lon": flat.get(f"{f.name}.lon")}
            elif f.type == "flattened":  # flatten() split the object: gather it again
                sub = {k[len(f.name) + 1:]: x for k, x in flat.items() if k.startswith(f.name + ".")}
                v = unflatten(sub) if sub else None
            if v is not None:
                row[i] = _column_value(v, f)
        return row

    def insert_events(self, docs: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Create-only insert into `events`. Returns (stored, already_present)."""
        return self.write_docs("events", docs)

    def write_docs(self, table: str, docs: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Create-only insert of schema documents (`events` or `anomalies`) keyed by event.id.
        Returns (stored, already_present). One bulk INSERT … SELECT per call."""
        import pandas as pd

        if table not in DOC_TABLES:
            raise ValueError(f"{table} is not a document table; known: {', '.join(DOC_TABLES)}")
        rows: list[list[Any]] = []
        seen: set[Any] = set()
        total = 0
        for d in docs:
            row = self.event_row(d)
            total += 1
            if row[0] in seen:  # the same event twice in one batch: already present
                continue
            seen.add(row[0])
            rows.append(row)
        if not rows:
            return 0, total
        columns = [*self.doc_columns(), ("doc", "JSON")]
        names = [name for name, _ in columns]
        types = [t for _, t in columns]
        frame = pd.DataFrame(rows, columns=[f"c{i}" for i in range(len(names))], dtype=object)
        before = self.count(table)
        self.con.register("_siem_pack_incoming", frame)
        try:
            select = ", ".join(f"CAST(c{i} AS {t})" for i, t in enumerate(types))
            self.con.execute(f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
                             f"SELECT {select} FROM _siem_pack_incoming ON CONFLICT DO NOTHING")
        finally:
            self.con.unregister("_siem_pack_incoming")
        stored = self.count(table) - before
        return stored, total - stored

    # -- dead letters -------------------------------------------------------
    def insert_dead_letters(self, letters: Iterable[Mapping[str, Any]]) -> int:
        rows = [
            (d["id"], d.get("source"), d.get("line"), d.get("format"), d["reason"], d.get("original"),
             utcnow())
            for d in letters
        ]
        if not rows:
            return 0
        before = self.count("dead_letters")
        self.con.executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
        return self.count("dead_letters") - before


def duckdb_settings() -> dict[str, str]:
    """The settings every connection applies (as SQL literals), from the environment."""
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT
    if not _SIZE.fullmatch(limit):
        raise ConfigError(f"bad memory limit {limit!r}: use a size such as 512MB or 2GB", where=MEMORY_LIMIT_ENV)
    out = {"memory_limit": f"'{limit}'"}
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ConfigError(f"bad thread count {threads!r}: use a whole number >= 1", where=THREADS_ENV)
        out["threads"] = str(int(threads))
    return out


def _column_value(v: Any, f: Field) -> Any:
    if f.type == "date":
        return parse_ts(v)
    if f.array:
        return [_scalar(x, f.type) for x in (v if isinstance(v, list) else [v])]
    if isinstance(v, list):  # a list where one value is expected: keep the first
        return _scalar(v[0], f.type) if v else None
    return _scalar(v, f.type)


def _scalar(v: Any, ftype: str) -> Any:
    if ftype == "long":
        return int(v)
    if ftype in ("double", "float"):
        return float(v)
    if ftype == "boolean":
        return bool(v)
    if ftype == "geo_point" and isinstance(v, Mapping):
        return f"{v.get('lat')},{v.get('lon')}"
    if ftype == "flattened":
        return json.dumps(v, sort_keys=True)
    if ftype == "date":
        return parse_ts(v)
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
