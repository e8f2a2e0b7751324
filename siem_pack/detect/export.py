"""Stage 4 export: the NDJSON Kibana's rule import (`POST /api/detection_engine/rules/_import`)
takes (rules, then our allow-list exceptions as exception lists and items, so imported
rules honour them), and a best-effort Splunk `savedsearches.conf`.

Splunk: query and threshold rules map to SPL (`search` + `stats ... | where`); new_terms,
eql sequences and the ES|QL silence rule do not map and are listed as such. Checked
statically only (no Splunk here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .alerts import iso_ms
from .kibana import api_body, list_id, list_ref
from .kuery import RANGE_SYMBOLS, And, Exists, MatchAll, Node, Not, Or, Range, Term, Wildcard
from .rules import AllowEntry, Rule, exceptions_for, load_exceptions, load_rules, load_vocabulary


def exception_objects(rules: Sequence[Rule], entries: Sequence[AllowEntry]) -> list[dict[str, Any]]:
    """Exception lists (one per rule that has entries) and their items, as Kibana exports them."""
    out: list[dict[str, Any]] = []
    for r in rules:
        mine = exceptions_for(r, entries)
        if not mine:
            continue
        ref = list_ref(r)
        out.append({"id": ref["id"], "list_id": ref["list_id"], "name": f"siem-pack: {r.name}",
                    "description": f"Allow-list entries for {r.stem} (detections/exceptions/)", "type": "detection",
                    "namespace_type": "single", "tags": ["siem-pack"], "os_types": []})
        for e in mine:
            item = {"item_id": f"{e.item_id}--{r.stem}", "list_id": list_id(r), "name": e.name, "description": e.reason,
                    "type": "simple", "namespace_type": "single", "tags": ["siem-pack"], "os_types": [],
                    "comments": [], "entries": [{"field": f, "operator": "included", "type": "match", "value": v}
                                                for f, v in e.match]}
            if e.expires is not None:
                item["expire_time"] = iso_ms(e.expires)
            out.append(item)
    return out


def import_objects(rules: Sequence[Rule], entries: Sequence[AllowEntry] = ()) -> list[dict[str, Any]]:
    """The objects of a rule import, in order: rule bodies, then exception lists and items."""
    vocab = load_vocabulary()
    return [api_body(r, entries, vocab) for r in rules] + exception_objects(rules, entries)


def import_lines() -> list[dict[str, Any]]:
    """Every rule and exception of the bundle as import objects (what deploy sends)."""
    return import_objects(load_rules(), load_exceptions())


def kibana_ndjson(rules: Sequence[Rule], entries: Sequence[AllowEntry] = ()) -> str:
    return "\n".join(json.dumps(o, sort_keys=True) for o in import_objects(rules, entries)) + "\n"


# -- Splunk --------------------------------------------------------------------------------
def _spl_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_spl(node: Node) -> str:
    if isinstance(node, MatchAll):
        return "*"
    if isinstance(node, Term):
        return f"{node.field}={_spl_value(node.value)}"
    if isinstance(node, Wildcard):
        return f"{node.field}={_spl_value(node.pattern)}"
    if isinstance(node, Exists):
        return f"{node.field}=*"
    if isinstance(node, Range):
        return f"{node.field}{RANGE_SYMBOLS[node.op]}{node.value}"
    if isinstance(node, And):
        return "(" + " AND ".join(to_spl(i) for i in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(to_spl(i) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT {to_spl(node.item)}"
    raise TypeError(node)


def splunk_search(rule: Rule, entries: Sequence[AllowEntry] = ()) -> str | None:
    """The SPL of a rule, or None when its logic does not map."""
    if rule.type not in ("query", "threshold") or rule.query is None:
        return None
    parts = ["search `siem_pack_events`", to_spl(rule.query.ast)]
    for e in exceptions_for(rule, entries):
        parts.append("NOT (" + " AND ".join(f"{f}={_spl_value(v)}" for f, v in e.match) + ")")
    spl = " ".join(parts)
    thr = rule.threshold
    if thr is not None:
        by = f" by {', '.join(thr.fields)}" if thr.fields else ""
        conds = [f"count>={thr.value}"]
        dc = ""
        if thr.cardinality_field:
            dc = f" dc({thr.cardinality_field}) as cardinality"
            conds.append(f"cardinality>={thr.cardinality_value}")
        spl += f" | stats count{dc}{by} | where {' AND '.join(conds)}"
    return spl


def _minutes(rule: Rule) -> int:
    return max(1, int(rule.interval.total_seconds() // 60))


def splunk_conf(rules: Sequence[Rule], entries: Sequence[AllowEntry] = ()) -> tuple[str, list[str]]:
    """(savedsearches.conf text, stems of rules that do not map)."""
    stanzas = ["# siem-pack detections for Splunk (best effort; generated by `siem-pack rules export`).",
               "# Define the macro `siem_pack_events` to select the ECS-shaped AI access events.", ""]
    unmapped = []
    for r in rules:
        spl = splunk_search(r, entries)
        if spl is None:
            unmapped.append(r.stem)
            continue
        lb = int(r.lookback.total_seconds() // 60)
        stanzas += [
            f"[siem-pack: {r.name}]",
            f"search = {spl}",
            f"description = {r.body.get('description', '')}",
            f"cron_schedule = */{_minutes(r)} * * * *" if _minutes(r) < 60 else f"cron_schedule = 0 */{_minutes(r) // 60} * * *",
            f"dispatch.earliest_time = -{lb}m",
            "dispatch.latest_time = now",
            "enableSched = 1",
            "counttype = number of events",
            "relation = greater than",
            "quantity = 0",
            f"alert.severity = {({'low': 2, 'medium': 3, 'high': 4, 'critical': 5})[r.severity]}",
            f"action.siem_pack.param.rule_id = {r.rule_id}",
            "",
        ]
    stanzas.append("# Not mapped (no SPL equivalent kept honest here): " + (", ".join(unmapped) or "none"))
    return "\n".join(stanzas) + "\n", unmapped
