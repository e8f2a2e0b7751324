"""Stage 4 (embedded): a dashboard panel → DuckDB SQL → rows. The same spec Kibana renders
as Lens (siem_pack.dashboards.kibana) is aggregated here the way Lens would: top-N terms
ordered by the first metric, date histograms, filters in KQL (translated to SQL by
siem_pack.dashboards.kql). Output goes to siem_pack.report.html.

Tables come from their owners (events, anomalies from ingest and baselines; alerts from
detections; seals from integrity); a panel whose table or columns do not exist yet says so
instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import duckdb

from ..backends.duckdb import quote
from ..dashboards import kql
from ..dashboards.fields import field_types, index_schema
from ..dashboards.spec import INDEXES, Dashboard, Metric, Panel
from ..schema import Schema

Status = Literal["ok", "empty", "no-table", "no-column"]
_INTERVAL = re.compile(r"^([0-9]+)(ms|s|m|h|d|w|M|y)$")
_UNITS = {"ms": "MILLISECOND", "s": "SECOND", "m": "MINUTE", "h": "HOUR", "d": "DAY", "w": "WEEK", "M": "MONTH",
          "y": "YEAR"}


@dataclass
class PanelData:
    panel: Panel
    status: Status
    note: str = ""
    bucket_labels: list[str] = field(default_factory=list)
    metric_labels: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # bucket values..., metric values...

    @property
    def has_data(self) -> bool:
        return self.status == "ok" and bool(self.rows)


class Columns:
    """The columns of the store's tables: name → DuckDB type."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables: dict[str, dict[str, str]] = {}
        for table, column, dtype in con.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall():
            self.tables.setdefault(table, {})[column] = dtype

    def has_table(self, table: str) -> bool:
        return table in self.tables

    def resolve(self, index: str, name: str, json_ok: bool = True) -> tuple[str, bool] | None:
        """(SQL expression, is_list) for a field of the index's table, or None when missing.
        A field without its own column is read from the row's JSON (`doc` or `record`) when
        `json_ok` (aggregations), never for filters (the KQL compiler reads columns)."""
        spec = INDEXES[index]
        cols = self.tables.get(spec.table, {})
        for rf in spec.runtime_fields:
            if rf.name == name:
                needed = re.findall(r'"([^"]+)"', rf.sql)
                return (f"({rf.sql})", False) if all(n in cols for n in needed) else None
        for cand in (name, name.rpartition(".")[0]):  # a multi-field queries its parent column
            if cand in cols:
                return quote(cand), cols[cand].endswith("[]")
        ftype = field_types(index).get(name)
        doc_col = next((c for c in ("doc", "record") if cols.get(c) == "JSON"), None)
        if not json_ok or ftype is None or doc_col is None:
            return None
        nested = "$." + ".".join(f'"{p}"' for p in name.split("."))
        text = f"coalesce(json_extract_string({quote(doc_col)}, '$.\"{name}\"'), " \
               f"json_extract_string({quote(doc_col)}, '{nested}'))"
        sql_type = {"long": "BIGINT", "integer": "BIGINT", "double": "DOUBLE", "float": "DOUBLE", "date": "TIMESTAMP",
                    "boolean": "BOOLEAN"}.get(ftype)
        return (f"TRY_CAST({text} AS {sql_type})" if sql_type else text), False


def interval_sql(interval: str) -> str:
    m = _INTERVAL.match(interval or "")
    if not m:
        return "INTERVAL 1 HOUR"  # auto
    return f"INTERVAL {int(m.group(1))} {_UNITS[m.group(2)]}"


def _metric_sql(m: Metric, col: Any, schema: Schema, params: list[Any]) -> str:
    if m.op == "count":
        return "count(*)"
    if m.op == "rate":
        cond = kql.to_sql(kql.parse(m.where or ""), schema, params)
        return f"avg(CASE WHEN coalesce({cond}, FALSE) THEN 1.0 ELSE 0.0 END)"
    expr, _ = col(m.field)
    if m.op == "unique_count":
        return f"count(DISTINCT {expr})"
    return f"{m.op}({expr})"


def panel_data(con: duckdb.DuckDBPyConnection, columns: Columns, panel: Panel,
               extra_where: tuple[str, list[Any]] | None = None) -> PanelData:
    """Aggregate one panel over the store. `extra_where` is (SQL, params), e.g. the focus."""
    spec = INDEXES[panel.index]
    data = PanelData(panel=panel, status="ok", bucket_labels=[b.label or b.field for b in panel.buckets],
                     metric_labels=[m.display for m in panel.metrics])
    if not columns.has_table(spec.table):
        data.status = "no-table"
        data.note = "no seals yet" if panel.index == "seals" else f"no data yet: the {spec.table} table does not exist"
        return data
    missing = _missing_columns(columns, panel)
    if missing:
        data.status = "no-column"
        data.note = f"no data yet: {spec.table} has no column {', '.join(sorted(set(missing)))}"
        return data

    def col(name: str | None) -> tuple[str, bool]:
        resolved = columns.resolve(panel.index, name or "")
        assert resolved is not None
        return resolved

    schema = index_schema(panel.index)
    params: list[Any] = []
    where = kql.to_sql(kql.parse(panel.filter), schema, params)
    if extra_where:
        where = f"({where}) AND ({extra_where[0]})"
        params += extra_where[1]
    source, bucket_exprs = _bucket_sql(panel, col, quote(spec.table))
    metric_params: list[Any] = []
    metric_exprs = [_metric_sql(m, col, schema, metric_params) for m in panel.metrics]
    if not panel.buckets:  # one row: the metrics, then the count that tells an empty match
        row = con.execute(f"SELECT {', '.join(metric_exprs)}, count(*) FROM {source} WHERE {where}",
                          metric_params + params).fetchone()
        if not row or not row[-1]:
            data.status, data.note = "empty", "no matching documents"
            return data
        data.rows = [tuple(row[:-1])]
        return data
    non_null = " AND ".join(f"{e} IS NOT NULL" for e in bucket_exprs)
    groups = ", ".join(bucket_exprs)
    sql = (f"SELECT {groups}, {', '.join(metric_exprs)} FROM {source} WHERE ({where}) AND {non_null} "
           f"GROUP BY {groups}")
    rows = con.execute(sql, metric_params + params).fetchall()
    if not rows:
        data.status, data.note = "empty", "no matching documents"
        return data
    data.rows = _top_n(rows, panel, metric_exprs, con, source, where, (metric_params, params), bucket_exprs)
    return data


def _missing_columns(columns: Columns, panel: Panel) -> list[str]:
    """The fields the panel reads (its filters' fields as real columns) the table lacks."""
    filter_fields = kql.fields(kql.parse(panel.filter)) + [f for m in panel.metrics
                                                            for f in kql.fields(kql.parse(m.where or ""))]
    missing = [f for f in panel.fields() if columns.resolve(panel.index, f) is None]
    return missing + [f for f in filter_fields if columns.resolve(panel.index, f, json_ok=False) is None]


def _bucket_sql(panel: Panel, col: Callable[[str | None], tuple[str, bool]], source: str) -> tuple[str, list[str]]:
    """(the FROM source, one SQL expression per bucket): a time bucket, a list field
    unnested in a subquery, or the column."""
    bucket_exprs: list[str] = []
    unnest: list[str] = []
    for i, b in enumerate(panel.buckets):
        expr, is_list = col(b.field)
        if b.interval:
            bucket_exprs.append(f"time_bucket({interval_sql(b.interval)}, {expr})")
        elif is_list:
            unnest.append(f"unnest({expr}) AS __b{i}")
            bucket_exprs.append(f"__b{i}")
        else:
            bucket_exprs.append(expr)
    if unnest:
        source = f"(SELECT *, {', '.join(unnest)} FROM {source}) AS t"
    return source, bucket_exprs


def _top_n(rows: list[tuple[Any, ...]], panel: Panel, metric_exprs: list[str], con: duckdb.DuckDBPyConnection,
           source: str, where: str, params: tuple[list[Any], list[Any]], bucket_exprs: list[str]) -> list[tuple[Any, ...]]:
    """Lens's terms semantics: the top `size` values of the first terms bucket by the first
    metric over the whole set, deeper buckets' top `size` within their parent; a time axis
    keeps every interval, in order."""
    nb = len(panel.buckets)
    time_axis = bool(panel.buckets[0].interval)
    level = 1 if time_axis else 0
    order: dict[Any, int] = {}
    if level < nb:
        expr = bucket_exprs[level]
        by_count = panel.metrics[0].op == "rate"  # as Lens ranks (kibana.py): a formula cannot rank terms
        rank = "count(*)" if by_count else metric_exprs[0]
        # the first metric's own placeholders (a rate's condition) come first, then the filter's
        rank_params = ([] if by_count else params[0][: metric_exprs[0].count("?")]) + params[1]
        top = con.execute(f"SELECT {expr}, {rank} AS m FROM {source} WHERE ({where}) AND {expr} IS NOT NULL "
                          f"GROUP BY {expr} ORDER BY m DESC NULLS LAST, {expr} LIMIT {panel.buckets[level].size}",
                          rank_params).fetchall()
        order = {r[0]: i for i, r in enumerate(top)}
        rows = [r for r in rows if r[level] in order]
    if time_axis:
        rows = _fill_empty_intervals(rows, panel, nb)
        return sorted(rows, key=lambda r: (r[0], order.get(r[1], 0) if nb > 1 else 0))
    rows.sort(key=lambda r: (order[r[0]], _desc(r[nb])))
    for depth in range(1, nb):  # deeper buckets: the first `size` children of each parent
        seen: dict[tuple[Any, ...], set[Any]] = {}
        kept = []
        for r in rows:
            children = seen.setdefault(r[:depth], set())
            if r[depth] in children or len(children) < panel.buckets[depth].size:
                children.add(r[depth])
                kept.append(r)
        rows = kept
    return rows


def _fill_empty_intervals(rows: list[tuple[Any, ...]], panel: Panel, nb: int) -> list[tuple[Any, ...]]:
    """Lens's includeEmptyRows: every interval between the first and the last, zero where a
    count or sum saw nothing (other metrics leave the gap)."""
    m = _INTERVAL.match(panel.buckets[0].interval or "")
    if not rows or not m or m.group(2) in ("M", "y") or panel.metrics[0].op not in ("count", "sum", "unique_count"):
        return rows
    step = timedelta(**{{"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days",
                         "w": "weeks"}[m.group(2)]: int(m.group(1))})
    times = [r[0] for r in rows]
    series = list(dict.fromkeys(r[1] for r in rows)) if nb > 1 else [None]
    have = {(r[0], r[1] if nb > 1 else None) for r in rows}
    t, last = min(times), max(times)
    zeros = (0,) * len(panel.metrics)
    out = list(rows)
    while t <= last and len(out) < 20000:
        for s in series:
            if (t, s) not in have:
                out.append(((t, s) if nb > 1 else (t,)) + zeros)
        t += step
    return out


def _desc(value: Any) -> tuple[int, float]:
    """A sort key putting larger metric values (numbers or timestamps) first, NULLs last."""
    if value is None:
        return (1, 0.0)
    return (0, -(value.timestamp() if hasattr(value, "timestamp") else float(value)))


def pick_focus(con: duckdb.DuckDBPyConnection, columns: Columns, dash: Dashboard) -> Any:
    """The entity a focus dashboard shows: the one with the most alerts, else the most events."""
    if dash.focus is None:
        return None
    for index in ("alerts", "events"):
        resolved = columns.resolve(index, dash.focus.field)
        if resolved is None or resolved[1]:
            continue
        expr = resolved[0]
        row = con.execute(f"SELECT {expr}, count(*) AS n FROM {quote(INDEXES[index].table)} WHERE {expr} IS NOT NULL "
                          f"GROUP BY {expr} ORDER BY n DESC, {expr} LIMIT 1").fetchone()
        if row:
            return row[0]
    return None


def dashboard_data(con: duckdb.DuckDBPyConnection, dash: Dashboard,
                   columns: Columns | None = None) -> tuple[Any, list[PanelData]]:
    """(focus value or None, one PanelData per panel)."""
    columns = columns or Columns(con)
    focus = pick_focus(con, columns, dash)
    out = []
    for panel in dash.panels:
        extra = None
        if dash.focus is not None and focus is not None:
            resolved = columns.resolve(panel.index, dash.focus.field)
            extra = (f"{resolved[0]} = ?", [focus]) if resolved else ("FALSE", [])
        out.append(panel_data(con, columns, panel, extra))
    return focus, out
