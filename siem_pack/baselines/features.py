"""Stage 3, step 1: ECS events → a feature frame, one row per (identity, model, window).

Input: the DuckDB `events` table (siem_pack.backends.duckdb) or the `logs-siem_pack.*` indices. The
aggregation runs in the engine either way: DuckDB SQL (`features_duckdb`) or Elasticsearch
composite aggregations paged with `after_key` (`features_es`); no raw event ever reaches
Python, so memory grows with rows, not events. Both return the same *base frame*; `derive`
then adds what needs the identity's history or the inventory (first-seen model, new
countries, local hour and distance from usual hours, distinct models and restricted share
per identity and window). Output goes to estimator.py.

Equality of the two paths (tests/baselines/test_features.py): counts, sums and
maxima are exact. p95 uses DuckDB's `quantile_cont` (linear interpolation), which is what
Elasticsearch's t-digest returns while a bucket holds few values (exact below roughly the
compression, 100 values); above that t-digest is an approximation (stated tolerance: 1 %
relative). Distinct counts use `precision_threshold` 1000, below which HyperLogLog++ counts
exactly (linear counting) at our cardinalities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml

from ..backends import es
from ..backends.duckdb import Store
from ..errors import ConfigError, InputError
from ..times import format_ts, parse_duration, parse_ts

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

KEYS = ["user.id", "gen_ai.request.model", "siem_pack.model.tier", "window_start"]

# engine aggregates: name -> (kind, source field, argument); one table for SQL and ES
AGGREGATES: dict[str, tuple[str, str | None, str | None]] = {
    "requests": ("count", None, None),
    "operations": ("distinct", "gen_ai.operation.name", None),
    "input_tokens_sum": ("sum", "gen_ai.usage.input_tokens", None),
    "input_tokens_max": ("max", "gen_ai.usage.input_tokens", None),
    "input_tokens_p95": ("p95", "gen_ai.usage.input_tokens", None),
    "output_tokens_sum": ("sum", "gen_ai.usage.output_tokens", None),
    "output_tokens_max": ("max", "gen_ai.usage.output_tokens", None),
    "output_tokens_p95": ("p95", "gen_ai.usage.output_tokens", None),
    "request_bytes": ("sum", "siem_pack.request.bytes", None),
    "response_bytes": ("sum", "siem_pack.response.bytes", None),
    "response_bytes_max": ("max", "siem_pack.response.bytes", None),
    "errors": ("count_if", "event.outcome", "failure"),
    "denied": ("count_if", "siem_pack.policy.verdict", "noncompliant"),
    "source_ips": ("distinct", "source.ip", None),
    "countries": ("distinct", "source.geo.country_iso_code", None),
    "user_agents": ("distinct", "user_agent.original", None),
    "client_versions": ("distinct", "siem_pack.client.version", None),
}
COUNTRY_FIELD = "source.geo.country_iso_code"
COUNTRY_LIST = "country_list"  # the window's countries, sorted (for first-seen countries)
NETWORK_FIELD = "source.as.number"
NETWORK_LIST = "network_list"  # the window's networks (AS numbers, as text), sorted (first-seen networks)
# list columns of the base frame: column -> the field whose distinct values it holds (at most
# LIST_SIZE a window)
LISTS = {COUNTRY_LIST: COUNTRY_FIELD, NETWORK_LIST: NETWORK_FIELD}
LIST_SIZE = 100
BASE_COLUMNS = [*KEYS, *AGGREGATES, *LISTS]
DERIVED = ["first_seen_model", "granted", "new_countries", "new_networks", "local_hour", "hour_distance",
           "identity_models", "restricted_share"]
# HyperLogLog++ counts exactly (linear counting over 64-bit hashes) below this; distinct IPs,
# countries, agents or versions per (identity, model, window) stay far below it. Higher values
# cost memory per bucket (the maximum, 40000, trips the circuit breaker at 1000 buckets a page).
PRECISION_THRESHOLD = 1000
RESTRICTED = "restricted"


@dataclass(frozen=True)
class FeatureFrameSpec:
    """What to aggregate: the time range [start, end) and the window length in seconds."""

    start: datetime
    end: datetime
    window_seconds: int = 3600

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _naive_utc(self.start))
        object.__setattr__(self, "end", _naive_utc(self.end))
        if self.window_seconds < 60 or self.window_seconds % 60:
            raise ConfigError(f"window must be a whole number of minutes, got {self.window_seconds}s", where="--window")
        if self.end <= self.start:
            raise ConfigError(f"empty time range: {self.start.isoformat()} .. {self.end.isoformat()}", where="--start/--end")

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000


def parse_window(text: str) -> int:
    """'1h', '30m', '1d', '3600s' or '3600' → seconds."""
    window = parse_duration(text, bare=True, where="--window", message="bad window {text!r}: use e.g. 1h, 30m, 1d")
    return int(window.total_seconds())


# -- identity context (inventory) ---------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    """A dated grant: `user_id` may use `model` from `start` to `end` (exclusive)."""

    user_id: str
    model: str
    start: datetime
    end: datetime | None = None

    def covers(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


@dataclass(frozen=True)
class IdentityContext:
    """What the inventory knows about identities: time zones, teams and grants."""

    timezones: Mapping[str, str] = field(default_factory=dict)
    teams: Mapping[str, str] = field(default_factory=dict)
    grants: tuple[Grant, ...] = ()

    @classmethod
    def from_file(cls, path: Path) -> IdentityContext:
        """A YAML file: `identities: {id: {time_zone: Europe/Paris, team: finance}}` and
        `grants: [{user: id, model: m, start: ISO, end: ISO}]`."""
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the identity context: {exc}", where=str(path)) from exc
        ids = raw.get("identities") or {}
        grants = tuple(
            Grant(str(g["user"]), str(g["model"]), _naive_utc(g["start"]), _naive_utc(g["end"]) if g.get("end") else None)
            for g in raw.get("grants") or []
        )
        ctx = cls(timezones={k: str(v["time_zone"]) for k, v in ids.items() if v and v.get("time_zone")},
                  teams={k: str(v["team"]) for k, v in ids.items() if v and v.get("team")}, grants=grants)
        ctx.check(str(path))
        return ctx

    @classmethod
    def from_inventory(cls, folder: Path | None = None) -> IdentityContext:
        """From `siem_pack.inventory`: each identity's time zone, its first group as team, and
        every grant or approval expanded to (identity, model name) pairs."""
        from ..inventory import load_inventory

        inv = load_inventory(folder)
        timezones = {i.id: i.time_zone for i in inv.identities if i.time_zone}
        teams = {i.id: i.groups[0] for i in inv.identities if i.groups}
        names = {m.id: {m.id, *m.names} for m in inv.models}
        grants = []
        for g in inv.grants:
            who = set(g.identities) | {i.id for i in inv.identities if set(i.groups) & set(g.groups)}
            for uid in sorted(who):
                for mid in g.models:
                    for name in sorted(names.get(mid, {mid})):
                        grants.append(Grant(uid, name, _naive_utc(g.start), _naive_utc(g.expiry) if g.expiry else None))
        return cls(timezones=timezones, teams=teams, grants=tuple(grants))

    def check(self, where: str) -> None:
        for uid, tz in self.timezones.items():
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(f"identity {uid!r}: unknown time zone {tz!r}", where=where) from exc


# -- DuckDB -------------------------------------------------------------------------------------
def _sql_select() -> str:
    parts = []
    for name, (kind, fld, arg) in AGGREGATES.items():
        col = f'"{fld}"' if fld else ""
        expr = {
            "count": "count(*)",
            "distinct": f"count(DISTINCT {col})",
            "sum": f"coalesce(sum({col}), 0)",
            "max": f"coalesce(max({col}), 0)",
            "p95": f"coalesce(quantile_cont({col}, 0.95), 0)",
            "count_if": f"count(*) FILTER (WHERE {col} = '{arg}')",
        }[kind]
        parts.append(f"{expr} AS {name}")
    for col, fld in LISTS.items():
        parts.append(f'list_sort(list(DISTINCT "{fld}") FILTER (WHERE "{fld}" IS NOT NULL)) AS {col}')
    return ",\n       ".join(parts)


def features_duckdb(store: Store, spec: FeatureFrameSpec, table: str = "events",
                    chunk_seconds: int = 2 * 86400) -> pd.DataFrame:
    """The base frame from DuckDB SQL over `table` (attributed events only). The range is
    aggregated in chunks of whole windows (about `chunk_seconds` each), so DuckDB's memory
    follows one chunk's events rather than the whole range; results are exact (every window
    falls in one chunk)."""
    frames = [f for f in (_duckdb_chunk(store, chunk, table) for chunk in _chunks(spec, chunk_seconds)) if not f.empty]
    if not frames:
        return _finish(pd.DataFrame(columns=["user.id", "gen_ai.request.model", "siem_pack.model.tier", "window_ms",
                                             *AGGREGATES, *LISTS]))
    return _finish(pd.concat(frames, ignore_index=True))


def _chunks(spec: FeatureFrameSpec, chunk_seconds: int) -> Iterator[FeatureFrameSpec]:
    """[start, end) in pieces of about `chunk_seconds`, cut on window edges (no window is split)."""
    step = timedelta(seconds=max(1, chunk_seconds // spec.window_seconds) * spec.window_seconds)
    epoch, window = datetime(1970, 1, 1), timedelta(seconds=spec.window_seconds)
    lo = spec.start
    while lo < spec.end:
        hi = min(epoch + (lo - epoch) // window * window + step, spec.end)
        yield FeatureFrameSpec(lo, hi, spec.window_seconds)
        lo = hi


def _duckdb_chunk(store: Store, spec: FeatureFrameSpec, table: str) -> pd.DataFrame:
    sql = f"""
SELECT "user.id", "gen_ai.request.model", "siem_pack.model.tier",
       (epoch_ms("@timestamp") // {spec.window_ms}) * {spec.window_ms} AS window_ms,
       {_sql_select()}
FROM {table}
WHERE "@timestamp" >= ? AND "@timestamp" < ? AND "user.id" IS NOT NULL AND "gen_ai.request.model" IS NOT NULL
GROUP BY ALL
"""
    return store.con.execute(sql, [spec.start, spec.end]).df()


# -- Elasticsearch ------------------------------------------------------------------------------
def es_sources(spec: FeatureFrameSpec) -> list[dict[str, Any]]:
    """The composite aggregation's sources: the base frame's keys, the window last."""
    return [
        {"user.id": {"terms": {"field": "user.id"}}},
        {"gen_ai.request.model": {"terms": {"field": "gen_ai.request.model"}}},
        {"siem_pack.model.tier": {"terms": {"field": "siem_pack.model.tier", "missing_bucket": True}}},
        {"window_ms": {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{spec.window_seconds}s"}}},
    ]


def es_aggregations() -> dict[str, Any]:
    """The sub-aggregations of each composite bucket, one per aggregate and list column."""
    sub: dict[str, Any] = {}
    for name, (kind, fld, arg) in AGGREGATES.items():
        if kind == "count":
            continue
        if kind == "distinct":
            sub[name] = {"cardinality": {"field": fld, "precision_threshold": PRECISION_THRESHOLD}}
        elif kind in ("sum", "max"):
            sub[name] = {kind: {"field": fld}}
        elif kind == "p95":
            sub[name] = {"percentiles": {"field": fld, "percents": [95], "keyed": False}}
        elif kind == "count_if":
            sub[name] = {"filter": {"term": {fld: arg}}}
    for col, fld in LISTS.items():
        sub[col] = {"terms": {"field": fld, "size": LIST_SIZE, "order": {"_key": "asc"}}}
    return sub


def es_pages(client: Elasticsearch, index: str, spec: FeatureFrameSpec, page_size: int = 1000,
             on_page: Callable[[Mapping[str, Any]], None] | None = None) -> Iterator[dict[str, Any]]:
    """Composite buckets of [start, end), page by page through `after_key`
    (siem_pack.backends.es.composite_all; the request cache off, so a benchmark measures
    the node's work). `on_page` sees each raw response (the benchmark reads `took`)."""
    query = {"range": {"@timestamp": {"gte": format_ts(spec.start), "lt": format_ts(spec.end),
                                      "format": "strict_date_optional_time"}}}
    return es.composite_all(client, index, query, es_sources(spec), es_aggregations(), page_size=page_size,
                            on_page=on_page, request_cache=False)


def _es_row(b: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict(b["key"])
    for name, (kind, _fld, _arg) in AGGREGATES.items():
        if kind == "count":
            row[name] = b["doc_count"]
        elif kind == "count_if":
            row[name] = b[name]["doc_count"]
        elif kind == "p95":
            vals = b[name]["values"]
            row[name] = vals[0]["value"] if vals and vals[0]["value"] is not None else 0
        else:
            v = b[name]["value"]
            row[name] = v if v is not None else 0
    for col, fld in LISTS.items():
        terms = b[col]
        if terms.get("sum_other_doc_count"):
            raise InputError(f"more than {LIST_SIZE} distinct {fld} in one window: raise LIST_SIZE",
                             where="features_es")
        row[col] = [c["key"] for c in terms["buckets"]]
    return row


def features_es(client: Elasticsearch, index: str, spec: FeatureFrameSpec, page_size: int = 1000,
                on_page: Callable[[Mapping[str, Any]], None] | None = None,
                chunk_seconds: int = 2 * 86400) -> pd.DataFrame:
    """The base frame from Elasticsearch composite aggregations over `index` (a pattern).
    Each page of a composite aggregation visits every document its query matches, so the
    range is split into chunks of whole windows (as in DuckDB) and paged within each: cost
    grows with events, not with events × pages."""
    rows = [_es_row(b) for chunk in _chunks(spec, chunk_seconds)
            for b in es_pages(client, index, chunk, page_size, on_page)]
    df = pd.DataFrame(rows, columns=["user.id", "gen_ai.request.model", "siem_pack.model.tier", "window_ms",
                                     *AGGREGATES, *LISTS])
    return _finish(df)


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    """One shape for both paths: typed columns, sorted rows, tier 'unknown' when missing."""
    out = pd.DataFrame({
        "user.id": df["user.id"].astype(str),
        "gen_ai.request.model": df["gen_ai.request.model"].astype(str),
        "siem_pack.model.tier": df["siem_pack.model.tier"].where(df["siem_pack.model.tier"].notna(), "unknown")
        .astype(str),
        "window_start": pd.to_datetime(df["window_ms"].astype("int64"), unit="ms"),
    })
    for name, (kind, _f, _a) in AGGREGATES.items():
        col = pd.to_numeric(df[name])
        out[name] = col.astype("float64") if kind == "p95" else col.fillna(0).round().astype("int64")
    for col in LISTS:  # as text, in the engines' order (both sort numbers as numbers)
        out[col] = [[str(x) for x in v] if isinstance(v, (list, tuple, np.ndarray)) else [] for v in df[col]]
    return out.sort_values(KEYS, kind="mergesort").reset_index(drop=True)


# -- derived features (shared by both paths) ----------------------------------------------------
def derive(base: pd.DataFrame, context: IdentityContext | None = None, usual_share: float = 0.05,
           min_history: int = 24) -> pd.DataFrame:
    """Add the features that need history or the inventory. `base` must hold the identity's
    history (earlier windows) for the flags to mean anything; rows stay in `base`'s order.

    - first_seen_model: the (identity, model) pair's first window, for an identity seen before,
      and no grant covers it;
    - granted: a grant covers the pair at this window;
    - new_countries: countries this identity had never used before this window;
    - new_networks: networks (source.as.number) this identity had never used before this window;
    - local_hour: window start in the identity's time zone (UTC when unknown);
    - hour_distance: circular hours to the nearest usual hour (an hour holding ≥ `usual_share`
      of the identity's earlier active windows; 0 until `min_history` windows are known);
    - identity_models: distinct models the identity used in the window;
    - restricted_share: share of the identity's requests in the window to restricted models.
    """
    ctx = context or IdentityContext()
    df = base.copy()
    uid, model, win = df["user.id"], df["gen_ai.request.model"], df["window_start"]
    if df.empty:
        for name in DERIVED:
            df[name] = pd.Series(dtype="float64")
        return df

    ident_first = df.groupby("user.id")["window_start"].transform("min")
    pair_first = df.groupby(["user.id", "gen_ai.request.model"])["window_start"].transform("min")
    granted = np.zeros(len(df), dtype=bool)
    if ctx.grants:
        by_pair: dict[tuple[str, str], list[Grant]] = {}
        for g in ctx.grants:
            by_pair.setdefault((g.user_id, g.model), []).append(g)
        for i, (u, m, w) in enumerate(zip(uid, model, win, strict=True)):
            gs = by_pair.get((u, m))
            if gs and any(g.covers(w.to_pydatetime()) for g in gs):
                granted[i] = True
    df["granted"] = granted.astype("int64")
    df["first_seen_model"] = ((win == pair_first) & (win > ident_first) & ~granted).astype("int64")

    # per (identity, window): distinct models, restricted share, countries, local hour
    iw = df.groupby(["user.id", "window_start"], sort=True).agg(
        identity_models=("gen_ai.request.model", "nunique"), requests=("requests", "sum"))
    restricted = df["requests"].where(df["siem_pack.model.tier"] == RESTRICTED, 0)
    iw["restricted_share"] = (restricted.groupby([uid, win]).sum() / iw["requests"]).fillna(0.0)
    iw = iw.reset_index()
    iw["local_hour"] = _local_hours(iw, ctx.timezones)
    iw["hour_distance"] = _hour_distance(iw, usual_share, min_history)
    iw["new_countries"] = _first_seen(df, COUNTRY_LIST)
    iw["new_networks"] = _first_seen(df, NETWORK_LIST) if NETWORK_LIST in df else 0
    cols = ["identity_models", "restricted_share", "local_hour", "hour_distance", "new_countries", "new_networks"]
    merged = df[["user.id", "window_start"]].merge(iw[["user.id", "window_start", *cols]], how="left",
                                                   on=["user.id", "window_start"])
    for c in cols:
        df[c] = merged[c].to_numpy()
    return df


def _local_hours(iw: pd.DataFrame, timezones: Mapping[str, str]) -> np.ndarray:
    hours = iw["window_start"].dt.hour.to_numpy().copy()
    for uid, idx in iw.groupby("user.id").indices.items():
        tz = timezones.get(str(uid))
        if tz and tz != "UTC":
            local = iw["window_start"].iloc[idx].dt.tz_localize("UTC").dt.tz_convert(tz)
            hours[idx] = local.dt.hour.to_numpy()
    out: np.ndarray = hours
    return out


def _hour_distance(iw: pd.DataFrame, usual_share: float, min_history: int) -> np.ndarray:
    """Rows of `iw` are sorted by (identity, window): cumulative hour histograms per identity."""
    h = iw["local_hour"].to_numpy()
    onehot = np.zeros((len(iw), 24))
    onehot[np.arange(len(iw)), h] = 1.0
    codes = iw.groupby("user.id", sort=False).ngroup().to_numpy()
    cum = pd.DataFrame(onehot).groupby(codes).cumsum().to_numpy() - onehot  # earlier windows only
    total = cum.sum(axis=1)
    usual = cum >= usual_share * np.maximum(total, 1)[:, None]
    usual &= cum > 0
    hours = np.arange(24)
    dist = np.abs(h[:, None] - hours[None, :])
    dist = np.minimum(dist, 24 - dist).astype(float)
    dist[~usual] = np.inf
    out: np.ndarray = dist.min(axis=1)
    out[(total < min_history) | ~np.isfinite(out)] = 0.0
    return out


def _first_seen(df: pd.DataFrame, column: str) -> np.ndarray:
    """Per (identity, window), sorted like the grouped frame: values of the list `column`
    (countries, networks) the identity first used then (not in its first window)."""
    ex = df[["user.id", "window_start", column]].explode(column).dropna(subset=[column])
    iw_index = pd.MultiIndex.from_frame(df[["user.id", "window_start"]].drop_duplicates().sort_values(
        ["user.id", "window_start"]))
    if ex.empty:
        return np.zeros(len(iw_index))
    ident_first = df.groupby("user.id")["window_start"].min()
    first = ex.groupby(["user.id", column])["window_start"].min().reset_index()
    first = first[first["window_start"].to_numpy() > ident_first.reindex(first["user.id"]).to_numpy()]
    counts = first.groupby(["user.id", "window_start"]).size()
    out: np.ndarray = counts.reindex(iw_index, fill_value=0).to_numpy()
    return out


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, p95_rtol: float = 0.01) -> list[str]:
    """Differences between two base frames (empty when equal): exact for everything except
    p95 columns, which may differ by `p95_rtol` relative."""
    problems: list[str] = []
    if len(a) != len(b):
        problems.append(f"row count {len(a)} != {len(b)}")
        return problems
    for col in BASE_COLUMNS:
        x, y = a[col], b[col]
        if col in LISTS:
            bad = [i for i, (p, q) in enumerate(zip(x, y, strict=True)) if list(p) != list(q)]
        elif col.endswith("_p95"):
            bad = list(np.flatnonzero(~np.isclose(x.to_numpy(), y.to_numpy(), rtol=p95_rtol, atol=1e-9)))
        else:
            bad = list(np.flatnonzero((x != y).to_numpy()))
        if bad:
            i = bad[0]
            problems.append(f"{col}: {len(bad)} row(s) differ, first at {tuple(a.loc[i, KEYS])}: {x.iloc[i]!r} != {y.iloc[i]!r}")
    return problems


def _naive_utc(value: Any) -> datetime:
    dt = parse_ts(value)
    if dt is None:
        raise ConfigError("missing time", where="--start/--end")
    return dt

