"""Stage 5, `siem-pack respond`: propose the actions of an alert's response level, perform
them with --execute, undo one by its receipt; every run writes one receipt per action
(who, what, when, result, dry_run) through backend.py (table `actions` / index
`siem-pack-actions`, create-only). Case files (cases.py) list the receipts of their alert.

Neighbours: levels.py (which level, which actions), actions.py (the registry), workflow.py
(containment closes nothing by itself: an analyst closes the alert with a reason).
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..doc import get_field
from ..errors import InputError
from ..inventory import Inventory
from ..times import format_ts, utcnow
from .actions import Outcome, Plan, Targets, get_action
from .backend import ResponseStore
from .levels import Decision, check_levels, choose_level


@dataclass(frozen=True)
class Proposal:
    alert: dict[str, Any]
    decision: Decision
    plans: tuple[Plan, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.alert.get("kibana.alert.uuid"), "rule": self.alert.get("kibana.alert.rule.name"),
                "decision": self.decision.to_dict(), "plans": [p.to_dict() for p in self.plans]}


def default_actor() -> str:
    return os.environ.get("SIEM_PACK_ACTOR") or getpass.getuser()


def propose(backend: ResponseStore, alert_uuid: str, inventory: Inventory, targets: Targets,
            only: str | None = None) -> Proposal:
    """The level's actions as plans (or just `only`, whatever the level says)."""
    check_levels(inventory)
    alert = backend.alert(alert_uuid)
    complete_entities(backend, alert)
    ident = inventory.identity(str(alert.get("user.id") or ""))
    gateway_users = ident.key_aliases("gateway_user") if ident else ()
    if gateway_users:  # LiteLLM knows the end user by the id the gateway logs, not ours
        alert.setdefault("siem_pack.identity.gateway_user", gateway_users[0])
    decision = choose_level(alert, inventory)
    names = (only,) if only else decision.actions
    return Proposal(alert, decision, tuple(get_action(n).plan(alert, targets) for n in names))


def complete_entities(backend: ResponseStore, alert: dict[str, Any]) -> list[dict[str, Any]]:
    """Fill subject fields the alert did not group on from its first source event
    (the key hash, the team, the model tier); returns those events."""
    wanted = ("siem_pack.api_key.hash", "siem_pack.api_key.id", "user.group.id", "siem_pack.model.tier", "user.id",
              "gen_ai.request.model", "source.ip")
    ancestors = alert.get("kibana.alert.ancestors") or []
    docs = backend.events([str(a) for a in ancestors])
    for doc in docs[:5]:
        for f in wanted:
            v = get_field(doc, f)
            if alert.get(f) is None and v is not None and not isinstance(v, (dict, list)):
                alert[f] = v
    return docs


def receipt(alert_uuid: str, action: str, subject: str | None, operation: str, dry_run: bool, actor: str,
            outcome: Outcome, level: str, summary: str, undo_of: str | None = None,
            undoable: bool = False) -> dict[str, Any]:
    rid = uuid.uuid4().hex
    return {"@timestamp": format_ts(utcnow()), "kibana": {"alert": {"uuid": alert_uuid}},
            "event": {"kind": "event", "category": ["configuration"], "action": f"{action}-{operation}",
                      "outcome": {"done": "success", "planned": "unknown"}.get(outcome.result, "failure")},
            "siem_pack": {"action": {
                "receipt_id": rid, "name": action, "subject": subject, "operation": operation, "dry_run": dry_run,
                "actor": actor, "result": outcome.result, "detail": outcome.detail, "level": level,
                "summary": summary, "undo_of": undo_of, "undoable": undoable, "status": outcome.status}}}


def respond(backend: ResponseStore, alert_uuid: str, inventory: Inventory, targets: Targets, actor: str,
            execute: bool = False, only: str | None = None) -> tuple[Proposal, list[dict[str, Any]]]:
    """Plan (dry run, the default) or perform the actions; one receipt per applicable action."""
    proposal = propose(backend, alert_uuid, inventory, targets, only)
    receipts = []
    for plan in proposal.plans:
        if plan.subject is None:
            continue
        action = get_action(plan.action)
        if execute:
            outcome = action.execute(targets, plan.subject, alert=proposal.alert)
        else:
            outcome = Outcome("planned", "dry run: nothing was called")
        rec = receipt(alert_uuid, plan.action, plan.subject, "execute", not execute, actor, outcome,
                      proposal.decision.level, plan.summary, undoable=plan.undoable)
        backend.write_receipt(rec)
        receipts.append(rec)
    return proposal, receipts


def undo(backend: ResponseStore, receipt_id: str, targets: Targets, actor: str, execute: bool = False) -> dict[str, Any]:
    """Reverse the action of a receipt (when its target allows it); writes a new receipt."""
    original = backend.receipt(receipt_id)
    if original is None:
        raise InputError(f"no receipt {receipt_id!r}", where="--undo")
    a: Mapping[str, Any] = original["siem_pack"]["action"]
    if a["dry_run"] or a["result"] != "done":
        raise InputError(f"receipt {receipt_id} did not change anything (result {a['result']}, "
                         f"dry_run {a['dry_run']}): nothing to undo", where="--undo")
    action = get_action(a["name"])
    alert_uuid = original["kibana"]["alert"]["uuid"]
    if not action.undoable:
        outcome = Outcome("failed", f"{a['name']} cannot be undone")
    elif execute:
        outcome = action.execute(targets, a["subject"], undo=True, alert=backend.alert(alert_uuid))
    else:
        outcome = Outcome("planned", "dry run: nothing was called")
    rec = receipt(alert_uuid, a["name"], a["subject"], "undo", not execute, actor, outcome, a.get("level", ""),
                  f"undo: {a.get('summary', '')}", undo_of=receipt_id)
    backend.write_receipt(rec)
    return rec
