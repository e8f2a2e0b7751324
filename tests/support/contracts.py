"""Conformance checks: our Kibana payloads against Kibana's published contracts, kept outside
the project (the `contracts/` folder of the upstream data, ../shared/contracts; the tests'
`contracts_dir` fixture). Nothing at runtime calls these; `siem-pack rules build` and
`dashboards check` validate with our own schemas (siem_pack.kibana_schema). No Kibana server
runs here: these are schema checks, and they are the tests' proof that our own schemas are
not looser than Kibana's contracts on what we emit.

- rule bodies: the `[rule]` table against detection-rules' per-version rule schemas
  (`kibana-rule-schemas/{8.19,9.5}`), the API body against the detections OpenAPI spec;
- exception lists and items against the exceptions OpenAPI spec's create bodies;
- saved objects: the import request against the saved-objects OpenAPI spec (each NDJSON
  object against its create body), each data view against the data-views spec.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .openapi import kibana_spec

if TYPE_CHECKING:
    from siem_pack.dashboards.kibana import ImportRequest
    from siem_pack.detect.rules import Rule

SCHEMA_VERSIONS = ("8.19", "9.5")
OPENAPI_CREATE = {"query": "QueryRuleCreateProps", "threshold": "ThresholdRuleCreateProps", "eql": "EqlRuleCreateProps",
                  "new_terms": "NewTermsRuleCreateProps", "esql": "EsqlRuleCreateProps"}


# -- rules -------------------------------------------------------------------------------
def toml_for_schema(rule: Rule) -> dict[str, Any]:
    """The [rule] table as the detection-rules schemas model it. One known defect of those
    generated schemas is worked around: they drop `value` from new_terms.history_window_start
    items (detection-rules' own dataclass has it), so it is removed before validation."""
    body = copy.deepcopy(dict(rule.body))
    for item in body.get("new_terms", {}).get("history_window_start", []):
        if isinstance(item, dict):
            item.pop("value", None)
    return body


@lru_cache(maxsize=32)
def _rule_schema(contracts: str, version: str, rtype: str) -> Any:
    import jsonschema

    schema = json.loads((Path(contracts) / "kibana-rule-schemas" / version / f"{version}.{rtype}.json").read_text())
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)(schema)


def _messages(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(str(x) for x in e.absolute_path) or '<root>'}: {e.message}" for e in
            sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def rule_toml_problems(rule: Rule, version: str, contracts: Path) -> list[str]:
    """The rule's [rule] table against the detection-rules schema of `version` for its type."""
    return _messages(_rule_schema(str(contracts), version, rule.type), toml_for_schema(rule))


def rule_api_problems(body: dict[str, Any], contracts: Path) -> list[str]:
    """An API body against the detections OpenAPI create schema of its type; a type the
    contract has no create schema for (of those we write) is a problem."""
    name = OPENAPI_CREATE.get(str(body.get("type")))
    if name is None:
        return [f"type: {body.get('type')!r} is not one of {sorted(OPENAPI_CREATE)}"]
    return _messages(kibana_spec(contracts, "detections").component(name), body)


def exception_problems(obj: dict[str, Any], contracts: Path) -> list[str]:
    """An exception list against the create-list body of the exceptions OpenAPI spec, an item
    (it has an item_id) against the create-item body of a generic (detection) item."""
    spec = kibana_spec(contracts, "exceptions")
    if "item_id" in obj:
        return _messages(spec.component("CreateExceptionListItemGeneric"), obj)
    return _messages(spec.validator("/paths/~1api~1exception_lists/post/requestBody/content/application~1json/schema"),
                     obj)


# -- saved objects -------------------------------------------------------------------------
def import_request_problems(req: ImportRequest, contracts: Path) -> list[str]:
    """The request against `saved-objects/bundled.yaml`: path, method, kbn-xsrf header, query
    parameters, the multipart body; each NDJSON object against the create-object body."""
    from siem_pack.deploy.kibana import multipart_body

    spec = kibana_spec(contracts, "saved-objects")
    body, content_type = multipart_body("file", req.filename, req.ndjson.encode())
    query = {k: [str(v).lower() if isinstance(v, bool) else str(v)] for k, v in req.query.items()}
    out = [f"import request: {msg}"
           for msg in spec.problems_request(req.method, req.path, req.headers, query, body, content_type)]
    create = spec.validator("/paths/~1api~1saved_objects~1{type}~1{id}/post/requestBody/content/"
                            "application~1json/schema")
    for n, line in enumerate(req.ndjson.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            out.append(f"NDJSON line {n} is not JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            out.append(f"NDJSON line {n} is not an object")
            continue
        out += [f"NDJSON line {n}: saved object without {key}" for key in ("type", "id") if key not in obj]
        out += spec.problems(create, {k: obj[k] for k in ("attributes", "references") if k in obj},
                             f"NDJSON line {n} ({obj.get('type')}/{obj.get('id')})")
    return out


def data_view_problems(objects: list[dict[str, Any]], contracts: Path) -> list[str]:
    """Each index-pattern object, as the equivalent `POST /api/data_views/data_view` body,
    against `data-views/bundled.yaml` (a runtimeFieldMap that is not JSON cannot become one)."""
    spec = kibana_spec(contracts, "data-views")
    validator = spec.component("create_data_view_request_object")
    out: list[str] = []
    for o in objects:
        if o.get("type") != "index-pattern":
            continue
        a: dict[str, Any] = o["attributes"] if isinstance(o.get("attributes"), dict) else {}
        try:
            runtime = json.loads(a.get("runtimeFieldMap") or "{}")
        except (TypeError, ValueError) as exc:
            out.append(f"data view {o.get('id')}: runtimeFieldMap is not JSON: {exc}")
            continue
        view = {"id": o.get("id"), "title": a.get("title"), "name": a.get("name"),
                "timeFieldName": a.get("timeFieldName"), "runtimeFieldMap": runtime,
                "allowNoIndex": a.get("allowNoIndex", False)}
        body = {"data_view": {k: v for k, v in view.items() if v is not None}, "override": True}
        out += spec.problems(validator, body, f"data view {o.get('id')}")
    return out
