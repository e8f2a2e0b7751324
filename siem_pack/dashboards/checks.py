"""Stage 4: static checks over every dashboard and its Kibana rendering, with our own schemas
and model. No Kibana runs here, so these are the whole proof that the objects import:

1. every field a panel reads (metrics, buckets, KQL filters) exists in its index template's
   mapping (fields.py: schema/fields.yml, schema/indices/*.yml) or is a runtime field of its
   data view, with a type the aggregation accepts;
2. every reference between saved objects resolves (dashboard → data view, Lens layer →
   reference, formula column → helper column, accessor → column), ids are unique;
3. each panel's Lens attributes validate against our schema (lens_schema.py);
4. the import request (`POST /api/saved_objects/_import`, kbn-xsrf, overwrite, multipart
   part `file`) and each NDJSON saved object validate against our own model
   (schema/kibana/import_request.yml, saved_object.yml; siem_pack.kibana_schema), and each
   data view is the data view of one of our indices, its time field a date field.

Nothing here reads Kibana's published contracts: the conformance tests check the same
objects against Kibana's OpenAPI specs with tests/support/contracts.py, which sits outside
the package and is never imported by it.

Neighbours: spec.py and kibana.py (what is checked), fields.py (the indices' fields).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .. import kibana_schema
from ..errors import ContentError, SiemPackError
from . import kql
from .fields import field_types
from .kibana import KIBANA_VERSIONS, ImportRequest, import_request, multipart_body, multipart_parts, saved_objects
from .lens_schema import PANEL_SCHEMA
from .spec import INDEXES, Dashboard, Panel

NUMERIC = {"long", "double", "float", "integer", "short", "scaled_float"}


# -- 1. fields ------------------------------------------------------------------
def check_fields(dash: Dashboard) -> list[SiemPackError]:
    problems: list[SiemPackError] = []
    for panel in dash.panels:
        known = field_types(panel.index)
        used = _used_fields(panel, problems)
        messages = [f"{role} {name!r} is not a field of index {panel.index!r} ({INDEXES[panel.index].pattern})"
                    for name, role in used if name not in known]
        messages += _metric_type_problems(panel, known) + _bucket_type_problems(panel, known)
        problems += [ContentError(f"panel {panel.id!r}: {msg}", where=panel.where) for msg in messages]
    return problems


def _used_fields(panel: Panel, problems: list[SiemPackError]) -> list[tuple[str, str]]:
    """(field, role) for every field the panel reads: metrics and buckets, then its KQL
    filters (a filter that does not parse is a problem)."""
    used: list[tuple[str, str]] = [(f, "field") for f in panel.fields()]
    for text in [panel.filter] + [m.where for m in panel.metrics if m.where]:
        try:
            used += [(f, "filter") for f in kql.fields(kql.parse(text or "", where=panel.where))]
        except SiemPackError as exc:
            problems.append(exc)
    return used


def _metric_type_problems(panel: Panel, known: Mapping[str, str]) -> list[str]:
    out = []
    for m in panel.metrics:
        ftype = known.get(m.field or "")
        if m.op in ("sum", "avg") and ftype is not None and ftype not in NUMERIC:
            out.append(f"{m.op} needs a numeric field; {m.field} is {ftype}")
        if m.op in ("min", "max") and ftype is not None and ftype not in NUMERIC | {"date"}:
            out.append(f"{m.op} needs a numeric or date field; {m.field} is {ftype}")
    return out


def _bucket_type_problems(panel: Panel, known: Mapping[str, str]) -> list[str]:
    out = []
    for b in panel.buckets:
        ftype = known.get(b.field)
        if b.interval and ftype is not None and ftype != "date":
            out.append(f"the time axis needs a date field; {b.field} is {ftype}")
        if not b.interval and ftype in ("flattened", "geo_point", "match_only_text", "text"):
            out.append(f"cannot bucket by {b.field} ({ftype})")
    return out


# -- 2 and 3. references and Lens structure ---------------------------------------
def check_objects(objects: list[dict[str, Any]], where: str = "saved objects") -> list[SiemPackError]:
    import jsonschema

    problems: list[SiemPackError] = []
    by_key = {}
    for o in objects:
        key = (o.get("type"), o.get("id"))
        if key in by_key:
            problems.append(ContentError(f"duplicate saved object {key[0]}/{key[1]}", where=where))
        by_key[key] = o
    panel_validator = jsonschema.Draft202012Validator(PANEL_SCHEMA)
    for o in objects:
        oid = f"{o.get('type')}/{o.get('id')}"
        for ref in o.get("references", []):
            if (ref.get("type"), ref.get("id")) not in by_key:
                problems.append(ContentError(f"{oid}: reference {ref.get('name')!r} → {ref.get('type')}/"
                                             f"{ref.get('id')} is not in the bundle", where=where))
        if o.get("type") != "dashboard":
            continue
        try:
            panels = json.loads(o["attributes"]["panelsJSON"])
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(ContentError(f"{oid}: panelsJSON is not JSON: {exc}", where=where))
            continue
        ref_names = {r["name"] for r in o.get("references", [])}
        needed: set[str] = set()
        for p in panels:
            pid = p.get("panelIndex", "?")
            for err in sorted(panel_validator.iter_errors(p), key=lambda e: list(e.absolute_path)):
                path = "/".join(str(x) for x in err.absolute_path)
                problems.append(ContentError(f"{oid} panel {pid}: Lens schema: {path}: {err.message}", where=where))
            attrs = (p.get("embeddableConfig") or {}).get("attributes") or {}
            problems += [ContentError(f"{oid} panel {pid}: {msg}", where=where) for msg in _lens_links(attrs)]
            for r in attrs.get("references", []):
                needed.add(f"{pid}:{r['name']}")
        for name in sorted(needed - ref_names):
            problems.append(ContentError(f"{oid}: panel reference {name!r} missing from the dashboard's references",
                                         where=where))
        for name in sorted(ref_names - needed):
            problems.append(ContentError(f"{oid}: reference {name!r} is used by no panel", where=where))
    return problems


def _lens_links(attrs: dict[str, Any]) -> list[str]:
    """Internal links of one Lens state: accessors → columns, columns → references, layers → refs."""
    state = attrs.get("state") or {}
    layers = ((state.get("datasourceStates") or {}).get("formBased") or {}).get("layers") or {}
    ref_names = {r.get("name") for r in attrs.get("references", [])}
    out: list[str] = []
    for lid, layer in layers.items():
        out += _layer_links(lid, layer, ref_names)
    vis = state.get("visualization") or {}
    for vl in vis["layers"] if isinstance(vis.get("layers"), list) else [vis]:
        out += _visualization_links(vl, layers)
    for name in ref_names:
        lid = str(name).removeprefix("indexpattern-datasource-layer-")
        if lid not in layers:
            out.append(f"reference {name} names no layer")
    return out


def _layer_links(lid: str, layer: dict[str, Any], ref_names: set[Any]) -> list[str]:
    """A datasource layer: its column order, its data-view reference, its columns' references."""
    out: list[str] = []
    cols = layer.get("columns") or {}
    if set(layer.get("columnOrder") or []) != set(cols):
        out.append(f"layer {lid}: columnOrder and columns differ")
    if f"indexpattern-datasource-layer-{lid}" not in ref_names:
        out.append(f"layer {lid} has no data-view reference")
    for cid, col in cols.items():
        out += [f"column {cid} references missing column {ref}" for ref in col.get("references", []) if ref not in cols]
        order = ((col.get("params") or {}).get("orderBy") or {}).get("columnId")
        if order is not None and order not in cols:
            out.append(f"column {cid} orders by missing column {order}")
    return out


def _visualization_links(vl: dict[str, Any], layers: dict[str, Any]) -> list[str]:
    """A visualization layer: its datasource layer, and every accessor a column of it."""
    lid = vl.get("layerId")
    if lid not in layers:
        return [f"visualization layer {lid} is not a datasource layer"]
    cols = layers[lid].get("columns") or {}
    accessors = list(vl.get("accessors") or []) + list(vl.get("metrics") or []) + list(vl.get("primaryGroups") or [])
    accessors += [vl[k] for k in ("xAccessor", "splitAccessor", "metricAccessor") if vl.get(k)]
    accessors += [c.get("columnId") for c in vl.get("columns") or []]
    return [f"visualization accessor {acc} is not a column of layer {lid}" for acc in accessors if acc not in cols]


# -- 4. the import request, its saved objects and the data views (our own model) ------------
def check_import_request(req: ImportRequest) -> list[SiemPackError]:
    """The request against schema/kibana/import_request.yml (method, path, kbn-xsrf header,
    query parameters, the multipart body deploy sends, parsed back) and each NDJSON line
    against schema/kibana/saved_object.yml."""
    where = f"POST {req.path}"
    raw, content_type = multipart_body("file", req.filename, req.ndjson.encode())
    parts = multipart_parts(raw, content_type)
    request = {"method": req.method, "path": req.path, "headers": {k.lower(): v for k, v in req.headers.items()},
               "query": dict(req.query),
               "body": {"content_type": content_type.split(";")[0].strip(),
                        "parts": {name: {"filename": part.filename, "content_type": part.content_type}
                                  for name, part in parts.items()}}}
    problems: list[SiemPackError] = [
        ContentError(f"import request: {msg}", where=where)
        for msg in kibana_schema.problems(kibana_schema.validator("import_request"), request)]
    if req.query.get("createNewCopies") and (req.query.get("overwrite") or req.query.get("compatibilityMode")):
        problems.append(ContentError("import request: createNewCopies cannot be combined with overwrite or "
                                     "compatibilityMode", where=where))
    ndjson = parts["file"].data.decode() if "file" in parts else req.ndjson
    lines = ndjson.splitlines()
    if not lines:
        problems.append(ContentError("import request: the NDJSON holds no saved object", where=where))
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(ContentError(f"NDJSON line {n} is not JSON: {exc}", where=req.filename))
            continue
        problems += [ContentError(f"NDJSON line {n} ({_label(obj)}): {msg}", where=req.filename)
                     for msg in _saved_object_problems(obj)]
    return problems


def _label(obj: Any) -> str:
    return f"{obj.get('type')}/{obj.get('id')}" if isinstance(obj, dict) else type(obj).__name__


def _saved_object_problems(obj: Any) -> list[str]:
    kind = obj.get("type") if isinstance(obj, dict) else None
    validator = kibana_schema.validator("saved_object", kind) if isinstance(kind, str) else None
    if not isinstance(obj, dict):
        return ["(root): a saved object is a JSON object"]
    if validator is None:
        return [f"type: {kind!r} unsupported; known: {', '.join(kibana_schema.kinds('saved_object'))}"]
    return kibana_schema.problems(validator, obj)


def check_data_views(objects: list[dict[str, Any]]) -> list[SiemPackError]:
    """Each index-pattern object is the data view of one of our indices (spec.INDEXES) and its
    time field is a date field of that index (its attributes' shape is saved_object.yml's,
    checked with the import request)."""
    by_view = {ix.data_view_id: key for key, ix in INDEXES.items()}
    problems: list[SiemPackError] = []
    for o in objects:
        if o.get("type") != "index-pattern":
            continue
        where = f"data view {o.get('id')}"
        key = by_view.get(str(o.get("id")))
        if key is None:
            problems.append(ContentError(f"not the data view of any of our indices "
                                         f"({', '.join(sorted(by_view))})", where=where))
            continue
        attrs: dict[str, Any] = o["attributes"] if isinstance(o.get("attributes"), dict) else {}
        if attrs.get("title") != INDEXES[key].pattern:
            problems.append(ContentError(f"title {attrs.get('title')!r} is not the index pattern "
                                         f"{INDEXES[key].pattern!r}", where=where))
        time_field = attrs.get("timeFieldName")
        ftype = field_types(key).get(str(time_field))
        if time_field is not None and ftype != "date":
            problems.append(ContentError(f"time field {time_field!r} is not a date field of index {key!r} "
                                         f"({ftype or 'not mapped'})", where=where))
    return problems


def check_all(dashboards: list[Dashboard], versions: Iterable[str] = KIBANA_VERSIONS) -> list[SiemPackError]:
    """Every check for every dashboard and Kibana version; returns the problems (empty = pass)."""
    problems: list[SiemPackError] = []
    for dash in dashboards:
        problems += check_fields(dash)
    for version in versions:
        objects = saved_objects(dashboards, version)
        where = f"kibana {version}"
        problems += check_objects(objects, where)
        problems += check_import_request(import_request(objects))
        problems += check_data_views(objects)
    return problems
