"""Stage 4 input: the one alert shape both runners return, and where alerts are written
(the DuckDB `alerts` table; the Elasticsearch index `siem-pack-alerts`, create-only).

Field names are Kibana's (DESIGN.md "Shared contracts"). `kibana.alert.uuid` is a hash of
rule id + grouping values + source event ids, so a re-run or an overlapping window yields
the same id and writes nothing new. Readers: cases, metrics (MTTD), response, dashboards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError
from ..store import Store, parse_ts, unflatten
from .rules import ENTITY_FIELDS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from .rules import Rule

ALERTS_INDEX = "siem-pack-alerts"
MAX_ANCESTORS = 100

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    "kibana.alert.uuid" VARCHAR PRIMARY KEY,
    "@timestamp" TIMESTAMP,
    "kibana.alert.rule.rule_id" VARCHAR,
    "kibana.alert.rule.name" VARCHAR,
    "kibana.alert.rule.type" VARCHAR,
    "kibana.alert.severity" VARCHAR,
    "kibana.alert.risk_score" INTEGER,
    "kibana.alert.original_time" TIMESTAMP,
    "kibana.alert.ancestors" VARCHAR[],
    "kibana.alert.workflow_status" VARCHAR,
    "kibana.alert.reason" VARCHAR,
    "user.id" VARCHAR,
    "siem_pack.api_key.id" VARCHAR,
    "gen_ai.request.model" VARCHAR,
    "source.ip" VARCHAR,
    doc JSON
)"""

ALERT_MAPPING: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "kibana": {"properties": {"alert": {"properties": {
            "uuid": {"type": "keyword"},
            "rule": {"properties": {"rule_id": {"type": "keyword"}, "name": {"type": "keyword"},
                                    "type": {"type": "keyword"}}},
            "severity": {"type": "keyword"},
            "risk_score": {"type": "float"},
            "original_time": {"type": "date"},
            "ancestors": {"type": "keyword"},
            "workflow_status": {"type": "keyword"},
            "reason": {"type": "match_only_text"},
            "threshold_result": {"properties": {"count": {"type": "long"}, "cardinality": {"type": "long"}}},
            "group": {"type": "flattened"},
        }}}},
        "user": {"properties": {"id": {"type": "keyword"}}},
        "siem_pack": {"properties": {"api_key": {"properties": {"id": {"type": "keyword"}}}}},
        "gen_ai": {"properties": {"request": {"properties": {"model": {"type": "keyword"}}}}},
        "source": {"properties": {"ip": {"type": "ip"}}},
    }
}


def iso_ms(value: Any) -> str:
    """Any timestamp → `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC, milliseconds, as Elasticsearch keeps)."""
    dt = parse_ts(value)
    assert dt is not None
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def alert_uuid(rule_id: str, group: Mapping[str, Any], ancestors: Sequence[str]) -> str:
    blob = json.dumps([rule_id, sorted((k, str(v)) for k, v in group.items()), sorted(ancestors)])
    return hashlib.sha256(blob.encode()).hexdigest()


def make_alert(rule: Rule, tick: datetime, group: Mapping[str, Any], ancestors: Sequence[str],
               original_time: Any, entity_doc: Mapping[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One alert as a flat dict of dotted names. `group` holds the values grouped on;
    entity fields not grouped on come from `entity_doc` (the source event, flattened)."""
    ancestors = list(ancestors)[:MAX_ANCESTORS]
    alert: dict[str, Any] = {
        "@timestamp": iso_ms(tick),
        "kibana.alert.uuid": alert_uuid(rule.rule_id, group, ancestors),
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.type": rule.type,
        "kibana.alert.severity": rule.severity,
        "kibana.alert.risk_score": rule.risk_score,
        "kibana.alert.original_time": iso_ms(original_time),
        "kibana.alert.ancestors": ancestors,
        "kibana.alert.workflow_status": "open",
    }
    ent = dict(entity_doc or {})
    for f in ENTITY_FIELDS:
        v = group.get(f, ent.get(f))
        if v is not None and not isinstance(v, (list, dict)):
            alert[f] = v
    if group:
        alert["kibana.alert.group"] = {k: v for k, v in sorted(group.items())}
        desc = ", ".join(f"{k}={v}" for k, v in sorted(group.items()))
    else:
        desc = "all events"
    alert["kibana.alert.reason"] = f"{rule.name} for {desc}"
    alert.update(extra or {})
    return alert


def to_doc(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The nested ECS document of a flat alert."""
    group = alert.get("kibana.alert.group")
    flat = {k: v for k, v in alert.items() if k != "kibana.alert.group"}
    doc = unflatten(flat)
    if group is not None:
        doc["kibana"]["alert"]["group"] = group
    return doc


def write_duckdb(store: Store, alerts: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """Create-only insert into `alerts`; returns (stored, already_present)."""
    store.ensure_table(ALERTS_DDL)
    rows = [
        (a["kibana.alert.uuid"], parse_ts(a["@timestamp"]), a["kibana.alert.rule.rule_id"], a["kibana.alert.rule.name"],
         a["kibana.alert.rule.type"], a["kibana.alert.severity"], a["kibana.alert.risk_score"],
         parse_ts(a["kibana.alert.original_time"]), list(a["kibana.alert.ancestors"]),
         a["kibana.alert.workflow_status"], a.get("kibana.alert.reason"), a.get("user.id"),
         a.get("siem_pack.api_key.id"), a.get("gen_ai.request.model"), a.get("source.ip"),
         json.dumps(to_doc(a), sort_keys=True, default=str))
        for a in alerts
    ]
    if not rows:
        return 0, 0
    before = store.count("alerts")
    store.con.executemany(f"INSERT INTO alerts VALUES ({', '.join(['?'] * 16)}) ON CONFLICT DO NOTHING", rows)
    stored = store.count("alerts") - before
    return stored, len(rows) - stored


def write_es(client: Elasticsearch, alerts: Iterable[Mapping[str, Any]], index: str = ALERTS_INDEX) -> tuple[int, int]:
    """Create-only bulk write (the _id is the alert uuid); returns (stored, already_present)."""
    if not client.indices.exists(index=index):
        client.options(ignore_status=[400]).indices.create(index=index, mappings=ALERT_MAPPING)
    ops: list[dict[str, Any]] = []
    for a in alerts:
        ops.append({"create": {"_index": index, "_id": a["kibana.alert.uuid"]}})
        ops.append(to_doc(a))
    if not ops:
        return 0, 0
    resp = client.bulk(operations=ops, refresh="wait_for")
    stored = present = 0
    for item in resp["items"]:
        status = item["create"]["status"]
        if status in (200, 201):
            stored += 1
        elif status == 409:
            present += 1
        else:
            raise ClusterError(f"alert write failed: {item['create'].get('error')}", where=index)
    return stored, present


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
