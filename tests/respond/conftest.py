"""Shared helpers for the response tests: a small embedded store with events (one carrying
a planted fake AWS key in event.original), anomalies and alerts at known times, and a
recording HTTP server that checks gateway requests against the gateways' documented APIs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.detect.alerts import make_alert, write_duckdb
from siem_pack.detect.rules import find_rule, load_rules
from siem_pack.times import format_ts

FAKE_AWS_KEY = "AKIAQWERTYUIOPASDFGH"
T0 = datetime(2026, 11, 2, 10, 0, 0)
USER = "jdoe"
MODEL = "llama3.1:70b"  # restricted tier in the bundle's inventory
KEY_ID = "key-7f3a"
KEY_HASH = "c0ffee" * 10 + "abcd"
RULES = {r.stem: r for r in load_rules()}


def event(eid: str, at: datetime, verdict: str = "noncompliant", original: str | None = None,
          **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": format_ts(at),
        "event": {"id": eid, "dataset": "siem_pack.litellm_spend", "kind": "event", "action": "chat_completion",
                  "outcome": "success", "original": original or json.dumps({"request_id": f"raw-{eid}"})},
        "user": {"id": USER, "group": {"id": "team-ml"}},
        "gen_ai": {"request": {"model": MODEL}},
        "source": {"ip": "203.0.113.7"},
        "siem_pack": {"api_key": {"id": KEY_ID, "hash": KEY_HASH}, "policy": {"verdict": verdict},
                      "model": {"tier": "restricted"}},
    }
    doc.update(extra)
    return doc


def anomaly(eid: str, at: datetime, anomalous: bool = True) -> dict[str, Any]:
    return {"@timestamp": format_ts(at),
            "event": {"id": eid, "dataset": "siem_pack.anomaly", "kind": "event", "module": "siem_pack"},
            "user": {"id": USER}, "gen_ai": {"request": {"model": MODEL}},
            "siem_pack": {"anomaly": {"is_anomalous": anomalous, "risk_score": 91.5, "threshold": 70.0,
                                      "explanation": ["output_tokens_sum=91000 (baseline 1200, z=8.1)"],
                                      "top_features": ["output_tokens_sum"],
                                      "window": {"start": format_ts(at - timedelta(hours=1)), "end": format_ts(at)}}}}


def alert(stem: str, tick: datetime, ancestors: list[str], original: datetime) -> dict[str, Any]:
    return make_alert(RULES[stem], tick, {"user.id": USER}, ancestors, original,
                      {"gen_ai.request.model": MODEL, "siem_pack.api_key.id": KEY_ID})


@dataclass
class World:
    db: Path
    alerts: list[dict[str, Any]]

    @property
    def first(self) -> str:
        return str(self.alerts[0]["kibana.alert.uuid"])

    @property
    def second(self) -> str:
        return str(self.alerts[1]["kibana.alert.uuid"])


@pytest.fixture
def world(db_path: Path) -> World:
    """Events e1 (10:00, with a planted AWS key) and e2 (11:00), e3/e4 compliant, e5 unknown;
    anomalies an1 (11:10, ancestor of the second alert) and an2 (12:00); alert one raised
    10:05 over e1, alert two raised 11:30 over e2 and an1."""
    events = [
        event("e1", T0, original=json.dumps({"request_id": "raw-e1", "prompt": f"use key {FAKE_AWS_KEY} please"})),
        event("e2", T0 + timedelta(hours=1)),
        event("e3", T0 + timedelta(minutes=20), verdict="compliant"),
        event("e4", T0 + timedelta(minutes=40), verdict="compliant"),
        event("e5", T0 + timedelta(minutes=50), verdict="unknown"),
    ]
    a1 = alert("secret_in_prompt", T0 + timedelta(minutes=5), ["e1"], T0)
    a2 = alert("policy_noncompliant_model_access", T0 + timedelta(minutes=90), ["e2", "an1"], T0 + timedelta(hours=1))
    with Store(db_path) as store:
        store.insert_events(events)
        store.write_docs("anomalies", [anomaly("an1", T0 + timedelta(minutes=70)),
                                        anomaly("an2", T0 + timedelta(hours=2))])
        write_duckdb(store, [a1, a2])
    return World(db_path, [a1, a2])


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class GatewayServer:
    """A local stand-in for LiteLLM, Azure APIM and a webhook receiver. Each request is
    checked against the documented API (method, path, headers, body); a request that does
    not match is answered 400 and its problems recorded."""

    master_key: str = "sk-master-test-0123456789"
    apim_token: str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.test"
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""

    LITELLM = {"/key/block": "key", "/key/unblock": "key", "/team/block": "team_id", "/team/unblock": "team_id",
               "/customer/block": "user_ids", "/customer/unblock": "user_ids"}

    def check(self, s: Seen) -> list[str]:
        out: list[str] = []
        if s.path.startswith("/litellm/"):
            path = s.path.removeprefix("/litellm")
            if s.method != "POST" or path not in self.LITELLM:
                return [f"{s.method} {path}: not a LiteLLM block/unblock endpoint"]
            if s.headers.get("authorization") != f"Bearer {self.master_key}":
                out.append("LiteLLM: Authorization must be Bearer <master key>")
            key = self.LITELLM[path]
            if not isinstance(s.body, dict) or set(s.body) != {key}:
                out.append(f"LiteLLM {path}: body must be {{{key!r}: ...}}, got {s.body!r}")
            elif key == "user_ids" and not (isinstance(s.body[key], list) and all(isinstance(x, str)
                                                                                 for x in s.body[key])):
                out.append("LiteLLM: user_ids must be a list of strings")
            elif key != "user_ids" and not isinstance(s.body[key], str):
                out.append(f"LiteLLM: {key} must be a string")
        elif s.path.startswith("/apim/"):
            if s.method != "PATCH":
                out.append("APIM Subscription - Update is a PATCH")
            if not s.path.startswith("/apim/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/"
                                     "providers/Microsoft.ApiManagement/service/apim1/subscriptions/"):
                out.append(f"APIM: unexpected path {s.path}")
            if "api-version=" not in s.query:
                out.append("APIM: api-version query parameter is required")
            if s.headers.get("authorization") != f"Bearer {self.apim_token}":
                out.append("APIM: Authorization must be Bearer <ARM token>")
            if not s.headers.get("if-match"):
                out.append("APIM: If-Match is required on update")
            state = (s.body or {}).get("properties", {}).get("state") if isinstance(s.body, dict) else None
            if state not in ("suspended", "active") or set(s.body) != {"properties"}:
                out.append(f"APIM: body must be {{'properties': {{'state': ...}}}}, got {s.body!r}")
        elif s.path.startswith("/hook/"):
            if s.method != "POST" or not isinstance(s.body, dict) or "alert" not in s.body:
                out.append("webhook: expected a JSON POST with an alert")
        else:
            out.append(f"unknown path {s.path}")
        if s.headers.get("content-type") != "application/json":
            out.append("Content-Type must be application/json")
        return out

    def handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _do(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                s = Seen(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                problems = outer.check(s)
                outer.seen.append(s)
                outer.problems += problems
                status = 400 if problems else 200
                data = json.dumps({"problems": problems} if problems else {"ok": True}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = do_GET = do_DELETE = _do  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    gw = GatewayServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), gw.handler())
    gw.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield gw
    server.shutdown()
    server.server_close()


def gateway_env(gw: GatewayServer) -> dict[str, str]:
    return {"SIEM_PACK_LITELLM_URL": gw.url + "/litellm", "SIEM_PACK_LITELLM_KEY": gw.master_key,
            "SIEM_PACK_APIM_URL": gw.url + "/apim/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                                           "rg/providers/Microsoft.ApiManagement/service/apim1",
            "SIEM_PACK_APIM_TOKEN": gw.apim_token, "SIEM_PACK_WEBHOOK_URL": gw.url + "/hook/T000/secret-path"}


def rule_of(stem: str) -> Any:
    return find_rule(RULES.values(), stem)
