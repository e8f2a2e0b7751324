"""Cross-cutting (deploy): the edge to Kibana: a small client for the few APIs the pack uses.

Every state-changing call sends `kbn-xsrf`; detection-engine calls send
`Elastic-Api-Version: 2023-10-31`; spaces are a `/s/<space>` prefix. Rule and saved-object
imports are multipart NDJSON with `overwrite=true` (`multipart_body`, from
siem_pack.dashboards.kibana beside the import request it carries), and a 200 answer is
checked for per-object errors. Only idempotent calls (GET) are retried, with backoff. TLS
verification is on unless `--insecure`; no secret is ever printed.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..cluster import redact_url
from ..dashboards.kibana import multipart_body as multipart_body  # both also read by tests/support (contract checks)
from ..dashboards.kibana import multipart_parts as multipart_parts
from ..errors import ClusterError, ConfigError
from ..settings import ClusterSettings

API_VERSION = "2023-10-31"
RETRIES = 3


class KibanaError(ClusterError):
    """Kibana answered with an error, or a 200 carried per-object errors."""


class KibanaClient:
    def __init__(self, settings: ClusterSettings) -> None:
        if not settings.kibana_url:
            raise ConfigError("no Kibana URL: pass --kibana-url or set SIEM_PACK_KIBANA_URL", where="--kibana-url")
        self.base = settings.kibana_url.rstrip("/")
        self.space = settings.space or "default"
        self.timeout = settings.timeout
        self._auth: str | None = None
        if settings.api_key:
            self._auth = f"ApiKey {settings.api_key}"
        elif settings.user:
            token = base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
            self._auth = f"Basic {token}"
        self._ssl: ssl.SSLContext | None = None
        if self.base.startswith("https://"):
            self._ssl = ssl.create_default_context(cafile=str(settings.ca_certs) if settings.ca_certs else None)
            if settings.insecure:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    # -- transport ----------------------------------------------------------
    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        prefix = "" if self.space == "default" else f"/s/{urllib.parse.quote(self.space)}"
        qs = ("?" + urllib.parse.urlencode({k: str(v).lower() if isinstance(v, bool) else v
                                            for k, v in query.items()})) if query else ""
        return f"{self.base}{prefix}{path}{qs}"

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                raw: bytes | None = None, content_type: str = "application/json",
                ok_404: bool = False) -> Any:
        headers = {"kbn-xsrf": "true", "Accept": "application/json"}
        if "/api/detection_engine" in path or "/api/exception_lists" in path:
            headers["Elastic-Api-Version"] = API_VERSION
        if self._auth:
            headers["Authorization"] = self._auth
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        url = self.url(path, query)
        attempts = RETRIES if method == "GET" else 1
        for attempt in range(attempts):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as resp:
                    return _parse(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and ok_404:
                    return None
                if exc.code in (502, 503, 504) and attempt + 1 < attempts:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                detail = exc.read().decode(errors="replace")[:300]
                if exc.code == 401:
                    raise KibanaError("authentication failed (401)", where=redact_url(self.base)) from exc
                raise KibanaError(f"{method} {path} answered {exc.code}: {detail}", where=redact_url(self.base)) from exc
            except urllib.error.URLError as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                reason = exc.reason
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise KibanaError("TLS certificate verification failed: pass --ca-certs FILE "
                                      "(or --insecure)", where=redact_url(self.base)) from exc
                raise KibanaError(f"cannot connect: {reason}", where=redact_url(self.base)) from exc
        raise AssertionError("unreachable")

    # -- objects ------------------------------------------------------------
    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        if kind == "rule":
            return _obj(self.request("GET", "/api/detection_engine/rules", query={"rule_id": name}, ok_404=True))
        if kind == "data_view":
            res = self.request("GET", f"/api/data_views/data_view/{urllib.parse.quote(name)}", ok_404=True)
            return _obj(res.get("data_view")) if res else None
        if kind == "saved_object":
            otype, oid = name.split("/", 1)
            res = self.request("POST", "/api/saved_objects/_export",
                               {"objects": [{"type": otype, "id": oid}], "includeReferencesDeep": False,
                                "excludeExportDetails": True}, ok_404=True)
            objs = _ndjson_or_list(res)
            return objs[0] if objs else None
        if kind == "exception_list":  # lists and their items, imported with the rules
            list_id, _, item_id = name.partition("::")
            if item_id:
                return _obj(self.request("GET", "/api/exception_lists/items", ok_404=True,
                                         query={"item_id": item_id, "namespace_type": "single"}))
            return _obj(self.request("GET", "/api/exception_lists", ok_404=True,
                                     query={"list_id": list_id, "namespace_type": "single"}))
        raise ValueError(kind)

    def import_rules(self, ndjson: bytes) -> dict[str, Any]:
        raw, ctype = multipart_body("file", "siem-pack-rules.ndjson", ndjson)
        res = self.request("POST", "/api/detection_engine/rules/_import", raw=raw, content_type=ctype,
                           query={"overwrite": True, "overwrite_exceptions": True})
        errors = res.get("errors") or []
        if errors or res.get("exceptions_errors"):
            first = (errors or res["exceptions_errors"])[0]
            raise KibanaError(f"rule import: {len(errors)} rule error(s); first: {first.get('rule_id', '')}: "
                              f"{first.get('error', {}).get('message', '')}", where=redact_url(self.base))
        return dict(res)

    def import_saved_objects(self, ndjson: bytes) -> dict[str, Any]:
        raw, ctype = multipart_body("file", "siem-pack-dashboards.ndjson", ndjson)
        res = self.request("POST", "/api/saved_objects/_import", raw=raw, content_type=ctype, query={"overwrite": True})
        if not res.get("success", False):
            errs = res.get("errors") or []
            first = errs[0] if errs else {}
            raise KibanaError(f"saved-object import: {len(errs)} error(s); first: {first.get('type')}/"
                              f"{first.get('id')}: {first.get('error', {}).get('type')}", where=redact_url(self.base))
        return dict(res)

    def put_data_view(self, body: dict[str, Any]) -> None:
        self.request("POST", "/api/data_views/data_view", {"data_view": body, "override": True})

    def delete(self, kind: str, name: str) -> None:
        if kind == "rule":
            self.request("DELETE", "/api/detection_engine/rules", query={"rule_id": name}, ok_404=True)
        elif kind == "data_view":
            self.request("DELETE", f"/api/data_views/data_view/{urllib.parse.quote(name)}", ok_404=True)


def _obj(res: Any) -> dict[str, Any] | None:
    return dict(res) if isinstance(res, dict) else None


def _parse(text: bytes) -> Any:
    """JSON, or NDJSON (the export APIs) as a list."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _ndjson_or_list(res: Any) -> list[dict[str, Any]]:
    if isinstance(res, list):
        return res
    return [res] if isinstance(res, dict) else []
