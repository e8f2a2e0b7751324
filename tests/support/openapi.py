"""Kibana API contracts: load an OpenAPI 3.0 bundle (../shared/contracts/kibana-openapi) and
validate requests and responses against it.

Used by contract tests (no Kibana runs here): the deploy issue's recording server
(`tests.support.kibana_server`), the rule and saved-object renderers' tests, and the
Cases client's tests. OpenAPI 3.0 schemas are validated as JSON Schema draft 4, with
`nullable: true` turned into a `null` type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

METHODS = ("get", "post", "put", "patch", "delete")


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` → JSON Schema `type: [T, "null"]` (recursively)."""
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if out.pop("nullable", False) is True:
            t = out.get("type")
            if isinstance(t, str):
                out["type"] = [t, "null"]
            elif "type" not in out and ("$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out):
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]

    @property
    def query_params(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.spec.get("parameters", []) if p.get("in") == "query"}


class OpenAPISpec:
    """One bundled spec file. `problems_*` return human-readable problems (empty = valid)."""

    URI = "urn:siem-pack:spec"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc: dict[str, Any] = _nullable(yaml.safe_load(path.read_text()))
        self._resolve_parameter_refs()
        self.registry: Registry[Any] = Registry().with_resource(self.URI, DRAFT4.create_resource(self.doc))
        self._routes = []
        for template, ops in self.doc.get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            self._routes.append((regex, template, ops))

    def _resolve_parameter_refs(self) -> None:
        comps = self.doc.get("components", {}).get("parameters", {})
        for ops in self.doc.get("paths", {}).values():
            for method, op in ops.items():
                if method in METHODS and isinstance(op, dict):
                    params = [*ops.get("parameters", []), *op.get("parameters", [])]
                    op["parameters"] = [comps.get(p["$ref"].rsplit("/", 1)[-1], p) if "$ref" in p else p for p in params]

    # -- lookup -------------------------------------------------------------
    def operation(self, method: str, path: str) -> Operation | None:
        path = re.sub(r"^/s/[^/]+(?=/api/)", "", path.split("?", 1)[0])
        for regex, template, ops in self._routes:
            if regex.match(path) and method.lower() in ops:
                return Operation(method.lower(), template, ops[method.lower()])
        return None

    def validator(self, pointer: str) -> Draft4Validator:
        """A validator for the schema at a JSON pointer in the spec (e.g. a component)."""
        return Draft4Validator({"$ref": f"{self.URI}#{pointer}"}, registry=self.registry)

    def component(self, name: str) -> Draft4Validator:
        return self.validator("/" + _pointer("components", "schemas", name))

    def problems(self, validator: Draft4Validator, instance: Any, where: str) -> list[str]:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{where}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:20]]

    # -- requests -----------------------------------------------------------
    def problems_request(self, method: str, path: str, headers: dict[str, str], query: dict[str, list[str]],
                         body: bytes, content_type: str) -> list[str]:
        op = self.operation(method, path)
        if op is None:
            return [f"{method.upper()} {path}: no such operation in {self.path.name}"]
        where = f"{method.upper()} {op.template}"
        out: list[str] = []
        lower = {k.lower(): v for k, v in headers.items()}
        if method.lower() != "get" and "kbn-xsrf" not in lower:
            out.append(f"{where}: missing kbn-xsrf header")
        known = op.query_params
        for name, values in query.items():
            if name not in known:
                out.append(f"{where}: unknown query parameter {name!r}")
                continue
            schema = known[name].get("schema", {})
            for v in values:
                out += self.problems(Draft4Validator(_coerce_schema(schema)), _coerce(v, schema), f"{where} ?{name}")
        for name, p in known.items():
            if p.get("required") and name not in query:
                out.append(f"{where}: missing required query parameter {name!r}")
        rb = op.spec.get("requestBody")
        if rb is None:
            return out
        media = content_type.split(";")[0].strip().lower()
        content = rb.get("content", {})
        if media not in content:
            return [*out, f"{where}: content type {media!r} not accepted; spec has {', '.join(content)}"]
        if media == "application/json":
            try:
                instance = json.loads(body or b"null")
            except ValueError as exc:
                return [*out, f"{where}: body is not JSON: {exc}"]
            ptr = "/" + _pointer("paths", op.template, op.method, "requestBody", "content", media, "schema")
            out += self.problems(self.validator(ptr), instance, where)
        elif media == "multipart/form-data":
            parts = parse_multipart(body, content_type)
            props = content[media].get("schema", {}).get("properties", {})
            for name in parts:
                if props and name not in props:
                    out.append(f"{where}: unknown multipart part {name!r}")
            if "file" in props and "file" not in parts:
                out.append(f"{where}: multipart part 'file' missing")
        return out

    def problems_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        op = self.operation(method, path)
        if op is None:
            return [f"{method.upper()} {path}: no such operation"]
        responses = op.spec.get("responses", {})
        key = str(status) if str(status) in responses else "default" if "default" in responses else None
        if key is None:
            return [f"{method.upper()} {op.template}: status {status} not in the spec"]
        content = responses[key].get("content", {})
        if "application/json" not in content or "schema" not in content["application/json"]:
            return []
        ptr = "/" + _pointer("paths", op.template, op.method, "responses", key, "content", "application/json", "schema")
        return self.problems(self.validator(ptr), body, f"response {status} of {method.upper()} {op.template}")


def _coerce_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$ref"}


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    t = schema.get("type")
    if t == "boolean" and value in ("true", "false"):
        return value == "true"
    if t in ("integer", "number"):
        try:
            return int(value) if t == "integer" else float(value)
        except ValueError:
            return value
    if t == "array":
        return value.split(",")
    return value


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    """Parts of a multipart/form-data body by name (their data)."""
    from siem_pack.deploy.kibana import multipart_parts

    return {name: part.data for name, part in multipart_parts(body, content_type).items()}


@lru_cache(maxsize=8)
def load_spec(path: str) -> OpenAPISpec:
    return OpenAPISpec(Path(path))


def kibana_spec(contracts_dir: Path, api: str) -> OpenAPISpec:
    """One of: detections, exceptions, data-views, saved-objects, cases."""
    folder = contracts_dir / "kibana-openapi" / api
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no OpenAPI file under {folder}")
    return load_spec(str(files[0]))
