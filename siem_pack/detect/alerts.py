"""Stage 4 input: the one alert shape both runners return, and where alerts are written
(the DuckDB `alerts` table; the Elasticsearch index `siem-pack-alerts`, create-only).

Field names are Kibana's (DESIGN.md "Shared contracts"). `kibana.alert.uuid` is a hash of
rule id + grouping values + source event ids, so a re-run or an overlapping window yields
the same id and writes nothing new. Rules with `alert_suppression` write one alert per
episode (episodes.py): a stored episode that later alerts extend is updated in place, its
suppression fields only (`kibana.alert.suppression.*`, `kibana.alert.last_detected`), as
Kibana does. Readers: cases, metrics (MTTD), response, dashboards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..doc import flatten, unflatten
from ..errors import ClusterError
from ..store import Store
from ..times import format_ts, parse_ts
from . import episodes
from .rules import ENTITY_FIELDS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from .rules import Rule

ALERTS_INDEX = "siem-pack-alerts"
MAX_ANCESTORS = 100
# copied from the source event when it has them: what the episode ranking reads
CONTEXT_FIELDS = ("siem_pack.model.tier", "siem_pack.anomaly.risk_score")

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
            "instance": {"properties": {"id": {"type": "keyword"}}},
            "last_detected": {"type": "date"},
            "suppression": {"properties": {
                "terms": {"properties": {"field": {"type": "keyword"}, "value": {"type": "keyword"}}},
                "start": {"type": "date"}, "end": {"type": "date"}, "docs_count": {"type": "long"}}},
        }}}},
        "user": {"properties": {"id": {"type": "keyword"}}},
        "siem_pack": {"properties": {"api_key": {"properties": {"id": {"type": "keyword"}}}}},
        "gen_ai": {"properties": {"request": {"properties": {"model": {"type": "keyword"}}}}},
        "source": {"properties": {"ip": {"type": "ip"}}},
    }
}


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
        "@timestamp": format_ts(tick),
        "kibana.alert.uuid": alert_uuid(rule.rule_id, group, ancestors),
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.type": rule.type,
        "kibana.alert.severity": rule.severity,
        "kibana.alert.risk_score": rule.risk_score,
        "kibana.alert.original_time": format_ts(original_time),
        "kibana.alert.ancestors": ancestors,
        "kibana.alert.workflow_status": "open",
    }
    ent = dict(entity_doc or {})
    for f in ENTITY_FIELDS:
        v = group.get(f, ent.get(f))
        if v is not None and not isinstance(v, (list, dict)):
            alert[f] = v
    for f in CONTEXT_FIELDS:
        v = ent.get(f)
        if v is not None and not isinstance(v, (list, dict)):
            alert[f] = v
    if group:
        alert["kibana.alert.group"] = {k: v for k, v in sorted(group.items())}
        desc = ", ".join(f"{k}={v}" for k, v in sorted(group.items()))
    else:
        desc = "all events"
    alert["kibana.alert.reason"] = f"{rule.name} for {desc}"
    alert.update(extra or {})
    episodes.annotate(rule, alert, group, ent)
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
    """Create-only insert into `alerts`; returns (stored, already_present). An episode
    already present has its suppression fields advanced (episodes.merge)."""
    store.ensure_table(ALERTS_DDL)
    alerts = list(alerts)
    _advance_duckdb(store, alerts)
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


def _advance_duckdb(store: Store, alerts: Sequence[Mapping[str, Any]]) -> int:
    """Update stored episodes that `alerts` extend; returns how many changed."""
    eps = {str(a["kibana.alert.uuid"]): a for a in alerts if episodes.INSTANCE_ID in a}
    if not eps:
        return 0
    rows = store.con.execute('SELECT "kibana.alert.uuid", doc FROM alerts WHERE list_contains(?, "kibana.alert.uuid")',
                             [list(eps)]).fetchall()
    changed = 0
    for uid, text in rows:
        doc = json.loads(text)
        new = episodes.merge(flatten(doc), eps[uid])
        if new is not None:
            _deep_update(doc, unflatten(new))
            store.con.execute('UPDATE alerts SET doc = ? WHERE "kibana.alert.uuid" = ?',
                              [json.dumps(doc, sort_keys=True, default=str), uid])
            changed += 1
    return changed


def _deep_update(doc: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for k, v in changes.items():
        if isinstance(v, Mapping) and isinstance(doc.get(k), dict):
            _deep_update(doc[k], v)
        else:
            doc[k] = v


def episodes_duckdb(store: Store, since: datetime) -> list[dict[str, Any]]:
    """Stored episodes (alerts with suppression terms) raised at or after `since`, flat."""
    store.ensure_table(ALERTS_DDL)
    rows = store.con.execute('SELECT doc FROM alerts WHERE "@timestamp" >= ? ORDER BY "@timestamp", '
                             '"kibana.alert.uuid"', [since]).fetchall()
    return [a for a in (flatten(json.loads(r[0])) for r in rows) if episodes.INSTANCE_ID in a]


def episodes_es(client: Elasticsearch, since: datetime, index: str = ALERTS_INDEX) -> list[dict[str, Any]]:
    """The same on Elasticsearch (every hit, through a point in time)."""
    from ..backends.es import search_all

    if not client.indices.exists(index=index):
        return []
    query = {"bool": {"filter": [{"range": {"@timestamp": {"gte": format_ts(since)}}},
                                 {"exists": {"field": episodes.INSTANCE_ID}}]}}
    return [flatten(h["_source"]) for h in search_all(client, index, query)]


def write_es(client: Elasticsearch, alerts: Iterable[Mapping[str, Any]], index: str = ALERTS_INDEX) -> tuple[int, int]:
    """Create-only bulk write (the _id is the alert uuid); returns (stored, already_present)."""
    if not client.indices.exists(index=index):
        client.options(ignore_status=[400]).indices.create(index=index, mappings=ALERT_MAPPING)
    alerts_list = list(alerts)
    ops: list[dict[str, Any]] = []
    for a in alerts_list:
        ops.append({"create": {"_index": index, "_id": a["kibana.alert.uuid"]}})
        ops.append(to_doc(a))
    if not ops:
        return 0, 0
    resp = client.bulk(operations=ops, refresh="wait_for")
    stored = present = 0
    conflicts: list[str] = []
    for item in resp["items"]:
        status = item["create"]["status"]
        if status in (200, 201):
            stored += 1
        elif status == 409:
            present += 1
            conflicts.append(str(item["create"]["_id"]))
        else:
            raise ClusterError(f"alert write failed: {item['create'].get('error')}", where=index)
    _advance_es(client, index, [a for a in alerts_list if str(a["kibana.alert.uuid"]) in set(conflicts)])
    return stored, present


def _advance_es(client: Elasticsearch, index: str, alerts: Sequence[Mapping[str, Any]]) -> int:
    """Update stored episodes that `alerts` extend (partial updates of the suppression fields:
    the rules job's role has `index` on the alerts index for this); returns how many changed."""
    eps = {str(a["kibana.alert.uuid"]): a for a in alerts if episodes.INSTANCE_ID in a}
    if not eps:
        return 0
    ops: list[dict[str, Any]] = []
    uids = list(eps)
    for i in range(0, len(uids), 1000):
        for d in client.mget(index=index, ids=uids[i:i + 1000])["docs"]:
            if not d.get("found"):
                continue
            new = episodes.merge(flatten(d["_source"]), eps[str(d["_id"])])
            if new is not None:
                ops += [{"update": {"_index": index, "_id": d["_id"]}}, {"doc": unflatten(new)}]
    if not ops:
        return 0
    resp = client.bulk(operations=ops, refresh="wait_for")
    bad = [i["update"].get("error") for i in resp["items"] if i["update"].get("status") not in (200, 201)]
    if bad:
        raise ClusterError(f"episode update failed: {bad[0]}", where=index)
    return len(ops) // 2
