"""Stage 4: static and contract checks over every dashboard and its Kibana rendering. No
Kibana runs here, so these are the whole proof that the objects import:

1. every field a panel reads (metrics, buckets, KQL filters) exists in its index template's
   mapping (fields.py: schema/fields.yml, schema/indices/*.yml) or is a runtime field of its
   data view, with a type the aggregation accepts;
2. every reference between saved objects resolves (dashboard → data view, Lens layer →
   reference, formula column → helper column, accessor → column), ids are unique;
3. each panel's Lens attributes validate against our schema (lens_schema.py);
4. the import request validates against Kibana's saved-objects OpenAPI contract
   (`POST /api/saved_objects/_import`, multipart part `file`), each NDJSON object against
   the saved-object create body, and each data view against the data-views contract.

Neighbours: spec.py and kibana.py (what is checked), siem_pack.paths.contracts_dir().
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConfigError, ContentError, SiemPackError
from ..paths import contracts_dir
from . import kql
from .fields import field_types
from .kibana import KIBANA_VERSIONS, ImportRequest, import_request, saved_objects
from .lens_schema import PANEL_SCHEMA
from .spec import INDEXES, Dashboard, Panel

if TYPE_CHECKING:
    from ..testing.openapi import OpenAPISpec

NUMERIC = {"long", "double", "float", "integer", "short", "scaled_float"}


# -- 1. fields ------------------------------------------------------------------
def check_fields(dash: Dashboard) -> list[SiemPackError]:
    problems: list[SiemPackError] = []
    for panel in dash.panels:
        known = field_types(panel.index)

        def bad(msg: str, panel: Panel = panel) -> None:
            problems.append(ContentError(f"panel {panel.id!r}: {msg}", where=panel.where))

        used: list[tuple[str, str]] = [(f, "field") for f in panel.fields()]
        filters = [panel.filter] + [m.where for m in panel.metrics if m.where]
        for text in filters:
            try:
                used += [(f, "filter") for f in kql.fields(kql.parse(text or "", where=panel.where))]
            except SiemPackError as exc:
                problems.append(exc)
        for name, role in used:
            if name not in known:
                bad(f"{role} {name!r} is not a field of index {panel.index!r} ({INDEXES[panel.index].pattern})")
        for m in panel.metrics:
            ftype = known.get(m.field or "")
            if m.op in ("sum", "avg") and ftype is not None and ftype not in NUMERIC:
                bad(f"{m.op} needs a numeric field; {m.field} is {ftype}")
            if m.op in ("min", "max") and ftype is not None and ftype not in NUMERIC | {"date"}:
                bad(f"{m.op} needs a numeric or date field; {m.field} is {ftype}")
        for b in panel.buckets:
            ftype = known.get(b.field)
            if b.interval and ftype is not None and ftype != "date":
                bad(f"the time axis needs a date field; {b.field} is {ftype}")
            if not b.interval and ftype in ("flattened", "geo_point", "match_only_text", "text"):
                bad(f"cannot bucket by {b.field} ({ftype})")
    return problems


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
    out: list[str] = []
    state = attrs.get("state") or {}
    layers = ((state.get("datasourceStates") or {}).get("formBased") or {}).get("layers") or {}
    ref_names = {r.get("name") for r in attrs.get("references", [])}
    for lid, layer in layers.items():
        cols = layer.get("columns") or {}
        if set(layer.get("columnOrder") or []) != set(cols):
            out.append(f"layer {lid}: columnOrder and columns differ")
        if f"indexpattern-datasource-layer-{lid}" not in ref_names:
            out.append(f"layer {lid} has no data-view reference")
        for cid, col in cols.items():
            for ref in col.get("references", []):
                if ref not in cols:
                    out.append(f"column {cid} references missing column {ref}")
            order = ((col.get("params") or {}).get("orderBy") or {}).get("columnId")
            if order is not None and order not in cols:
                out.append(f"column {cid} orders by missing column {order}")
    vis = state.get("visualization") or {}
    vis_layers: list[Any] = vis["layers"] if isinstance(vis.get("layers"), list) else [vis]
    for vl in vis_layers:
        lid = vl.get("layerId")
        if lid not in layers:
            out.append(f"visualization layer {lid} is not a datasource layer")
            continue
        cols = layers[lid].get("columns") or {}
        accessors = list(vl.get("accessors") or []) + list(vl.get("metrics") or []) + list(
            vl.get("primaryGroups") or [])
        accessors += [vl[k] for k in ("xAccessor", "splitAccessor", "metricAccessor") if vl.get(k)]
        accessors += [c.get("columnId") for c in vl.get("columns") or []]
        for acc in accessors:
            if acc not in cols:
                out.append(f"visualization accessor {acc} is not a column of layer {lid}")
    for name in ref_names:
        lid = str(name).removeprefix("indexpattern-datasource-layer-")
        if lid not in layers:
            out.append(f"reference {name} names no layer")
    return out


# -- 4. contracts (through siem_pack.testing.openapi, the contract tests' validator) ------
def check_import_request(req: ImportRequest, contracts: Path | None = None) -> list[SiemPackError]:
    """The request against `saved-objects/bundled.yaml`: path, method, kbn-xsrf header, query
    parameters, the multipart body; each NDJSON object against the create-object body."""
    from ..deploy.kibana import multipart_body

    spec = _spec(contracts, "saved-objects")
    where = str(spec.path)
    body, content_type = multipart_body("file", req.filename, req.ndjson.encode())
    query = {k: [str(v).lower() if isinstance(v, bool) else str(v)] for k, v in req.query.items()}
    problems: list[SiemPackError] = [
        ContentError(f"import request: {msg}", where=where)
        for msg in spec.problems_request(req.method, req.path, req.headers, query, body, content_type)]
    if req.query.get("createNewCopies") and (req.query.get("overwrite") or req.query.get("compatibilityMode")):
        problems.append(ContentError("import request: createNewCopies cannot be combined with overwrite or "
                                     "compatibilityMode", where=where))
    create = spec.validator("/paths/~1api~1saved_objects~1{type}~1{id}/post/requestBody/content/"
                            "application~1json/schema")
    for n, line in enumerate(req.ndjson.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(ContentError(f"NDJSON line {n} is not JSON: {exc}", where=req.filename))
            continue
        for key in ("type", "id"):
            if key not in obj:
                problems.append(ContentError(f"NDJSON line {n}: saved object without {key}", where=req.filename))
        problems += [ContentError(msg, where=where) for msg in spec.problems(
            create, {k: obj[k] for k in ("attributes", "references") if k in obj},
            f"NDJSON line {n} ({obj.get('type')}/{obj.get('id')})")]
    return problems


def check_data_views(objects: list[dict[str, Any]], contracts: Path | None = None) -> list[SiemPackError]:
    """Each index-pattern object, as the equivalent `POST /api/data_views/data_view` body,
    against `data-views/bundled.yaml`."""
    spec = _spec(contracts, "data-views")
    validator = spec.component("create_data_view_request_object")
    problems: list[SiemPackError] = []
    for o in objects:
        if o.get("type") != "index-pattern":
            continue
        a = o["attributes"]
        body = {"data_view": {"id": o["id"], "title": a["title"], "name": a.get("name"),
                              "timeFieldName": a.get("timeFieldName"),
                              "runtimeFieldMap": json.loads(a.get("runtimeFieldMap") or "{}"),
                              "allowNoIndex": a.get("allowNoIndex", False)},
                "override": True}
        problems += [ContentError(msg, where=str(spec.path))
                     for msg in spec.problems(validator, body, f"data view {o['id']}")]
    return problems


def _spec(contracts: Path | None, api: str) -> OpenAPISpec:
    from ..testing.openapi import kibana_spec  # jsonschema: imported when a check runs, not with the CLI

    try:
        return kibana_spec(contracts or contracts_dir(), api)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the Kibana OpenAPI contract: {exc}",
                          where=str((contracts or contracts_dir()) / "kibana-openapi" / api)) from exc


def check_all(dashboards: list[Dashboard], versions: Iterable[str] = KIBANA_VERSIONS,
              contracts: Path | None = None) -> list[SiemPackError]:
    """Every check for every dashboard and Kibana version; returns the problems (empty = pass)."""
    problems: list[SiemPackError] = []
    for dash in dashboards:
        problems += check_fields(dash)
    for version in versions:
        objects = saved_objects(dashboards, version)
        where = f"kibana {version}"
        problems += check_objects(objects, where)
        problems += check_import_request(import_request(objects), contracts)
        problems += check_data_views(objects, contracts)
    return problems
