"""Stage 3 → 4 payloads: a rule's `[rule]` table → the Kibana detection-engine rule API body, and
its allow-list exceptions → Kibana exception lists and items; all validated with our own
schemas (`schema/kibana/rule.yml`, one per rule type, and `exception.yml`; closed;
siem_pack.kibana_schema). Nothing here reads Kibana's published contracts: the conformance
tests check our payloads and our schemas against them (tests/support/contracts.py).

Conversions (TOML → API): new_terms {field, value, history_window_start[]} →
new_terms_fields + history_window_start; ATLAS tags → `threat` (framework MITRE ATLAS);
allow-list exceptions → `exceptions_list` references to one list per rule.
Neighbours: rules.py (input), export.py (the NDJSON and Splunk files), siem_pack.deploy.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from .. import kibana_schema
from ..errors import ContentError, SiemPackError, collect
from ..times import format_ts
from .rules import AllowEntry, Rule, Vocabulary, exceptions_for, load_vocabulary

LIST_NAMESPACE = uuid.UUID("0f6bd4f4-7d0e-4c53-9a7e-3e3c1f2b9d10")
RULE_SCHEMA = "rule"  # schema/kibana/rule.yml
EXCEPTION_SCHEMA = "exception"  # schema/kibana/exception.yml


def list_id(rule: Rule) -> str:
    return f"siem-pack-{rule.stem.replace('_', '-')}"


def list_ref(rule: Rule) -> dict[str, str]:
    """The rule's reference to its exception list (deterministic saved-object id)."""
    lid = list_id(rule)
    return {"id": str(uuid.uuid5(LIST_NAMESPACE, lid)), "list_id": lid, "namespace_type": "single",
            "type": "detection"}


def threat(rule: Rule, vocab: Vocabulary) -> list[dict[str, Any]]:
    by_tactic: dict[str, list[dict[str, str]]] = {}
    for tag in rule.tags:
        tech = vocab.atlas_techniques.get(tag)
        if tech is None:
            continue
        by_tactic.setdefault(tech["tactic"], []).append(
            {"id": tag, "name": tech["name"], "reference": f"https://atlas.mitre.org/techniques/{tag}/"})
    return [{"framework": "MITRE ATLAS",
             "tactic": {"id": t, "name": vocab.atlas_tactics.get(t, t), "reference": f"https://atlas.mitre.org/tactics/{t}/"},
             "technique": techs} for t, techs in sorted(by_tactic.items())]


def api_body(rule: Rule, entries: Sequence[AllowEntry] = (), vocab: Vocabulary | None = None) -> dict[str, Any]:
    """The POST /api/detection_engine/rules body (also one line of the _import NDJSON)."""
    vocab = vocab or load_vocabulary()
    body = copy.deepcopy(dict(rule.body))
    nt = body.pop("new_terms", None)
    if nt is not None:
        body["new_terms_fields"] = list(nt["value"])
        body["history_window_start"] = nt["history_window_start"][0]["value"]
    t = threat(rule, vocab)
    if t:
        body["threat"] = t
    if exceptions_for(rule, entries):
        body["exceptions_list"] = [list_ref(rule)]
    body.setdefault("enabled", True)
    body.setdefault("version", 1)
    return body


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
                item["expire_time"] = format_ts(e.expires)
            out.append(item)
    return out


def validate(body: dict[str, Any], schema: str = RULE_SCHEMA) -> list[str]:
    """Problems of one payload against our schema for its `type` (empty = valid), as
    `path: message`: a rule body against rule.yml, an exception list or item against
    exception.yml (`schema="exception"`)."""
    kind = body.get("type")
    validator = kibana_schema.validator(schema, kind) if isinstance(kind, str) else None
    if validator is None:
        return [f"type: {kind!r} unsupported; known: {', '.join(kibana_schema.kinds(schema))}"]
    return kibana_schema.problems(validator, body)


def build(rules: Sequence[Rule], entries: Sequence[AllowEntry] = ()) -> list[dict[str, Any]]:
    """The API bodies of `rules`, each validated with our rule schema, and their exception
    lists and items with our exception schema. Raises ContentErrors listing every problem,
    each with its file: the rule's (a body or a list), the exception's (an item)."""
    vocab = load_vocabulary()
    problems: list[SiemPackError] = []
    bodies = []
    for r in rules:
        body = api_body(r, entries, vocab)
        problems += [ContentError(f"API body fails schema/kibana/{RULE_SCHEMA}.yml ({r.type}): {err}",
                                  where=str(r.path)) for err in validate(body)]
        mine = exceptions_for(r, entries)
        origins = [r.path, *(e.path for e in mine)] if mine else []  # the list, then its items
        for obj, origin in zip(exception_objects([r], entries), origins, strict=True):
            what = f"exception item {obj['item_id']}" if "item_id" in obj else f"exception list {obj['list_id']}"
            problems += [ContentError(f"{what} fails schema/kibana/{EXCEPTION_SCHEMA}.yml: {err}", where=str(origin))
                         for err in validate(obj, EXCEPTION_SCHEMA)]
        bodies.append(body)
    collect(problems)
    return bodies
