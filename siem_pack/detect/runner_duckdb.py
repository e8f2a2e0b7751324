"""Stage 3 on the embedded store: `DuckDBRuleReader`, the rule runner's reader over DuckDB
(the `events` and `anomalies` tables of siem_pack.backends.duckdb), answering schedule.py's
questions in SQL, all windows of a schedule in one statement (a VALUES table of windows
joined to the events). It is one of the two compilers the store hands its connection
(`Store.con`): these window joins are not a plain `search_all` or `composite`.

Its twin is runner_es.py (`ESRuleReader`); tests run every rule's fixtures through both and
compare.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..backends.duckdb import Store, quote
from ..doc import flatten
from ..schema import Schema
from .kuery import Node, to_sql
from .schedule import DocRequest, Group, Key, Where, Window

TS = quote("@timestamp")
ID = quote("event.id")


class DuckDBRuleReader:
    """What schedule.py asks (its `Backend` protocol), answered by the embedded store."""

    name = "duckdb"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.schema: Schema = store.schema

    def _where(self, where: Where, params: list[Any]) -> str:
        parts = [to_sql(q.ast, self.schema, params) for q in where.must]
        parts += [f"NOT COALESCE({to_sql(n, self.schema, params)}, FALSE)" for n in where.must_not]
        return " AND ".join(parts) if parts else "TRUE"

    def _windows(self, windows: Sequence[Window], params: list[Any]) -> str:
        rows = []
        for i, (s, e) in enumerate(windows):
            rows.append("(?, ?::TIMESTAMP, ?::TIMESTAMP)")
            params += [i, s, e]
        return "(VALUES " + ", ".join(rows) + ") AS w(idx, ws, we)"

    def hits(self, table: str, where: Where, start: datetime, end: datetime,
             named: dict[str, Node]) -> list[tuple[dict[str, Any], frozenset[str]]]:
        params: list[Any] = []
        cases = []
        for name, node in named.items():
            cases.append(f"COALESCE({to_sql(node, self.schema, params)}, FALSE) AS {quote(name)}")
        cond = self._where(where, params)
        any_named = " OR ".join(f"COALESCE({to_sql(n, self.schema, params)}, FALSE)" for n in named.values())
        params += [start, end]
        sql = (f"SELECT doc{''.join(', ' + c for c in cases)} FROM {table} WHERE {cond}"
               f"{' AND (' + any_named + ')' if named else ''} AND {TS} >= ? AND {TS} < ? ORDER BY {TS}, {ID}")
        out = []
        names = list(named)
        for row in self.store.con.execute(sql, params).fetchall():
            doc = flatten(json.loads(row[0]))
            out.append((doc, frozenset(n for n, v in zip(names, row[1:], strict=True) if v)))
        return out

    def groups(self, table: str, where: Where, windows: Sequence[Window], fields: Sequence[str],
               min_count: int, cardinality_field: str | None) -> list[list[Group]]:
        params: list[Any] = []
        wins = self._windows(windows, params)
        cond = self._where(where, params)
        cols = [quote(f) for f in fields]
        notnull = "".join(f" AND e.{c} IS NOT NULL" for c in cols)
        card = f"count(DISTINCT e.{quote(cardinality_field)})" if cardinality_field else "NULL"
        sel = "".join(f", e.{c}" for c in cols)
        sql = (f"SELECT w.idx{sel}, count(*), {card}, max(e.{TS}) "
               f"FROM {wins} JOIN {table} e ON e.{TS} >= w.ws AND e.{TS} < w.we "
               f"WHERE {cond}{notnull} GROUP BY w.idx{sel} HAVING count(*) >= {int(min_count)}")
        out: list[list[Group]] = [[] for _ in windows]
        n = len(fields)
        for row in self.store.con.execute(sql, params).fetchall():
            out[row[0]].append(Group(tuple(row[1:1 + n]), int(row[1 + n]),
                                     None if row[2 + n] is None else int(row[2 + n]), row[3 + n]))
        return out

    def terms(self, table: str, where: Where, windows: Sequence[Window],
              fields: Sequence[str]) -> list[dict[Key, datetime]]:
        params: list[Any] = []
        wins = self._windows(windows, params)
        cond = self._where(where, params)
        cols = [quote(f) for f in fields]
        notnull = "".join(f" AND e.{c} IS NOT NULL" for c in cols)
        sel = ", ".join(f"e.{c}" for c in cols)
        sql = (f"SELECT w.idx, {sel}, max(e.{TS}) FROM {wins} JOIN {table} e ON e.{TS} >= w.ws AND e.{TS} < w.we "
               f"WHERE {cond}{notnull} GROUP BY w.idx, {sel}")
        out: list[dict[Key, datetime]] = [{} for _ in windows]
        n = len(fields)
        for row in self.store.con.execute(sql, params).fetchall():
            out[row[0]][tuple(row[1:1 + n])] = row[1 + n]
        return out

    def docs(self, table: str, where: Where, requests: Sequence[DocRequest]) -> list[list[dict[str, Any]]]:
        """One statement per (fields, order, size) shape: a VALUES table of requests joined to
        the events, ranked per request."""
        out: list[list[dict[str, Any]]] = [[] for _ in requests]
        shapes: dict[tuple[tuple[str, ...], bool, int], list[int]] = {}
        for i, req in enumerate(requests):
            shapes.setdefault((req.fields, req.newest, req.size), []).append(i)
        for (fields, newest, size), idxs in shapes.items():
            params: list[Any] = []
            cols = ", ".join(f"k{j}" for j in range(len(fields)))
            row = "(?, ?::TIMESTAMP, ?::TIMESTAMP" + "".join(", ?" for _ in fields) + ")"
            values = []
            for i in idxs:
                values.append(row)
                params += [i, *requests[i].window, *requests[i].key]
            reqs = f"(VALUES {', '.join(values)}) AS r(idx, ws, we{', ' + cols if fields else ''})"
            cond = self._where(where, params)
            on = "".join(f" AND e.{quote(f)} = r.k{j}" for j, f in enumerate(fields))
            order = "DESC" if newest else "ASC"
            sql = (f"SELECT idx, doc FROM (SELECT r.idx, e.doc, row_number() OVER (PARTITION BY r.idx "
                   f"ORDER BY e.{TS} {order}, e.{ID} {order}) AS n FROM {reqs} JOIN {table} e "
                   f"ON e.{TS} >= r.ws AND e.{TS} < r.we{on} WHERE {cond}) WHERE n <= {int(size)} ORDER BY idx, n")
            for idx, doc in self.store.con.execute(sql, params).fetchall():
                out[idx].append(flatten(json.loads(doc)))
        return out
