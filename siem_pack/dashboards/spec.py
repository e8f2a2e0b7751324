"""Stage 4: the compact dashboard spec (`dashboards/<id>.yml`), loaded once into frozen
dataclasses with every problem collected. Renderers: siem_pack.dashboards.kibana (Kibana
saved objects) and siem_pack.report (the offline HTML report). Some specs are rendered from
Jinja2 templates in `dashboards/templates/` with thresholds learnt by the baselines job
(`render_templates`).

A spec, in short (docs/dashboards.md has the whole form):

    id: overview
    title: Overview
    panels:
      - id: by-model
        title: Interactions by model
        kind: bar                       # metric | bar | line | area | table | pie
        index: events                   # events | anomalies | alerts | seals | metrics
        filter: 'event.outcome : "failure"'   # KQL, optional
        metrics: [{op: count}]          # count | sum | avg | min | max | unique_count | rate
        buckets: [{field: gen_ai.request.model, size: 10}]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import jinja2
import yaml

from ..backends.indices import ALERTS_INDEX, ANOMALIES_INDEX, EVENTS_PATTERN, METRICS_INDEX, SEALS_INDEX
from ..errors import ContentError, SiemPackError, collect
from ..paths import content_dir

ChartKind = Literal["metric", "bar", "line", "area", "table", "pie"]
IndexKey = Literal["events", "anomalies", "alerts", "seals", "metrics"]
MetricOp = Literal["count", "sum", "avg", "min", "max", "unique_count", "rate"]
CHART_KINDS: tuple[str, ...] = ChartKind.__args__  # type: ignore[attr-defined]
INDEX_KEYS: tuple[str, ...] = IndexKey.__args__  # type: ignore[attr-defined]
METRIC_OPS: tuple[str, ...] = MetricOp.__args__  # type: ignore[attr-defined]
StatusTable = Literal["seal_chains"]  # report-only tables (siem_pack.report.status.STATUS_TABLES)
STATUS_TABLES: tuple[str, ...] = StatusTable.__args__  # type: ignore[attr-defined]
TIME_KINDS = ("line", "area")
GRID_COLUMNS = 48  # Kibana's dashboard grid is 48 columns wide


@dataclass(frozen=True)
class RuntimeField:
    """A field computed at query time: painless on a Kibana data view, SQL in the report."""

    name: str
    type: Literal["double", "long", "keyword"]
    painless: str
    sql: str


@dataclass(frozen=True)
class IndexSpec:
    """One data source: its Elasticsearch pattern (a Kibana data view) and its DuckDB table."""

    key: str
    pattern: str
    table: str
    time_field: str
    data_view_id: str
    name: str
    runtime_fields: tuple[RuntimeField, ...] = ()


# The vocabulary of `index:` in a spec (DESIGN.md, shared contracts). A data view's id is its
# index's name (the events' view: siem-pack-events).
INDEXES: dict[str, IndexSpec] = {
    "events": IndexSpec("events", EVENTS_PATTERN, "events", "@timestamp", "siem-pack-events",
                        "siem-pack events"),
    "anomalies": IndexSpec("anomalies", ANOMALIES_INDEX, "anomalies", "@timestamp", ANOMALIES_INDEX,
                           "siem-pack anomalies"),
    "alerts": IndexSpec(
        "alerts", ALERTS_INDEX, "alerts", "@timestamp", ALERTS_INDEX, "siem-pack alerts",
        runtime_fields=(RuntimeField(
            name="siem_pack.alert.detection_delay_seconds", type="double",
            painless=("if (doc['kibana.alert.original_time'].size() > 0 && doc['@timestamp'].size() > 0) { "
                      "emit((doc['@timestamp'].value.toInstant().toEpochMilli() - "
                      "doc['kibana.alert.original_time'].value.toInstant().toEpochMilli()) / 1000.0); }"),
            sql='epoch("@timestamp") - epoch("kibana.alert.original_time")'),),
    ),
    "seals": IndexSpec("seals", SEALS_INDEX, "seals", "window_start", SEALS_INDEX, "siem-pack seals"),
    "metrics": IndexSpec("metrics", METRICS_INDEX, "metrics", "@timestamp", METRICS_INDEX,
                         "siem-pack metrics"),
}


@dataclass(frozen=True)
class Metric:
    op: MetricOp
    field: str | None = None
    label: str = ""
    where: str | None = None  # rate: the KQL the numerator matches (share of documents)

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if self.op == "count":
            return "Count"
        if self.op == "rate":
            return f"Share where {self.where}"
        return f"{self.op.replace('_', ' ').capitalize()} of {self.field}"


@dataclass(frozen=True)
class Bucket:
    field: str
    size: int = 10
    interval: str | None = None  # a date histogram when set (line/area x axis): 1h, 1d, auto
    label: str = ""


@dataclass(frozen=True)
class ReferenceLine:
    value: float
    label: str = ""


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    kind: ChartKind
    index: IndexKey
    metrics: tuple[Metric, ...]
    buckets: tuple[Bucket, ...] = ()
    filter: str = ""
    width: int = 24
    height: int = 12
    reference_lines: tuple[ReferenceLine, ...] = ()
    note: str = ""
    where: str = ""

    def fields(self) -> list[str]:
        """Every field the panel reads (metrics, buckets); KQL fields come from checks."""
        out = [m.field for m in self.metrics if m.field]
        out += [b.field for b in self.buckets]
        return out


@dataclass(frozen=True)
class Focus:
    """Show one entity (the report picks the one with the most alerts, else the most events)."""

    field: str


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    time_from: str = "now-7d"
    time_to: str = "now"
    focus: Focus | None = None
    order: int = 100  # position in the report and the docs (then by id)
    status: tuple[str, ...] = ()  # report-only status tables (siem_pack.report.status.STATUS_TABLES)
    path: str = ""

    @property
    def indexes(self) -> list[str]:
        return sorted({p.index for p in self.panels})


# -- loading ---------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """Records each mapping's line as `__line__` so problems say path:line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_DASHBOARD_KEYS = {"id", "title", "description", "panels", "time_from", "time_to", "focus", "order", "status"}
_PANEL_KEYS = {"id", "title", "kind", "index", "metrics", "buckets", "filter", "width", "height",
               "reference_lines", "note"}


def dashboards_dir() -> Path:
    return content_dir("dashboards")


def load_dashboards(folder: Path | None = None) -> list[Dashboard]:
    """Every `*.yml` spec in the folder, sorted by `order` then id; all problems raised together."""
    folder = folder or dashboards_dir()
    problems: list[SiemPackError] = []
    out: list[Dashboard] = []
    for path in sorted(folder.glob("*.yml")):
        try:
            out.append(load_dashboard(path))
        except SiemPackError as exc:
            problems.extend(getattr(exc, "problems", [exc]))
    if not out and not problems:
        problems.append(ContentError("no dashboard specs (*.yml)", where=str(folder)))
    collect(problems)
    return sorted(out, key=lambda d: (d.order, d.id))


def load_dashboard(path: Path) -> Dashboard:
    try:
        raw = yaml.load(path.read_text(), Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read the dashboard spec: {exc}", where=str(path)) from exc
    return parse_dashboard(raw, str(path))


def parse_dashboard(raw: Any, path: str) -> Dashboard:
    problems: list[SiemPackError] = []

    def bad(msg: str, node: Mapping[str, Any] | None = None) -> None:
        line = node.get("__line__") if isinstance(node, Mapping) else None
        problems.append(ContentError(msg, where=f"{path}:{line}" if line else path))

    if not isinstance(raw, Mapping):
        raise ContentError("a dashboard spec is a mapping with id, title and panels", where=path)
    for key in sorted(set(raw) - _DASHBOARD_KEYS - {"__line__"}):
        bad(f"unknown key {key!r}; known: {', '.join(sorted(_DASHBOARD_KEYS))}", raw)
    dash_id = str(raw.get("id", ""))
    if not dash_id:
        bad("missing id", raw)
    elif Path(path).suffix == ".yml" and Path(path).stem != dash_id:
        bad(f"id {dash_id!r} does not match the file name {Path(path).name!r}", raw)
    if not raw.get("title"):
        bad("missing title", raw)
    focus = None
    if raw.get("focus") is not None:
        f = raw["focus"]
        if not isinstance(f, Mapping) or not f.get("field"):
            bad("focus needs a field (for example {field: user.id})", raw)
        else:
            focus = Focus(field=str(f["field"]))
    status = raw.get("status") or []
    if not isinstance(status, list) or not all(x in STATUS_TABLES for x in status):
        bad(f"status is a list of report status tables; known: {', '.join(STATUS_TABLES)}", raw)
        status = []
    order = raw.get("order", 100)
    if not isinstance(order, int):
        bad("order must be an integer", raw)
        order = 100
    panels: list[Panel] = []
    seen: set[str] = set()
    raw_panels = raw.get("panels")
    if not isinstance(raw_panels, list) or not raw_panels:
        bad("panels must be a non-empty list", raw)
        raw_panels = []
    for rp in raw_panels:
        panel = _parse_panel(rp, path, bad)
        if panel is None:
            continue
        if panel.id in seen:
            bad(f"duplicate panel id {panel.id!r}", rp)
        seen.add(panel.id)
        panels.append(panel)
    collect(problems)
    return Dashboard(id=dash_id, title=str(raw["title"]), description=str(raw.get("description", "")).strip(),
                     panels=tuple(panels), time_from=str(raw.get("time_from", "now-7d")),
                     time_to=str(raw.get("time_to", "now")), focus=focus, order=order,
                     status=tuple(status), path=path)


T = TypeVar("T")
Fail = Callable[[str], None]
ShapeCheck = Callable[[str, list[Metric], list[Bucket], Fail], None]


def _check_metric_panel(kind: str, metrics: list[Metric], buckets: list[Bucket], fail: Fail) -> None:
    if buckets or len(metrics) != 1:
        fail("a metric panel has exactly one metric and no buckets")


def _check_category_panel(kind: str, metrics: list[Metric], buckets: list[Bucket], fail: Fail) -> None:
    if not 1 <= len(buckets) <= 2:
        fail(f"a {kind} panel has one bucket (and optionally a breakdown)")
    if len(metrics) != 1:
        fail(f"a {kind} panel has exactly one metric")


def _check_time_panel(kind: str, metrics: list[Metric], buckets: list[Bucket], fail: Fail) -> None:
    if len(metrics) != 1:
        fail(f"a {kind} panel has exactly one metric")
    if not buckets or not buckets[0].interval or len(buckets) > 2:
        fail(f"a {kind} panel's first bucket is the time axis (with interval), optionally one breakdown")


def _check_table_panel(kind: str, metrics: list[Metric], buckets: list[Bucket], fail: Fail) -> None:
    if not buckets:
        fail("a table panel has at least one row bucket")


@dataclass(frozen=True)
class PanelKind:
    """What a chart kind accepts: its shape rules, whether its first bucket is the time axis,
    whether it draws reference lines."""

    shape: ShapeCheck
    time_axis: bool = False
    reference_lines: bool = False


# The registry: `kind:` in a spec → its rules.
PANEL_KINDS: dict[str, PanelKind] = {
    "metric": PanelKind(_check_metric_panel),
    "bar": PanelKind(_check_category_panel, reference_lines=True),
    "line": PanelKind(_check_time_panel, time_axis=True, reference_lines=True),
    "area": PanelKind(_check_time_panel, time_axis=True, reference_lines=True),
    "table": PanelKind(_check_table_panel),
    "pie": PanelKind(_check_category_panel),
}
_UNKNOWN_KIND = PanelKind(lambda kind, metrics, buckets, fail: None)  # already reported as unknown


def _kind_rules(kind: Any) -> PanelKind:
    return PANEL_KINDS.get(kind, _UNKNOWN_KIND) if isinstance(kind, str) else _UNKNOWN_KIND


def _parse_each(items: Any, parse: Callable[[Any, Fail], T | None], fail: Fail) -> list[T]:
    """Parse every entry of a spec list, keeping the good ones (`parse` reports the bad)."""
    return [x for item in items if (x := parse(item, fail)) is not None]


def _parse_metric(rm: Any, fail: Fail) -> Metric | None:
    if not isinstance(rm, Mapping) or rm.get("op") not in METRIC_OPS:
        fail(f"metric {_clean(rm)!r}: op must be one of {', '.join(METRIC_OPS)}")
        return None
    op = rm["op"]
    if op in ("sum", "avg", "min", "max", "unique_count") and not rm.get("field"):
        fail(f"metric {op} needs a field")
    if op == "rate" and not rm.get("where"):
        fail("metric rate needs where (the KQL its numerator matches)")
    if op == "count" and rm.get("field"):
        fail("metric count takes no field")
    return Metric(op=op, field=rm.get("field"), label=str(rm.get("label", "")), where=rm.get("where"))


def _parse_bucket(rb: Any, fail: Fail) -> Bucket | None:
    if not isinstance(rb, Mapping) or not rb.get("field"):
        fail(f"bucket {_clean(rb)!r}: needs a field")
        return None
    size = rb.get("size", 10)
    if not isinstance(size, int) or not 1 <= size <= 1000:
        fail(f"bucket {rb['field']}: size must be an integer from 1 to 1000")
        size = 10
    return Bucket(field=str(rb["field"]), size=size, interval=rb.get("interval"), label=str(rb.get("label", "")))


def _parse_reference_line(rl: Any, fail: Fail) -> ReferenceLine | None:
    if not isinstance(rl, Mapping) or not isinstance(rl.get("value"), (int, float)):
        fail("reference_lines entries need a numeric value")
        return None
    return ReferenceLine(value=float(rl["value"]), label=str(rl.get("label", "")))


def _check_panel_header(rp: Mapping[str, Any], fail: Fail) -> None:
    for key in sorted(set(rp) - _PANEL_KEYS - {"__line__"}):
        fail(f"unknown key {key!r}; known: {', '.join(sorted(_PANEL_KEYS))}")
    for key in ("id", "title", "kind", "index"):
        if not rp.get(key):
            fail(f"missing {key}")
    kind, index = rp.get("kind"), rp.get("index")
    if kind and kind not in CHART_KINDS:
        fail(f"unknown kind {kind!r}; known: {', '.join(CHART_KINDS)}")
    if index and index not in INDEX_KEYS:
        fail(f"unknown index {index!r}; known: {', '.join(INDEX_KEYS)}")


def _panel_size(rp: Mapping[str, Any], fail: Fail) -> tuple[int, int]:
    width, height = rp.get("width", 24), rp.get("height", 12)
    if not isinstance(width, int) or not 1 <= width <= GRID_COLUMNS:
        fail(f"width must be 1..{GRID_COLUMNS}")
        width = 24
    if not isinstance(height, int) or not 1 <= height <= 60:
        fail("height must be 1..60")
        height = 12
    return width, height


def _parse_panel(rp: Any, path: str, bad: Any) -> Panel | None:
    if not isinstance(rp, Mapping):
        bad(f"a panel is a mapping, got {type(rp).__name__}")
        return None
    ok = True

    def fail(msg: str) -> None:
        nonlocal ok
        ok = False
        bad(f"panel {rp.get('id', '?')!r}: {msg}", rp)

    _check_panel_header(rp, fail)
    kind, index = rp.get("kind"), rp.get("index")
    rules = _kind_rules(kind)
    metrics = _parse_each(rp.get("metrics") or [{"op": "count"}], _parse_metric, fail)
    buckets = _parse_each(rp.get("buckets") or [], _parse_bucket, fail)
    rules.shape(str(kind), metrics, buckets, fail)
    for b in buckets[1:] if rules.time_axis else buckets:
        if b.interval:
            fail(f"bucket {b.field}: interval is only for the time axis of line/area panels")
    width, height = _panel_size(rp, fail)
    refs = _parse_each(rp.get("reference_lines") or [], _parse_reference_line, fail)
    if refs and not rules.reference_lines:
        fail("reference_lines are for line, area and bar panels")
    if not ok:
        return None
    line = rp.get("__line__")
    return Panel(id=str(rp["id"]), title=str(rp["title"]), kind=cast(ChartKind, kind), index=cast(IndexKey, index),
                 metrics=tuple(metrics),
                 buckets=tuple(buckets), filter=str(rp.get("filter") or "").strip(), width=width, height=height,
                 reference_lines=tuple(refs), note=str(rp.get("note", "")).strip(),
                 where=f"{path}:{line}" if line else path)


def _clean(node: Any) -> Any:
    return {k: v for k, v in node.items() if k != "__line__"} if isinstance(node, Mapping) else node


# -- templates ---------------------------------------------------------------
def render_templates(thresholds: Mapping[str, float], out_dir: Path | None = None,
                     template_dir: Path | None = None) -> list[Path]:
    """Render `dashboards/templates/<id>.yml.j2` into `dashboards/<id>.yml` with the thresholds
    the baselines job learnt (population name → risk_score threshold; `default` for the rest).
    Each rendered spec is parsed before it is written, so a bad template never lands.
    Returns the written paths. Used by `jobs refresh-content`."""
    template_dir = template_dir or dashboards_dir() / "templates"
    out_dir = out_dir or dashboards_dir()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)  # noqa: S701 - YAML, not HTML
    values = {str(k): float(v) for k, v in thresholds.items()}
    written: list[Path] = []
    problems: list[SiemPackError] = []
    rendered: list[tuple[Path, str]] = []
    for tpl in sorted(template_dir.glob("*.yml.j2")):
        target = out_dir / tpl.name.removesuffix(".j2")
        try:
            text = env.get_template(tpl.name).render(thresholds=values,
                                                     default_threshold=values.get("default", 70.0))
            parse_dashboard(yaml.load(text, Loader=_LineLoader), str(target))  # noqa: S506
        except (jinja2.TemplateError, yaml.YAMLError) as exc:
            problems.append(ContentError(f"cannot render: {exc}", where=str(tpl)))
            continue
        except SiemPackError as exc:
            problems.extend(getattr(exc, "problems", [exc]))
            continue
        rendered.append((target, text))
    collect(problems)
    for target, text in rendered:
        target.write_text(text)
        written.append(target)
    return written
