"""Stage 4: dashboard specs → Kibana saved objects (data views, dashboards with by-value Lens
panels) and the NDJSON body of `POST /api/saved_objects/_import`, for Kibana 8.19 and 9.x,
with the multipart body that carries it (`multipart_body`, `multipart_parts`).

Neighbours: spec.py (input), checks.py and lens_schema.py (static and contract checks; no
Kibana runs here). `deploy` sends `import_request(...)` to Kibana, in `multipart_body`.

Lens panels are by value: each panel's Lens attributes sit in the dashboard's `panelsJSON`
(`embeddableConfig.attributes`), and their data-view references are lifted into the
dashboard's `references` as `<panelIndex>:indexpattern-datasource-layer-<layerId>`, the form
Kibana itself exports from 8.x on and imports in 8.19 and 9.x (9.x imports 8.x exports: the
next major). Ids are deterministic so a re-import overwrites instead of duplicating.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from .fields import field_types
from .spec import GRID_COLUMNS, INDEXES, Bucket, Dashboard, IndexSpec, Metric, Panel

KibanaVersion = Literal["8.19", "9.x"]
KIBANA_VERSIONS: tuple[str, ...] = KibanaVersion.__args__  # type: ignore[attr-defined]
# the migration stamps we write: older than any 8.19/9.x Kibana knows, so import migrates
# forward (an object stamped newer than the Kibana is refused)
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {"index-pattern": "8.0.0", "dashboard": "8.9.0"}
PANEL_VERSION = {"8.19": "8.19.0", "9.x": "9.0.0"}
_NS = uuid.UUID("6c1f8a52-3d0e-4f4e-9a51-5e1c0de0a1a7")

LENS_DATA_TYPES = {"keyword": "string", "constant_keyword": "string", "wildcard": "string", "ip": "ip",
                   "long": "number", "double": "number", "float": "number", "boolean": "boolean",
                   "date": "date", "match_only_text": "string", "text": "string"}


# spec metric op → Lens operationType where the names differ
LENS_OPERATIONS = {"avg": "average"}


def check_version(version: str) -> KibanaVersion:
    if version not in KIBANA_VERSIONS:
        raise ConfigError(f"unknown Kibana version {version!r}; known: {', '.join(KIBANA_VERSIONS)}",
                          where="--kibana-version")
    return version  # type: ignore[return-value]


def dashboard_id(dash: Dashboard) -> str:
    return f"siem-pack-{dash.id}"


def layer_id(dash: Dashboard, panel: Panel, suffix: str = "data") -> str:
    return str(uuid.uuid5(_NS, f"{dash.id}/{panel.id}/{suffix}"))


# -- Lens columns --------------------------------------------------------------
def _metric_columns(m: Metric, col: str, types: dict[str, str]) -> dict[str, dict[str, Any]]:
    label = m.display
    base: dict[str, Any] = {"label": label, "customLabel": True, "isBucketed": False}
    if m.op == "count":
        return {col: {**base, "dataType": "number", "operationType": "count", "scale": "ratio",
                      "sourceField": "___records___", "params": {"emptyAsNull": True}}}
    if m.op == "rate":
        # the form Lens stores a formula in: the formula column plus its hidden helper columns
        formula = f"count(kql='{_kql_quote(m.where or '')}') / count()"
        x0, x1, x2 = f"{col}X0", f"{col}X1", f"{col}X2"
        return {
            col: {**base, "dataType": "number", "operationType": "formula", "scale": "ratio", "references": [x2],
                  "params": {"formula": formula, "isFormulaBroken": False,
                             "format": {"id": "percent", "params": {"decimals": 1}}}},
            x0: {"label": f"Part of {label}", "customLabel": True, "dataType": "number", "isBucketed": False,
                 "operationType": "count", "scale": "ratio", "sourceField": "___records___",
                 "filter": {"language": "kuery", "query": m.where or ""}, "params": {"emptyAsNull": False}},
            x1: {"label": f"Part of {label}", "customLabel": True, "dataType": "number", "isBucketed": False,
                 "operationType": "count", "scale": "ratio", "sourceField": "___records___",
                 "params": {"emptyAsNull": False}},
            x2: {"label": f"Part of {label}", "customLabel": True, "dataType": "number", "isBucketed": False,
                 "operationType": "math", "scale": "ratio", "references": [x0, x1],
                 "params": {"tinymathAst": {"type": "function", "name": "divide", "args": [x0, x1],
                                            "location": {"min": 0, "max": len(formula)}, "text": formula}}},
        }
    assert m.field is not None
    es_type = types.get(m.field, "keyword")
    data_type = "date" if es_type == "date" and m.op in ("min", "max") else "number"
    return {col: {**base, "dataType": data_type, "operationType": LENS_OPERATIONS.get(m.op, m.op), "sourceField": m.field,
                  "scale": "interval" if data_type == "date" else "ratio",
                  **({"params": {"emptyAsNull": True}} if m.op in ("sum", "avg", "min", "max") else {})}}


def _bucket_column(b: Bucket, order_col: str, types: dict[str, str]) -> dict[str, Any]:
    if b.interval:
        return {"label": b.label or b.field, "customLabel": bool(b.label), "dataType": "date", "isBucketed": True,
                "operationType": "date_histogram", "sourceField": b.field, "scale": "interval",
                "params": {"interval": b.interval, "includeEmptyRows": True, "dropPartials": False}}
    data_type = LENS_DATA_TYPES.get(types.get(b.field, "keyword"), "string")
    return {"label": b.label or f"Top {b.size} values of {b.field}", "customLabel": bool(b.label),
            "dataType": data_type, "isBucketed": True, "operationType": "terms", "sourceField": b.field,
            "scale": "ordinal",
            "params": {"size": b.size, "orderBy": {"type": "column", "columnId": order_col}, "orderDirection": "desc",
                       "otherBucket": True, "missingBucket": False, "parentFormat": {"id": "terms"}}}


def lens_attributes(dash: Dashboard, panel: Panel) -> dict[str, Any]:
    """The Lens attributes of one panel (state, visualizationType, references)."""
    types = field_types(panel.index)
    lid = layer_id(dash, panel)
    index = INDEXES[panel.index]
    metric_cols: dict[str, dict[str, Any]] = {}
    metric_ids: list[str] = []
    for i, m in enumerate(panel.metrics):
        cols = _metric_columns(m, f"m{i}", types)
        metric_cols.update(cols)
        metric_ids.append(f"m{i}")
    bucket_ids = [f"b{i}" for i in range(len(panel.buckets))]
    # terms rank by the first metric; a formula cannot rank terms in Lens, so a rate ranks by its count
    order_col = "m0X1" if panel.metrics[0].op == "rate" else "m0"
    bucket_cols = {bid: _bucket_column(b, order_col, types) for bid, b in zip(bucket_ids, panel.buckets, strict=True)}
    helper_ids = [c for c in metric_cols if c not in metric_ids]
    columns = {**bucket_cols, **metric_cols}
    layers: dict[str, Any] = {lid: {"columns": columns, "columnOrder": bucket_ids + metric_ids + helper_ids,
                                    "incompleteColumns": {}, "sampling": 1}}
    references = [{"type": "index-pattern", "id": index.data_view_id, "name": f"indexpattern-datasource-layer-{lid}"}]
    ref_layer = None
    if panel.reference_lines:
        ref_layer = layer_id(dash, panel, "reference")
        ref_cols = {f"r{i}": {"label": rl.label or f"{rl.value:g}", "customLabel": True, "dataType": "number",
                              "isBucketed": False, "isStaticValue": True, "operationType": "static_value",
                              "scale": "ratio", "references": [], "params": {"value": f"{rl.value:g}"}}
                    for i, rl in enumerate(panel.reference_lines)}
        layers[ref_layer] = {"columns": ref_cols, "columnOrder": list(ref_cols), "incompleteColumns": {},
                             "linkToLayers": []}
        references.append({"type": "index-pattern", "id": index.data_view_id,
                           "name": f"indexpattern-datasource-layer-{ref_layer}"})
    vis_type, visualization = _visualization(panel, lid, bucket_ids, metric_ids, ref_layer)
    return {
        "title": panel.title,
        "description": panel.note,
        "visualizationType": vis_type,
        "type": "lens",
        "references": references,
        "state": {
            "datasourceStates": {"formBased": {"layers": layers}, "textBased": {"layers": {}}},
            "visualization": visualization,
            "query": {"language": "kuery", "query": panel.filter},
            "filters": [],
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }


def _visualization(panel: Panel, lid: str, buckets: list[str], metrics: list[str],
                   ref_layer: str | None) -> tuple[str, dict[str, Any]]:
    if panel.kind == "metric":
        return "lnsMetric", {"layerId": lid, "layerType": "data", "metricAccessor": metrics[0]}
    if panel.kind == "table":
        return "lnsDatatable", {"layerId": lid, "layerType": "data",
                                "columns": [{"columnId": c, "isTransposed": False} for c in buckets + metrics]}
    if panel.kind == "pie":
        return "lnsPie", {"shape": "pie", "layers": [{
            "layerId": lid, "layerType": "data", "primaryGroups": buckets, "metrics": metrics,
            "numberDisplay": "percent", "categoryDisplay": "default", "legendDisplay": "default",
            "nestedLegend": False}]}
    series = {"bar": "bar_stacked", "line": "line", "area": "area_stacked"}[panel.kind]
    layer: dict[str, Any] = {"layerId": lid, "layerType": "data", "seriesType": series, "xAccessor": buckets[0],
                             "accessors": metrics}
    if len(buckets) > 1:
        layer["splitAccessor"] = buckets[1]
    layers = [layer]
    if ref_layer:
        ids = [f"r{i}" for i in range(len(panel.reference_lines))]
        layers.append({"layerId": ref_layer, "layerType": "referenceLine", "accessors": ids,
                       "yConfig": [{"forAccessor": r, "axisMode": "left", "color": "#E7664C", "lineWidth": 2,
                                    "lineStyle": "dashed", "textVisibility": True} for r in ids]})
    return "lnsXY", {"preferredSeriesType": series, "legend": {"isVisible": True, "position": "right"},
                     "valueLabels": "hide", "fittingFunction": "None", "layers": layers}


def _kql_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# -- saved objects -------------------------------------------------------------
def data_view_object(index: IndexSpec) -> dict[str, Any]:
    runtime = {rf.name: {"type": rf.type, "script": {"source": rf.painless}} for rf in index.runtime_fields}
    return {
        "type": "index-pattern",
        "id": index.data_view_id,
        "attributes": {"title": index.pattern, "name": index.name, "timeFieldName": index.time_field,
                       "runtimeFieldMap": json.dumps(runtime, sort_keys=True), "fields": "[]",
                       "fieldFormatMap": "{}", "allowNoIndex": True},
        "references": [],
        "managed": False,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["index-pattern"],
    }


def dashboard_object(dash: Dashboard, version: KibanaVersion) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    references: list[dict[str, str]] = []
    x = y = row_h = 0
    for panel in dash.panels:
        if x + panel.width > GRID_COLUMNS:  # next row
            x, y, row_h = 0, y + row_h, 0
        attrs = lens_attributes(dash, panel)
        pid = panel.id
        panels.append({
            "version": PANEL_VERSION[version],
            "type": "lens",
            "panelIndex": pid,
            "gridData": {"x": x, "y": y, "w": panel.width, "h": panel.height, "i": pid},
            "embeddableConfig": {"attributes": attrs, "enhancements": {}, "hidePanelTitles": False},
            "title": panel.title,
        })
        references += [{**r, "name": f"{pid}:{r['name']}"} for r in attrs["references"]]
        x += panel.width
        row_h = max(row_h, panel.height)
    return {
        "type": "dashboard",
        "id": dashboard_id(dash),
        "attributes": {
            "title": dash.title,
            "description": dash.description,
            "panelsJSON": json.dumps(panels, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "syncCursor": True,
                                       "syncTooltips": False, "hidePanelTitles": False}, sort_keys=True),
            "timeRestore": True,
            "timeFrom": dash.time_from,
            "timeTo": dash.time_to,
            "refreshInterval": {"pause": True, "value": 60000},
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []}, sort_keys=True)},
            "version": 1,
        },
        "references": references,
        "managed": False,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["dashboard"],
    }


def saved_objects(dashboards: Iterable[Dashboard], version: str) -> list[dict[str, Any]]:
    """Data views (those the dashboards use) first, then dashboards: the import order."""
    kversion = check_version(version)
    dashes = list(dashboards)
    used = sorted({p.index for d in dashes for p in d.panels})
    objects = [data_view_object(INDEXES[k]) for k in used]
    objects += [dashboard_object(d, kversion) for d in dashes]
    return objects


def to_ndjson(objects: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects)


@dataclass(frozen=True)
class ImportRequest:
    """`POST [/s/<space>]/api/saved_objects/_import?overwrite=true`, multipart part `file`."""

    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    filename: str
    ndjson: str
    method: str = "POST"

    @property
    def content_type(self) -> str:
        return "multipart/form-data"


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body."""

    filename: str | None
    content_type: str | None
    data: bytes


def multipart_body(name: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """One file part of a multipart/form-data body (an import request's NDJSON, as deploy sends
    it); returns (body, content type)."""
    boundary = "siem-pack-" + hashlib.sha256(data).hexdigest()[:24]
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/ndjson\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def multipart_parts(body: bytes, content_type: str) -> dict[str, Part]:
    """The parts of a multipart/form-data body by name (the inverse of multipart_body; also
    what the contract tests' recording server reads)."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return {}
    boundary = b"--" + m.group(1).encode()
    parts: dict[str, Part] = {}
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if name:
            filename = re.search(rb'filename="([^"]*)"', head)
            ctype = re.search(rb"(?im)^content-type:\s*([^\r\n;]+)", head)
            parts[name.group(1).decode()] = Part(filename.group(1).decode() if filename else None,
                                                 ctype.group(1).decode().strip() if ctype else None,
                                                 data[:-2] if data.endswith(b"\r\n") else data)
    return parts


def import_request(objects: list[dict[str, Any]], space: str = "default", overwrite: bool = True,
                   filename: str = "siem-pack-dashboards.ndjson") -> ImportRequest:
    prefix = "" if space in ("", "default") else f"/s/{space}"
    return ImportRequest(path=f"{prefix}/api/saved_objects/_import", query={"overwrite": overwrite},
                         headers={"kbn-xsrf": "true"}, filename=filename, ndjson=to_ndjson(objects))
