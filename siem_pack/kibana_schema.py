"""Cross-cutting (shared): our own schemas for the Kibana payloads we emit (`schema/kibana/*.yml`,
JSON Schema draft 2020-12 written as YAML), loaded once and validated here. Runtime validation
of rule bodies (siem_pack.detect.kibana) and of saved objects and their import request
(siem_pack.dashboards.checks) uses these alone; Kibana's own published specifications are read
only by the conformance tests (tests/support/contracts.py).

Two forms. A plain file is one schema (`import_request.yml`). A file with `common` and
`types` holds one schema per kind (`rule.yml` by rule type, `saved_object.yml` by object
type): `common` plus `types.<kind>` (required keys and properties of both, the kind's
property replacing common's), closed to other keys, with the file's `$defs`.

One extension of the standard: `contentMediaType: application/json` with `contentSchema`
is enforced (the standard leaves it an annotation), for the JSON Kibana keeps inside string
attributes (panelsJSON, runtimeFieldMap, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import ContentError
from .paths import content_dir

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_path(name: str) -> Path:
    """`schema/kibana/<name>.yml` of the content root."""
    return content_dir("schema") / "kibana" / f"{name}.yml"


@lru_cache(maxsize=16)
def _document(where: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(Path(where).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read our Kibana schema: {exc}", where=where) from exc
    if not isinstance(raw, dict):
        raise ContentError("a schema file holds one mapping", where=where)
    return raw


def kinds(name: str) -> list[str]:
    """The kinds a `common` + `types` file defines (rule types, saved-object types)."""
    return sorted(_document(str(schema_path(name))).get("types") or {})


def validator(name: str, kind: str | None = None) -> Any | None:
    """The validator of a plain file (`kind=None`) or of one kind of a `common` + `types`
    file; None when the file has no such kind."""
    return _validator(str(schema_path(name)), kind)


@lru_cache(maxsize=64)
def _validator(where: str, kind: str | None) -> Any | None:
    import jsonschema  # imported when a check runs, not with the CLI

    doc = _document(where)
    if kind is None:
        schema = {"$schema": DIALECT, **doc}
    else:
        common, types = doc.get("common") or {}, doc.get("types") or {}
        if kind not in types:
            return None
        own = types[kind] or {}
        schema = {"$schema": DIALECT, "type": "object", "additionalProperties": False,
                  "required": sorted({*common.get("required", []), *own.get("required", [])}),
                  "properties": {**common.get("properties", {}), **own.get("properties", {})},
                  "$defs": doc.get("$defs", {})}
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"contentSchema": _content_schema})
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ContentError(f"not a valid JSON Schema{f' (kind {kind})' if kind else ''}: {exc.message}",
                           where=where) from exc
    return cls(schema)


def _content_schema(validator: Any, subschema: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """`contentSchema` of a string whose `contentMediaType` is JSON: decode, then validate."""
    from jsonschema import ValidationError

    if schema.get("contentMediaType") != "application/json" or not isinstance(instance, str):
        return
    try:
        decoded = json.loads(instance)
    except ValueError as exc:
        yield ValidationError(f"is not JSON: {exc}")
        return
    yield from validator.descend(decoded, subschema)


def problems(validator: Any, instance: Any) -> list[str]:
    """Every error as `path: message` (path `(root)` for the whole document), in path order;
    a message quoting a long value is cut."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {_cut(e.message)}" for e in errors]


def _cut(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."
