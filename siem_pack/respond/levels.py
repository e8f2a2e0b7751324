"""Stage 5, step 1: the response level for an alert (notify, review, contain).

Input: an alert (siem_pack.detect.alerts shape) and the inventory (its model tier and the
maps of inventory/response_levels.yml, loaded by siem_pack.inventory). Output: a `Decision`
naming the level, why, and the actions the level lists; respond.py turns those into plans
(actions.py).

The rule, in the content file's words: the highest level the alert's severity or its risk
score asks for, capped by the model tier's ceiling and raised to that tier's floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ContentError, SiemPackError, collect
from ..inventory import Inventory


@dataclass(frozen=True)
class Decision:
    level: str
    tier: str
    reasons: tuple[str, ...]
    actions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "tier": self.tier, "reasons": list(self.reasons), "actions": list(self.actions)}


def check_levels(inventory: Inventory) -> None:
    """Every level's actions are in the registry (collects all problems)."""
    from .actions import ACTIONS

    problems: list[SiemPackError] = []
    if not inventory.response_levels:
        problems.append(ContentError("no response levels", where=f"{inventory.source}/response_levels.yml"))
    for lv in inventory.response_levels:
        for name in lv.actions:
            if name not in ACTIONS:
                problems.append(ContentError(f"level {lv.name}: unknown action {name!r}; known: "
                                             f"{', '.join(sorted(ACTIONS))}",
                                             where=f"{inventory.source}/response_levels.yml"))
    collect(problems)


def tier_of(alert: Mapping[str, Any], inventory: Inventory) -> str:
    """The alert's model tier: its own `siem_pack.model.tier`, else the inventory's, else unknown."""
    tier = alert.get("siem_pack.model.tier")
    if tier:
        return str(tier)
    model = inventory.model_for(alert.get("gen_ai.request.model"))
    return model.tier if model else "unknown"


def choose_level(alert: Mapping[str, Any], inventory: Inventory) -> Decision:
    """The response level for a flat alert (dotted names)."""
    order = [lv.name for lv in inventory.response_levels]
    if not order:
        raise ContentError("no response levels", where=f"{inventory.source}/response_levels.yml")
    rank = {name: i for i, name in enumerate(order)}
    severity = str(alert.get("kibana.alert.severity") or "low")
    risk = float(alert.get("kibana.alert.risk_score") or 0)
    tier = tier_of(alert, inventory)
    by_sev = dict(inventory.level_by_severity)
    level = by_sev.get(severity, order[0])
    reasons = [f"severity {severity} → {level}"]
    for name, least in sorted(inventory.level_by_risk_score, key=lambda x: rank[x[0]]):
        if risk >= least and rank[name] > rank[level]:
            level = name
            reasons.append(f"risk score {risk:g} ≥ {least} → {name}")
    ceiling = dict(inventory.level_by_tier).get(tier)
    if ceiling and rank[level] > rank[ceiling]:
        level = ceiling
        reasons.append(f"tier {tier} caps at {ceiling}")
    floor = dict(inventory.level_floor_by_tier).get(tier)
    if floor and rank[level] < rank[floor]:
        level = floor
        reasons.append(f"tier {tier} raises to {floor}")
    actions = next(lv.actions for lv in inventory.response_levels if lv.name == level)
    return Decision(level, tier, tuple(reasons), actions)
