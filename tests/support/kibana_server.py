"""A recording HTTP server that speaks Kibana's API contracts (a contract test, not Kibana).

No Kibana can run here. This server validates every request against the OpenAPI specs in
../shared/contracts/kibana-openapi (detections, exceptions, data views, saved objects,
cases), answers the few operations siem-pack uses the way those specs say, keeps what it
was given (rules by rule_id, data views, saved objects, cases) so that a second deploy sees
the first, and records every request with its contract problems for the test to assert on.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .openapi import OpenAPISpec, kibana_spec, parse_multipart

_USER = {"username": "elastic", "full_name": None, "email": None}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


APIS = ("detections", "exceptions", "data-views", "saved-objects", "cases")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    problems: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class KibanaContractServer:
    """Start with `with KibanaContractServer(contracts_dir) as kb: ...`; `kb.url`."""

    def __init__(self, contracts_dir: Path, username: str = "elastic", password: str = "changeme") -> None:
        self.specs: list[OpenAPISpec] = [kibana_spec(contracts_dir, api) for api in APIS]
        self.requests: list[Recorded] = []
        self.rules: dict[str, dict[str, dict[str, Any]]] = {}  # space -> rule_id -> rule
        self.exception_lists: dict[str, dict[str, dict[str, Any]]] = {}
        self.data_views: dict[str, dict[str, dict[str, Any]]] = {}
        self.saved_objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    # -- lifecycle ----------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> KibanaContractServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def problems(self) -> list[str]:
        return [p for r in self.requests for p in r.problems]

    def spec_for(self, method: str, path: str) -> OpenAPISpec | None:
        for spec in self.specs:
            if spec.operation(method, path) is not None:
                return spec
        return None

    # -- HTTP ---------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _do(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: ("***" if k.lower() == "authorization" else v) for k, v in self.headers.items()}
                rec = Recorded(self.command, parts.path, parse_qs(parts.query), headers, body)
                status, answer = outer._serve(rec, self.headers.get("Content-Type", ""))
                rec.status = status
                with outer._lock:
                    outer.requests.append(rec)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _serve(self, rec: Recorded, content_type: str) -> tuple[int, Any]:
        spec = self.spec_for(rec.method, rec.path)
        if spec is None:
            rec.problems.append(f"{rec.method} {rec.path}: not an operation of any Kibana contract here")
            return 404, {"statusCode": 404, "error": "Not Found", "message": "no such operation in the contracts"}
        rec.problems += spec.problems_request(rec.method, rec.path, rec.headers, rec.query, rec.body, content_type)
        if "elastic-api-version" not in {k.lower() for k in rec.headers} and "/api/detection_engine" in rec.path:
            rec.problems.append(f"{rec.method} {rec.path}: no Elastic-Api-Version header")
        if rec.problems:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "; ".join(rec.problems)[:2000]}
        space, path = _space(rec.path)
        status, answer = self._route(rec, space, path, content_type)
        if status < 300:
            rec.problems += spec.problems_response(rec.method, rec.path, status, answer)
        return status, answer

    def _route(self, rec: Recorded, space: str, path: str, content_type: str) -> tuple[int, Any]:
        q = {k: v[-1] for k, v in rec.query.items()}
        m = rec.method
        if m == "POST" and path == "/api/detection_engine/rules/_import":
            return 200, self._import_rules(rec, space, parse_multipart(rec.body, content_type).get("file", b""),
                                           q.get("overwrite") == "true")
        if m == "GET" and path == "/api/detection_engine/rules/_find":
            rules = list(self.rules.get(space, {}).values())
            page, per = int(q.get("page", 1)), int(q.get("per_page", 20))
            return 200, {"page": page, "perPage": per, "total": len(rules), "data": rules[(page - 1) * per: page * per]}
        if path == "/api/detection_engine/rules" and m in ("GET", "DELETE"):
            rule = self.rules.get(space, {}).get(q.get("rule_id", ""))
            if rule is None:
                return 404, {"status_code": 404, "message": f"rule_id: \"{q.get('rule_id')}\" not found"}
            if m == "DELETE":
                del self.rules[space][q["rule_id"]]
            return 200, rule
        if m == "GET" and path in ("/api/exception_lists", "/api/exception_lists/items"):
            key = q.get("item_id") if path.endswith("/items") else q.get("list_id")
            entry = self.exception_lists.get(space, {}).get(f"{'item' if path.endswith('/items') else 'list'}:{key}")
            if entry is None:
                return 404, {"status_code": 404, "message": f"exception list id: \"{key}\" does not exist"}
            return 200, entry
        if m == "POST" and path == "/api/data_views/data_view":
            dv = rec.json()["data_view"]
            views = self.data_views.setdefault(space, {})
            dv_id = dv.get("id") or str(uuid.uuid4())
            if dv_id in views and not rec.json().get("override"):
                return 400, {"statusCode": 400, "error": "Bad Request", "message": f"Duplicate data view: {dv_id}"}
            views[dv_id] = {**dv, "id": dv_id}
            return 200, {"data_view": views[dv_id]}
        if path.startswith("/api/data_views/data_view/") and m in ("GET", "DELETE"):
            dv_id = path.rsplit("/", 1)[-1]
            views = self.data_views.get(space, {})
            if dv_id not in views:
                return 404, {"statusCode": 404, "error": "Not Found", "message": f"Saved object [index-pattern/{dv_id}] not found"}
            if m == "DELETE":
                del views[dv_id]
                return 200, {}
            return 200, {"data_view": views[dv_id]}
        if m == "POST" and path == "/api/saved_objects/_import":
            return 200, self._import_objects(space, parse_multipart(rec.body, content_type).get("file", b""),
                                             q.get("overwrite") == "true")
        if m == "POST" and path == "/api/saved_objects/_export":
            body = rec.json()
            store = self.saved_objects.get(space, {})
            wanted = [(o["type"], o["id"]) for o in body.get("objects", [])]
            found = [store[k] for k in wanted if k in store]
            return 200, found  # the real API answers NDJSON; the recorder answers a JSON list
        if m == "POST" and path == "/api/cases":
            body = rec.json()
            now = _now()
            case = {**body, "id": str(uuid.uuid4()), "version": "WzEsMV0=", "status": "open", "comments": [],
                    "totalComment": 0, "totalAlerts": 0, "severity": body.get("severity", "low"),
                    "created_at": now, "created_by": _USER, "updated_at": None, "updated_by": None,
                    "closed_at": None, "closed_by": None, "duration": None, "external_service": None}
            self.cases[case["id"]] = case
            return 200, case
        if m == "POST" and path.startswith("/api/cases/") and path.endswith("/comments"):
            commented = self.cases.get(path.split("/")[3])
            if commented is None:
                return 404, {"statusCode": 404, "error": "Not Found", "message": "case not found"}
            commented["comments"].append({**rec.json(), "id": str(uuid.uuid4()), "version": "WzIsMV0=",
                                     "created_at": _now(), "created_by": _USER, "pushed_at": None,
                                     "pushed_by": None, "updated_at": None, "updated_by": None})
            commented["totalComment"] = len(commented["comments"])
            commented["updated_at"], commented["updated_by"] = _now(), _USER
            return 200, commented
        if m == "GET" and path.startswith("/api/cases/") and path.count("/") == 3:
            existing = self.cases.get(path.split("/")[3])
            if existing is None:
                return 404, {"statusCode": 404, "error": "Not Found", "message": "case not found"}
            return 200, existing
        return 501, {"statusCode": 501, "error": "Not Implemented", "message": f"the recorder does not answer {m} {path}"}

    def _import_rules(self, rec: Recorded, space: str, ndjson: bytes, overwrite: bool) -> dict[str, Any]:
        detections = self.specs[0]
        rule_validator = detections.component("RuleCreateProps")
        rules = self.rules.setdefault(space, {})
        errors: list[dict[str, Any]] = []
        ok = n_rules = ex_ok = 0
        for n, line in enumerate(ndjson.decode().splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if "exported_count" in obj or "exported_rules_count" in obj:
                continue
            if "list_id" in obj and "rule_id" not in obj:  # an exception list or item
                key = f"item:{obj['item_id']}" if "item_id" in obj else f"list:{obj['list_id']}"
                stamp = {"id": obj.get("id") or str(uuid.uuid4()), "tie_breaker_id": str(uuid.uuid4()),
                         "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
                         "created_by": "elastic", "updated_by": "elastic"}
                if "item_id" not in obj:
                    stamp |= {"immutable": False, "version": 1}
                self.exception_lists.setdefault(space, {})[key] = {**stamp, **obj}
                ex_ok += 1
                continue
            n_rules += 1
            probs = detections.problems(rule_validator, {k: v for k, v in obj.items()
                                                        if k not in ("rule_id", "version", "immutable")},
                                        f"rule line {n}")
            if probs:
                rec.problems += probs
                errors.append({"rule_id": obj.get("rule_id", ""), "error": {"status_code": 400, "message": probs[0]}})
                continue
            if obj.get("rule_id") in rules and not overwrite:
                errors.append({"rule_id": obj["rule_id"], "error": {
                    "status_code": 409, "message": f"rule_id: \"{obj['rule_id']}\" already exists"}})
                continue
            rules[obj["rule_id"]] = _as_stored_rule(obj, rules.get(obj["rule_id"]))
            ok += 1
        return {"success": not errors, "success_count": ok, "rules_count": n_rules, "errors": errors,
                "exceptions_success": True, "exceptions_success_count": ex_ok, "exceptions_errors": [],
                "action_connectors_success": True, "action_connectors_success_count": 0,
                "action_connectors_errors": [], "action_connectors_warnings": []}

    def _import_objects(self, space: str, ndjson: bytes, overwrite: bool) -> dict[str, Any]:
        store = self.saved_objects.setdefault(space, {})
        errors, results = [], []
        objects = [json.loads(line) for line in ndjson.decode().splitlines() if line.strip()]
        in_file = {o.get("id") for o in objects}
        for obj in objects:
            if "exportedCount" in obj:
                continue
            key = (obj["type"], obj["id"])
            if key in store and not overwrite:
                errors.append({"id": obj["id"], "type": obj["type"], "error": {"type": "conflict"}})
                continue
            refs = obj.get("references", [])
            missing = [r for r in refs if (r["type"], r["id"]) not in store and r["id"] not in in_file]
            if missing:
                errors.append({"id": obj["id"], "type": obj["type"],
                               "error": {"type": "missing_references", "references": missing}})
                continue
            store[key] = obj
            results.append({"id": obj["id"], "type": obj["type"]})
        return {"success": not errors, "successCount": len(results), "successResults": results, "errors": errors}


# what Kibana adds to a rule it stores (RuleResponse's server-side required fields)
RULE_DEFAULTS: dict[str, Any] = {
    "risk_score_mapping": [], "severity_mapping": [], "to": "now", "actions": [], "exceptions_list": [],
    "references": [], "setup": "", "related_integrations": [], "required_fields": [], "immutable": False,
    "rule_source": {"type": "internal"}, "created_by": "elastic", "updated_by": "elastic",
}


def _as_stored_rule(obj: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    now = "2026-01-01T00:00:00.000Z"
    stored = {**RULE_DEFAULTS, **obj, "id": (previous or {}).get("id", str(uuid.uuid4())),
              "created_at": (previous or {}).get("created_at", now), "updated_at": now,
              "revision": (previous or {}).get("revision", -1) + 1}
    stored.setdefault("version", 1)
    return stored


def _space(path: str) -> tuple[str, str]:
    if path.startswith("/s/"):
        _, _, space, rest = path.split("/", 3)
        return space, "/" + rest
    return "default", path
