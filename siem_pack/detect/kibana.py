"""Stage 4 payloads: a rule's `[rule]` table → the Kibana detection-engine rule API body,
and both validated: the TOML table against detection-rules' per-version rule schemas
(../shared/contracts/kibana-rule-schemas/{8.19,9.5}), the API body against Kibana's
detections OpenAPI spec (../shared/contracts/kibana-openapi/detections). No Kibana server
runs here: these schema checks are the whole proof.

Conversions (TOML → API): new_terms {field, value, history_window_start[]} →
new_terms_fields + history_window_start; ATLAS tags → `threat` (framework MITRE ATLAS);
allow-list exceptions → `exceptions_list` references (export.py writes the lists).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ContentError, SiemPackError, collect
from ..paths import contracts_dir
from .rules import AllowEntry, Rule, Vocabulary, exceptions_for, load_vocabulary

SCHEMA_VERSIONS = ("8.19", "9.5")
LIST_NAMESPACE = uuid.UUID("0f6bd4f4-7d0e-4c53-9a7e-3e3c1f2b9d10")
OPENAPI_CREATE = {"query": "QueryRuleCreateProps", "threshold": "ThresholdRuleCreateProps", "eql": "EqlRuleCreateProps",
                  "new_terms": "NewTermsRuleCreateProps", "esql": "EsqlRuleCreateProps"}


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


def toml_for_schema(rule: Rule) -> dict[str, Any]:
    """The [rule] table as the detection-rules schemas model it. One known defect of those
    generated schemas is worked around: they drop `value` from new_terms.history_window_start
    items (detection-rules' own dataclass has it), so it is removed before validation."""
    body = copy.deepcopy(dict(rule.body))
    for item in body.get("new_terms", {}).get("history_window_start", []):
        item.pop("value", None)
    return body


@lru_cache(maxsize=32)
def _rule_schema(root: str, version: str, rtype: str) -> dict[str, Any]:
    p = Path(root) / "kibana-rule-schemas" / version / f"{version}.{rtype}.json"
    try:
        return dict(json.loads(p.read_text()))
    except OSError as exc:
        raise ContentError(f"rule schema missing: {exc}", where=str(p)) from exc


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    return _messages(cls(schema), instance)


def _messages(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(str(x) for x in e.absolute_path) or '<root>'}: {e.message}" for e in
            sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def validate_toml(rule: Rule, version: str, root: Path | None = None) -> list[str]:
    return _errors(_rule_schema(str(root or contracts_dir()), version, rule.type), toml_for_schema(rule))


def validate_api(body: dict[str, Any], root: Path | None = None) -> list[str]:
    from ..testing.openapi import kibana_spec  # the contract checks' own loader (cached)

    spec = kibana_spec(root or contracts_dir(), "detections")
    return _messages(spec.component(OPENAPI_CREATE[body["type"]]), body)


def build(rules: Sequence[Rule], entries: Sequence[AllowEntry] = (), root: Path | None = None) -> list[dict[str, Any]]:
    """Validate every rule against both schema versions and the API spec; return the API
    bodies. Raises ContentErrors listing every failure (rule file and schema named)."""
    vocab = load_vocabulary()
    problems: list[SiemPackError] = []
    bodies = []
    for r in rules:
        for v in SCHEMA_VERSIONS:
            for err in validate_toml(r, v, root):
                problems.append(ContentError(f"[rule] fails the {v} {r.type} schema: {err}", where=str(r.path)))
        body = api_body(r, entries, vocab)
        for err in validate_api(body, root):
            problems.append(ContentError(f"API body fails {OPENAPI_CREATE[r.type]}: {err}", where=str(r.path)))
        bodies.append(body)
    collect(problems)
    return bodies
