"""Stage 5: the alert workflow, open → acknowledged → closed, each change with who and why.

Alerts stay as the rules job wrote them (create-only); every change is its own document
(table `alert_workflow` / index `siem-pack-alert-workflow`), so the history is kept and
the current status is the last change (else the alert's `kibana.alert.workflow_status`).
Readers: `siem-pack alerts list`, metrics.py (MTTR to closure, time per stage, anomalies
investigated), cases.py. The list is a ranked queue of episodes: by episode risk score
(siem_pack.detect.episodes.ranked), or by time on request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from ..detect import episodes
from ..errors import InputError
from ..times import utcnow
from .backend import ResponseStore, workflow_doc

Status = Literal["open", "acknowledged", "closed"]
STATUSES: tuple[str, ...] = get_args(Status)
Order = Literal["risk", "time"]
ORDERS: tuple[str, ...] = get_args(Order)
ALLOWED: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "closed"),
    "acknowledged": ("closed", "open"),
    "closed": ("open",),  # reopen
}


def status_of(alert: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    if history:
        return str(history[-1]["siem_pack"]["workflow"]["to_status"])
    return str(alert.get("kibana.alert.workflow_status") or "open")


def change(backend: ResponseStore, alert_uuid: str, to_status: str, actor: str, reason: str,
           at: datetime | None = None) -> dict[str, Any]:
    """Record one change; refuses a move the workflow does not allow or a missing who/why."""
    if to_status not in STATUSES:
        raise InputError(f"unknown status {to_status!r}; known: {', '.join(STATUSES)}", where="status")
    if not actor.strip() or not reason.strip():
        raise InputError("a workflow change needs who (--by) and why (--reason)", where="--by/--reason")
    alert = backend.alert(alert_uuid)
    current = status_of(alert, backend.workflow(alert_uuid))
    if to_status not in ALLOWED[current]:
        raise InputError(f"alert {alert_uuid[:12]} is {current}; it can move to {', '.join(ALLOWED[current])}",
                         where="status")
    doc = workflow_doc(uuid.uuid4().hex, at or utcnow(), alert_uuid, current, to_status, actor, reason)
    backend.write_workflow(doc)
    return doc


def listing(backend: ResponseStore, status: str | None = None, start: datetime | None = None,
            end: datetime | None = None, order: str = "risk",
            tier_of: Callable[[Mapping[str, Any]], str] | None = None) -> list[dict[str, Any]]:
    """Alerts (episodes) with their current status and episode risk score: highest risk
    first (`order="risk"`, ties newest first), or newest first (`order="time"`). The risk
    is computed over the alerts in the period (episodes.episode_risk); `tier_of` gives the
    model tier of an alert that does not carry it (the CLI: the inventory's)."""
    if order not in ORDERS:
        raise InputError(f"unknown order {order!r}; known: {', '.join(ORDERS)}", where="--sort")
    history: dict[str, list[dict[str, Any]]] = {}
    for w in backend.workflow():
        history.setdefault(w["kibana"]["alert"]["uuid"], []).append(w)
    alerts = backend.alerts(start, end)
    scored = episodes.ranked(alerts, tier_of) if order == "risk" else sorted(
        episodes.episode_risk(alerts, tier_of), key=lambda r: str(r.alert.get("@timestamp")), reverse=True)
    out = []
    for r in scored:
        a = r.alert
        uid = str(a["kibana.alert.uuid"])
        hist = history.get(uid, [])
        st = status_of(a, hist)
        if status and st != status:
            continue
        last = hist[-1]["siem_pack"]["workflow"] if hist else {}
        out.append({"kibana.alert.uuid": uid, "@timestamp": a.get("@timestamp"),
                    "kibana.alert.rule.name": a.get("kibana.alert.rule.name"),
                    "kibana.alert.severity": a.get("kibana.alert.severity"),
                    "kibana.alert.risk_score": a.get("kibana.alert.risk_score"), "user.id": a.get("user.id"),
                    episodes.RISK_FIELD: r.risk_score, episodes.FACTORS_FIELD: r.factors,
                    episodes.DOCS_COUNT: a.get(episodes.DOCS_COUNT), episodes.START: a.get(episodes.START),
                    episodes.END: a.get(episodes.END),
                    "status": st, "by": last.get("actor"), "reason": last.get("reason")})
    return out
