"""Stage 5: case files. `build_case` compiles, for one alert: the alert and its response
level, the rule and its investigation guide, the identity's timeline around the alert, log
snippets (secrets redacted with siem_pack.ingest.secrets.redact), the baseline explanation
(anomaly events for that identity and model), the inventory and policy snapshot, the bundle
version, the seal verification of the source events' windows
(siem_pack.integrity.verify.verify_events: one inclusion proof per event, with the seal and
window that cover it), and the actions taken (receipts). `write_case` renders it as
Markdown, HTML and JSON into a folder; `open_kibana_case` opens a Kibana case through the
Cases API (POST /api/cases, then a user comment with the Markdown).

Neighbours: backend.py (reads), respond.py (receipts, level), detect.rules (the rule),
inventory (snapshot), integrity (proofs), deploy.kibana (the Kibana client).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..doc import get_field
from ..errors import SiemPackError
from ..ingest.secrets import redact
from ..inventory import Inventory
from ..times import format_ts, parse_ts
from .backend import ResponseStore
from .levels import Decision, choose_level
from .respond import complete_entities
from .workflow import status_of

if TYPE_CHECKING:
    from ..detect.rules import Rule

SNIPPET_CHARS = 2000
KIBANA_COMMENT_MAX = 30000
TIMELINE_FIELDS = ("@timestamp", "event.action", "event.outcome", "gen_ai.request.model", "source.ip",
                   "siem_pack.policy.verdict", "event.id")


@dataclass
class Section:
    anchor: str
    title: str
    text: str = ""
    facts: list[tuple[str, Any]] = field(default_factory=list)
    table: tuple[list[str], list[list[Any]]] | None = None
    code: list[tuple[str, str]] = field(default_factory=list)  # (caption, text)

    def to_dict(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "title": self.title, "text": self.text,
                "facts": {k: v for k, v in self.facts},
                "table": {"columns": self.table[0], "rows": self.table[1]} if self.table else None,
                "code": [{"caption": c, "text": t} for c, t in self.code]}


@dataclass
class Case:
    alert_uuid: str
    title: str
    sections: list[Section]

    def to_dict(self) -> dict[str, Any]:
        return {"alert_uuid": self.alert_uuid, "title": self.title, "sections": [s.to_dict() for s in self.sections]}


def _scrub(value: Any) -> Any:
    """Secrets redacted in every string of a value (the last line of defence)."""
    if isinstance(value, str):
        return redact(value)[0]
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v) for v in value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


@dataclass
class _CaseInput:
    """What the sections of one alert's case read: the alert, its source events, response
    level, workflow history and time span; the rule on first use."""

    backend: ResponseStore
    inventory: Inventory
    hours: float
    alert_uuid: str
    alert: dict[str, Any]
    ancestors: list[str]
    sources: list[dict[str, Any]]
    decision: Decision
    raised: datetime
    first: datetime
    history: list[dict[str, Any]]

    @classmethod
    def fetch(cls, backend: ResponseStore, alert_uuid: str, inventory: Inventory, hours: float) -> _CaseInput:
        alert = backend.alert(alert_uuid)
        ancestors = [str(x) for x in (alert.get("kibana.alert.ancestors") or [])]
        sources = complete_entities(backend, alert)  # entity fields the rule did not group on
        decision = choose_level(alert, inventory)
        raised = parse_ts(alert["@timestamp"])
        first = parse_ts(alert.get("kibana.alert.original_time")) or raised
        assert raised is not None and first is not None
        return cls(backend, inventory, hours, alert_uuid, alert, ancestors, sources, decision, raised, first,
                   backend.workflow(alert_uuid))

    @property
    def user(self) -> Any:
        return self.alert.get("user.id")

    @property
    def model(self) -> Any:
        return self.alert.get("gen_ai.request.model")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.hours)

    @cached_property
    def rule(self) -> Rule | SiemPackError:
        """The alert's rule in this bundle, or why it is not there."""
        from ..detect.rules import find_rule, load_rules

        try:
            return find_rule(load_rules(), str(self.alert.get("kibana.alert.rule.rule_id")))
        except SiemPackError as exc:
            return exc

    @cached_property
    def rule_digest(self) -> str:
        rule = self.rule
        return "" if isinstance(rule, SiemPackError) else hashlib.sha256(rule.path.read_bytes()).hexdigest()[:12]


def _alert_section(c: _CaseInput) -> Section:
    a = c.alert
    section = Section("alert", "Alert", str(a.get("kibana.alert.reason") or ""), facts=[
        ("kibana.alert.uuid", c.alert_uuid), ("rule", a.get("kibana.alert.rule.name")),
        ("severity", a.get("kibana.alert.severity")), ("risk score", a.get("kibana.alert.risk_score")),
        ("raised (@timestamp)", a.get("@timestamp")), ("first source event", a.get("kibana.alert.original_time")),
        ("user.id", c.user), ("model", c.model), ("key id", a.get("siem_pack.api_key.id")),
        ("source.ip", a.get("source.ip")), ("workflow status", status_of(a, c.history)),
        ("response level", c.decision.level), ("why", "; ".join(c.decision.reasons)),
        ("source events", len(c.ancestors))])
    if c.history:
        section.table = (["when", "from", "to", "by", "why"], [
            [w["@timestamp"], w["siem_pack"]["workflow"]["from_status"], w["siem_pack"]["workflow"]["to_status"],
             w["siem_pack"]["workflow"]["actor"], w["siem_pack"]["workflow"]["reason"]] for w in c.history])
    return section


def _rule_section(c: _CaseInput) -> Section:
    section = Section("rule", "Rule and investigation guide")
    rule = c.rule
    if isinstance(rule, SiemPackError):
        section.text = f"rule not found in this bundle: {rule}"
        return section
    section.facts = [("rule_id", rule.rule_id), ("name", rule.name), ("type", rule.type),
                     ("file", rule.path.name), ("family", rule.metadata.get("family")),
                     ("runbook", rule.metadata.get("runbook")), ("tags", ", ".join(rule.tags))]
    section.text = str(rule.body.get("description", ""))
    section.code = [("investigation guide (note)", str(rule.body.get("note", "")).strip())]
    return section


def _timeline_section(c: _CaseInput) -> Section:
    user = c.user
    timeline = c.backend.timeline(str(user), c.first - c.window, c.raised + c.window) if user else []
    return Section("timeline", f"Timeline of {user or 'the identity'} (±{c.hours:g} h)",
                   "" if user else "the alert names no identity",
                   table=(list(TIMELINE_FIELDS), [[get_field(d, f) for f in TIMELINE_FIELDS] for d in timeline]))


def _logs_section(c: _CaseInput) -> Section:
    section = Section("logs", "Log snippets (secrets redacted)")
    for doc in c.sources[:20]:
        original = get_field(doc, "event.original")
        text = original if isinstance(original, str) else json.dumps(doc, sort_keys=True, default=str)
        clean, fired = redact(text)
        caption = f"{get_field(doc, 'event.id')} @ {get_field(doc, '@timestamp')}" + (
            f" (redacted: {', '.join(fired)})" if fired else "")
        section.code.append((caption, clean[:SNIPPET_CHARS] + ("…" if len(clean) > SNIPPET_CHARS else "")))
    if not c.sources:
        section.text = "no source events found"
    return section


def _baseline_section(c: _CaseInput) -> Section:
    anomalies = c.backend.anomalies(c.user, c.model, c.first - c.window, c.raised + c.window)
    return Section("baseline", "Baseline explanation",
                   "" if anomalies else "no anomaly windows for this identity and model around the alert",
                   table=(["window start", "window end", "risk score", "threshold", "anomalous", "explanation"],
                          [[get_field(a, "siem_pack.anomaly.window.start"), get_field(a, "siem_pack.anomaly.window.end"),
                            get_field(a, "siem_pack.anomaly.risk_score"), get_field(a, "siem_pack.anomaly.threshold"),
                            get_field(a, "siem_pack.anomaly.is_anomalous"),
                            "; ".join(get_field(a, "siem_pack.anomaly.explanation") or
                                      get_field(a, "siem_pack.anomaly.top_features") or [])]
                           for a in anomalies]))


def _inventory_section(c: _CaseInput) -> Section:
    section = Section("inventory", "Inventory and policy snapshot")
    user, model, inventory = c.user, c.model, c.inventory
    ident = inventory.identity(str(user)) if user else None
    mdl = inventory.model_for(str(model)) if model else None
    if ident:
        section.facts += [("identity", ident.id), ("type", ident.type), ("groups", ", ".join(ident.groups)),
                          ("roles", ", ".join(ident.roles)), ("time zone", ident.time_zone),
                          ("alias kinds", ", ".join(sorted({k for k, _ in ident.aliases})))]
    else:
        section.facts.append(("identity", f"{user} is not in the inventory"))
    if mdl:
        section.facts += [("model", mdl.id), ("tier", mdl.tier), ("owner", mdl.owner),
                          ("environment", mdl.environment), ("allowed groups", ", ".join(mdl.allowed_groups)),
                          ("allowed roles", ", ".join(mdl.allowed_roles))]
    else:
        section.facts.append(("model", f"{model} is not in the inventory" if model else "no model on the alert"))
    verdict, why = inventory.verdict(mdl, ident, format_ts(c.first))
    section.facts.append(("policy verdict at the first event", f"{verdict} ({why})"))
    if mdl and ident:
        section.table = (["grant", "kind", "start", "expiry", "approved by", "justification"],
                         [[g.id, g.kind, g.start, g.expiry, g.approved_by, g.justification]
                          for g in inventory.grants_for(mdl, ident)])
    return section


def _bundle_section(c: _CaseInput) -> Section:
    return Section("bundle", "Bundle version", facts=[
        ("siem-pack", __version__), ("rule file sha256", c.rule_digest or "n/a"), ("inventory", c.inventory.source)])


def _integrity_section(c: _CaseInput) -> Section:
    section = Section("integrity", "Seal verification of the windows involved")
    try:
        from ..integrity.verify import verify_events

        source, store = c.backend.integrity()
        proofs = verify_events(source, store, c.ancestors) if c.ancestors else []
        section.table = (["event.id", "proven", "seal", "window start", "window end", "root", "problems"],
                         [[p.event_id, p.proven, p.seal_id, p.window_start, p.window_end, p.root, "; ".join(p.problems)]
                          for p in proofs])
        proven = sum(p.proven for p in proofs)
        section.text = f"{proven} of {len(proofs)} source events proven unchanged and included in a signed seal."
    except SiemPackError as exc:
        section.text = f"seal verification could not run: {exc}"
    return section


def _actions_section(c: _CaseInput) -> Section:
    receipts = c.backend.receipts(c.alert_uuid)
    columns = ["when", "action", "subject", "operation", "dry run", "by", "result", "detail", "receipt"]
    keys = ("name", "subject", "operation", "dry_run", "actor", "result", "detail", "receipt_id")
    return Section("actions", "Actions taken", "" if receipts else "no actions recorded yet",
                   table=(columns, [[r["@timestamp"], *(r["siem_pack"]["action"][k] for k in keys)] for r in receipts]))


# The registry: a case section's anchor → the function that builds it, in case order.
CASE_SECTIONS: dict[str, Callable[[_CaseInput], Section]] = {
    "alert": _alert_section,
    "rule": _rule_section,
    "timeline": _timeline_section,
    "logs": _logs_section,
    "baseline": _baseline_section,
    "inventory": _inventory_section,
    "bundle": _bundle_section,
    "integrity": _integrity_section,
    "actions": _actions_section,
}


def build_case(backend: ResponseStore, alert_uuid: str, inventory: Inventory, hours: float = 6.0) -> Case:
    c = _CaseInput.fetch(backend, alert_uuid, inventory, hours)
    sections = [build(c) for build in CASE_SECTIONS.values()]
    title = f"{c.alert.get('kibana.alert.rule.name')}: {c.user or 'unattributed'} ({alert_uuid[:12]})"
    return Case(alert_uuid, _scrub(title), [Section(**_scrub(vars(s))) for s in sections])


def _cell(v: Any) -> str:
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(case: Case) -> str:
    out = [f"# Case: {case.title}", ""]
    out += [f"- [{s.title}](#{s.anchor})" for s in case.sections] + [""]
    for s in case.sections:
        out += [f'<a id="{s.anchor}"></a>', f"## {s.title}", ""]
        if s.text:
            out += [s.text, ""]
        if s.facts:
            out += ["| | |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in s.facts] + [""]
        if s.table and s.table[1]:
            cols, rows = s.table
            out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows] + [""]
        for caption, text in s.code:
            out += [f"**{caption}**", "", "```", text.replace("```", "'''"), "```", ""]
    return "\n".join(out)


def render_html(case: Case) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(case.title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}"
             "pre{background:#f5f5f5;padding:8px;white-space:pre-wrap}</style></head><body>",
             f"<h1>Case: {e(case.title)}</h1><ul>"]
    parts += [f"<li><a href='#{e(s.anchor)}'>{e(s.title)}</a></li>" for s in case.sections]
    parts.append("</ul>")
    for s in case.sections:
        parts.append(f"<h2 id='{e(s.anchor)}'>{e(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{e(s.text)}</p>")
        if s.facts:
            parts.append("<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(_cell(v))}</td></tr>"
                                             for k, v in s.facts) + "</table>")
        if s.table and s.table[1]:
            cols, rows = s.table
            parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in r) + "</tr>" for r in rows) + "</table>")
        for caption, text in s.code:
            parts.append(f"<p><b>{e(caption)}</b></p><pre>{e(text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_case(case: Case, out_dir: Path) -> list[Path]:
    """case.md, case.html and case.json in `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"case.md": render_markdown(case), "case.html": render_html(case),
             "case.json": json.dumps(case.to_dict(), indent=2, sort_keys=True, default=str) + "\n"}
    paths = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(redact(text)[0], encoding="utf-8")
        paths.append(path)
    return paths


def open_kibana_case(client: Any, case: Case, severity: str | None = None, tags: Sequence[str] = ()
                     ) -> Mapping[str, Any]:
    """POST /api/cases (owner securitySolution, no connector), then the Markdown as a comment.
    `client` is a siem_pack.deploy.kibana.KibanaClient. Returns the case Kibana answered."""
    body: dict[str, Any] = {
        "title": case.title[:160], "description": f"siem-pack case file for alert {case.alert_uuid}",
        "tags": ["siem-pack", *tags], "owner": "securitySolution",
        "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
        "settings": {"syncAlerts": False},
    }
    if severity in ("low", "medium", "high", "critical"):
        body["severity"] = severity
    created = client.request("POST", "/api/cases", body)
    text = render_markdown(case)
    if len(text) > KIBANA_COMMENT_MAX:
        text = text[:KIBANA_COMMENT_MAX - 80] + "\n\n… truncated; the whole case file is in case.md"
    client.request("POST", f"/api/cases/{created['id']}/comments",
                   {"type": "user", "comment": redact(text)[0], "owner": "securitySolution"})
    return dict(created)


def comment_receipts(client: Any, case_id: str, receipts: Sequence[Mapping[str, Any]]) -> None:
    """Add receipts to an open Kibana case as one user comment (`respond --kibana-case`)."""
    lines = ["siem-pack actions:", ""]
    for r in receipts:
        a = r["siem_pack"]["action"]
        lines.append(f"- {r['@timestamp']} {a['name']} {a['subject']} ({a['operation']}, "
                     f"{'dry run' if a['dry_run'] else 'executed'}) by {a['actor']}: {a['result']}; {a['detail']} "
                     f"[receipt {a['receipt_id']}]")
    client.request("POST", f"/api/cases/{case_id}/comments",
                   {"type": "user", "comment": redact("\n".join(lines))[0][:KIBANA_COMMENT_MAX],
                    "owner": "securitySolution"})
