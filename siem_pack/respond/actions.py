"""Stage 5, step 2: the action registry. A dict from the name used in
inventory/response_levels.yml to an action class; each action can `plan` (what it would do,
from the alert: no call is made), `execute` and, where the target allows, `undo`.

Targets come from flags or SIEM_PACK_* variables (`Targets`); their secrets are never
printed, logged, or written into receipts. Receipts (respond.py) record who, what, when,
the result and whether it was a dry run. Neighbours: levels.py picks the names, respond.py
runs them and writes receipts through backend.py.

Request shapes (checked by the contract tests in tests/respond/test_gateway_contract.py):
- LiteLLM proxy (admin endpoints, `Authorization: Bearer <master key>`): POST /key/block and
  /key/unblock `{"key": ...}` (the key or its hash); POST /team/block and /team/unblock
  `{"team_id": ...}`; POST /customer/block and /customer/unblock `{"user_ids": [...]}`.
- Azure API Management (ARM `Subscription - Update`): PATCH
  `<service URL>/subscriptions/{sid}?api-version=2024-05-01` with `If-Match: *` and
  `{"properties": {"state": "suspended"}}`; undo sets `"active"`.
- Elasticsearch: DELETE /_security/api_key `{"ids": [...]}` (invalidate); there is no
  un-invalidate, so this action cannot be undone: issue a new key instead.
- webhook: POST of a JSON summary to any URL (other gateways, ticketing, chat).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..cluster import redact_url
from ..errors import ConfigError
from ..settings import ClusterSettings

APIM_API_VERSION = "2024-05-01"

ENV = {
    "litellm_url": "SIEM_PACK_LITELLM_URL",
    "litellm_key": "SIEM_PACK_LITELLM_KEY",
    "apim_url": "SIEM_PACK_APIM_URL",
    "apim_token": "SIEM_PACK_APIM_TOKEN",
    "apim_api_version": "SIEM_PACK_APIM_API_VERSION",
    "webhook_url": "SIEM_PACK_WEBHOOK_URL",
    "webhook_token": "SIEM_PACK_WEBHOOK_TOKEN",
}


@dataclass(frozen=True)
class Targets:
    """Where actions go. `apim_url` is the APIM service's ARM URL
    (https://management.azure.com/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ApiManagement/service/<name>);
    `es` the cluster whose API keys `es_api_key_invalidate` invalidates."""

    litellm_url: str | None = None
    litellm_key: str | None = field(default=None, repr=False)
    apim_url: str | None = None
    apim_token: str | None = field(default=None, repr=False)
    apim_api_version: str = APIM_API_VERSION
    webhook_url: str | None = field(default=None, repr=False)  # may embed a token
    webhook_token: str | None = field(default=None, repr=False)
    es: ClusterSettings | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, es: ClusterSettings | None = None, **given: Any) -> Targets:
        values = {k: (given.get(k) or os.environ.get(v) or None) for k, v in ENV.items()}
        values["apim_api_version"] = values["apim_api_version"] or APIM_API_VERSION
        return cls(**values, es=es)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Call:
    """One HTTP request an action makes. `describe()` never shows secrets."""

    method: str
    url: str
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    path_is_secret: bool = False  # webhook paths often carry the token (chat webhooks)

    def describe(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        if self.path_is_secret:
            return f"{self.method} {parts.scheme}://{parts.hostname}/…"
        where = redact_url(f"{parts.scheme}://{parts.netloc}{parts.path}") if parts.netloc else parts.path
        return f"{self.method} {where}"


@dataclass(frozen=True)
class Plan:
    action: str
    subject: str | None  # the key id / hash, team, user or subscription acted on (never a secret)
    summary: str
    configured: bool  # the target is set (else execute records `skipped`)
    undoable: bool
    missing: str = ""  # why it does not apply / what is not configured

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "subject": self.subject, "summary": self.summary,
                "configured": self.configured, "undoable": self.undoable, "missing": self.missing}


@dataclass(frozen=True)
class Outcome:
    result: str  # done, failed, not_found, skipped
    detail: str
    status: int | None = None


class Action:
    """Base: subclasses say which alert field names the subject and build the calls."""

    name: ClassVar[str] = ""
    subject_fields: ClassVar[tuple[str, ...]] = ()
    undoable: ClassVar[bool] = True
    target: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()  # the `Targets` fields the action needs (names in ENV)

    def subject(self, alert: Mapping[str, Any]) -> str | None:
        for f in self.subject_fields:
            v = alert.get(f)
            if isinstance(v, list):
                v = v[0] if v else None
            if v:
                return str(v)
        return None

    def configured(self, t: Targets) -> str:
        """'' when the target is set, else the variables that are missing."""
        return ", ".join(ENV[k] for k in self.requires if not getattr(t, k))

    def call(self, t: Targets, subject: str, undo: bool = False, alert: Mapping[str, Any] | None = None) -> Call:
        raise NotImplementedError

    def plan(self, alert: Mapping[str, Any], t: Targets) -> Plan:
        subject = self.subject(alert)
        missing = self.configured(t)
        if subject is None:
            return Plan(self.name, None, f"not applicable: the alert has none of {', '.join(self.subject_fields)}",
                        False, self.undoable, "no subject")
        summary = self.describe(subject) + (f" via {self.call(t, subject, alert=alert).describe()}" if not missing
                                            else f" (target not configured: {missing})")
        return Plan(self.name, subject, summary, not missing, self.undoable, missing)

    def describe(self, subject: str) -> str:
        return f"{self.name} {subject}"

    def execute(self, t: Targets, subject: str, undo: bool = False,
                alert: Mapping[str, Any] | None = None) -> Outcome:
        if undo and not self.undoable:
            return Outcome("failed", f"{self.name} cannot be undone")
        missing = self.configured(t)
        if missing:
            return Outcome("skipped", f"target not configured: {missing}")
        c = self.call(t, subject, undo, alert)
        status, text = http(c, t.timeout)
        if 200 <= status < 300:
            return Outcome("done", f"{c.describe()} answered {status}", status)
        if status == 404:
            return Outcome("not_found", f"{c.describe()} answered 404", status)
        return Outcome("failed", f"{c.describe()} answered {status}: {text[:200]}", status)


def http(c: Call, timeout: float) -> tuple[int, str]:
    """Send one call; (status, body text). Transport failures are status 0 with the reason."""
    data = json.dumps(c.body).encode() if c.body is not None else None
    headers = {"Content-Type": "application/json", "Accept": "application/json", **c.headers}
    req = urllib.request.Request(c.url, data=data, method=c.method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl.create_default_context()) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, f"cannot connect: {reason}"


class _LiteLLM(Action):
    """A LiteLLM admin endpoint and its inverse (`undo_path`), both `POST {body_key: subject}`."""

    target = "litellm"
    requires = ("litellm_url", "litellm_key")
    path = ""
    undo_path = ""
    body_key = ""
    verb = "block"
    noun = ""

    def call(self, t: Targets, subject: str, undo: bool = False, alert: Mapping[str, Any] | None = None) -> Call:
        if not t.litellm_url or not t.litellm_key:
            raise ConfigError("LiteLLM target not configured", where=ENV["litellm_url"])
        value: Any = [subject] if self.body_key == "user_ids" else subject
        return Call("POST", t.litellm_url.rstrip("/") + (self.undo_path if undo else self.path),
                    {self.body_key: value}, {"Authorization": f"Bearer {t.litellm_key}"})

    def describe(self, subject: str) -> str:
        return f"{self.verb} LiteLLM {self.noun} {subject}"


class LiteLLMBlockKey(_LiteLLM):
    name = "litellm_block_key"
    subject_fields = ("siem_pack.api_key.hash", "siem_pack.api_key.id")
    path, undo_path = "/key/block", "/key/unblock"
    body_key = "key"
    noun = "virtual key"


class LiteLLMUnblockKey(LiteLLMBlockKey):
    """The explicit inverse of litellm_block_key (also reachable as its undo)."""

    name = "litellm_unblock_key"
    path, undo_path = "/key/unblock", "/key/block"
    verb = "unblock"


class LiteLLMBlockTeam(_LiteLLM):
    name = "litellm_block_team"
    subject_fields = ("user.group.id",)
    path, undo_path = "/team/block", "/team/unblock"
    body_key = "team_id"
    noun = "team"


class LiteLLMBlockCustomer(_LiteLLM):
    name = "litellm_block_customer"
    subject_fields = ("siem_pack.identity.gateway_user", "user.id")  # the inventory's gateway_user alias first
    path, undo_path = "/customer/block", "/customer/unblock"
    body_key = "user_ids"
    noun = "end user"


class APIMSuspendSubscription(Action):
    name = "apim_suspend_subscription"
    subject_fields = ("siem_pack.api_key.id",)  # APIM logs the subscription id as the key id
    target = "apim"
    requires = ("apim_url", "apim_token")

    def call(self, t: Targets, subject: str, undo: bool = False, alert: Mapping[str, Any] | None = None) -> Call:
        if not t.apim_url or not t.apim_token:
            raise ConfigError("APIM target not configured", where=ENV["apim_url"])
        url = (f"{t.apim_url.rstrip('/')}/subscriptions/{urllib.parse.quote(subject, safe='')}"
               f"?api-version={urllib.parse.quote(t.apim_api_version)}")
        state = "active" if undo else "suspended"
        return Call("PATCH", url, {"properties": {"state": state}},
                    {"Authorization": f"Bearer {t.apim_token}", "If-Match": "*"})

    def describe(self, subject: str) -> str:
        return f"suspend Azure APIM subscription {subject}"


class Webhook(Action):
    name = "webhook"
    subject_fields = ("kibana.alert.uuid",)
    target = "webhook"
    requires = ("webhook_url",)

    def call(self, t: Targets, subject: str, undo: bool = False, alert: Mapping[str, Any] | None = None) -> Call:
        if not t.webhook_url:
            raise ConfigError("webhook target not configured", where=ENV["webhook_url"])
        a = alert or {}
        body = {"event": "siem_pack.alert.retracted" if undo else "siem_pack.alert",
                "alert": {k: a.get(k) for k in ("kibana.alert.uuid", "kibana.alert.rule.name", "kibana.alert.severity",
                                                "kibana.alert.risk_score", "kibana.alert.reason", "user.id",
                                                "gen_ai.request.model", "@timestamp")}}
        headers = {"Authorization": f"Bearer {t.webhook_token}"} if t.webhook_token else {}
        return Call("POST", t.webhook_url, body, headers, path_is_secret=True)

    def describe(self, subject: str) -> str:
        return f"send alert {subject[:12]}… to the webhook"


class ESApiKeyInvalidate(Action):
    name = "es_api_key_invalidate"
    subject_fields = ("siem_pack.api_key.id",)
    undoable = False  # Elasticsearch cannot re-validate an invalidated key
    target = "elasticsearch"

    def configured(self, t: Targets) -> str:
        return "" if t.es is not None and t.es.has_cluster else "--es-url / SIEM_PACK_ES_URL"

    def plan(self, alert: Mapping[str, Any], t: Targets) -> Plan:
        p = super().plan(alert, t)
        return Plan(p.action, p.subject, p.summary + "; cannot be undone (issue a new key)", p.configured,
                    p.undoable, p.missing)

    def call(self, t: Targets, subject: str, undo: bool = False, alert: Mapping[str, Any] | None = None) -> Call:
        url = t.es.require_es() if t.es is not None else ""
        return Call("DELETE", url.rstrip("/") + "/_security/api_key", {"ids": [subject]})

    def describe(self, subject: str) -> str:
        return f"invalidate Elasticsearch API key {subject}"

    def execute(self, t: Targets, subject: str, undo: bool = False,
                alert: Mapping[str, Any] | None = None) -> Outcome:
        if undo:
            return Outcome("failed", "an invalidated Elasticsearch API key cannot be re-validated; issue a new key")
        if t.es is None or not t.es.has_cluster:
            return Outcome("skipped", "target not configured: --es-url / SIEM_PACK_ES_URL")
        import elasticsearch

        from ..cluster import es_client, translated

        with translated(t.es.require_es()):
            try:
                res = es_client(t.es).security.invalidate_api_key(ids=[subject])
            except elasticsearch.ApiError as exc:
                return Outcome("failed", f"invalidate answered {exc.meta.status}: {exc.message}", exc.meta.status)
        done = list(res.get("invalidated_api_keys") or [])
        before = list(res.get("previously_invalidated_api_keys") or [])
        if done:
            return Outcome("done", f"invalidated {len(done)} key(s)", 200)
        if before:
            return Outcome("done", "already invalidated", 200)
        errors = res.get("error_details") or []
        if errors:
            return Outcome("not_found", str(errors[0].get("reason", "not found"))[:200], 404)
        return Outcome("not_found", "no such API key", 404)


ACTIONS: dict[str, type[Action]] = {cls.name: cls for cls in (
    ESApiKeyInvalidate, LiteLLMBlockKey, LiteLLMUnblockKey, LiteLLMBlockTeam, LiteLLMBlockCustomer,
    APIMSuspendSubscription, Webhook)}


def get_action(name: str) -> Action:
    cls = ACTIONS.get(name)
    if cls is None:
        raise ConfigError(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}", where="--action")
    return cls()
