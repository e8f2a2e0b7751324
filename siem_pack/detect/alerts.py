"""Stage 3 → 4: the one alert shape both runners return, and where alerts are written
(the DuckDB `alerts` table; the Elasticsearch index `siem-pack-alerts`, create-only), both
through the storage ports (siem_pack.backends: `Store.write_rows` / `search_all`,
`es.write_each` / `es.write` / `es.search_all`).

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
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..backends import es
from ..backends.duckdb import Store
from ..backends.indices import ALERTS_INDEX
from ..doc import flatten, unflatten
from ..errors import ClusterError
from ..times import format_ts, parse_ts
from . import episodes
from .rules import ENTITY_FIELDS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from .rules import Rule

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
    rows = [_row(a) for a in alerts]
    if not rows:
        return 0, 0
    stored = store.write_rows("alerts", rows, on_conflict="nothing")
    return stored, len(rows) - stored


def _row(a: Mapping[str, Any]) -> dict[str, Any]:
    """The `alerts` row of a flat alert: the columns of ALERTS_DDL, then the whole document."""
    return {"kibana.alert.uuid": a["kibana.alert.uuid"], "@timestamp": parse_ts(a["@timestamp"]),
            "kibana.alert.rule.rule_id": a["kibana.alert.rule.rule_id"],
            "kibana.alert.rule.name": a["kibana.alert.rule.name"], "kibana.alert.rule.type": a["kibana.alert.rule.type"],
            "kibana.alert.severity": a["kibana.alert.severity"], "kibana.alert.risk_score": a["kibana.alert.risk_score"],
            "kibana.alert.original_time": parse_ts(a["kibana.alert.original_time"]),
            "kibana.alert.ancestors": list(a["kibana.alert.ancestors"]),
            "kibana.alert.workflow_status": a["kibana.alert.workflow_status"],
            "kibana.alert.reason": a.get("kibana.alert.reason"), "user.id": a.get("user.id"),
            "siem_pack.api_key.id": a.get("siem_pack.api_key.id"), "gen_ai.request.model": a.get("gen_ai.request.model"),
            "source.ip": a.get("source.ip"), "doc": json.dumps(to_doc(a), sort_keys=True, default=str)}


def _advance_duckdb(store: Store, alerts: Sequence[Mapping[str, Any]]) -> int:
    """Update stored episodes that `alerts` extend; returns how many changed."""
    eps = {str(a["kibana.alert.uuid"]): a for a in alerts if episodes.INSTANCE_ID in a}
    if not eps:
        return 0
    stored = list(store.search_all("alerts", 'list_contains(?, "kibana.alert.uuid")', [list(eps)],
                                   order=("kibana.alert.uuid",)))
    changed = 0
    for doc in stored:
        uid = str(doc["kibana"]["alert"]["uuid"])
        new = episodes.merge(flatten(doc), eps[uid])
        if new is not None:
            _deep_update(doc, unflatten(new))
            # an update of one column in place: the port has no partial update of a row
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
    docs = store.search_all("alerts", '"@timestamp" >= ?', [since], order=("@timestamp", "kibana.alert.uuid"))
    return [a for a in (flatten(d) for d in docs) if episodes.INSTANCE_ID in a]


def episodes_es(client: Elasticsearch, since: datetime, index: str = ALERTS_INDEX) -> list[dict[str, Any]]:
    """The same on Elasticsearch (every hit, through a point in time)."""
    if not client.indices.exists(index=index):
        return []
    query = {"bool": {"filter": [{"range": {"@timestamp": {"gte": format_ts(since)}}},
                                 {"exists": {"field": episodes.INSTANCE_ID}}]}}
    return [flatten(h["_source"]) for h in es.search_all(client, index, query)]


def write_es(client: Elasticsearch, alerts: Iterable[Mapping[str, Any]], index: str = ALERTS_INDEX) -> tuple[int, int]:
    """Create-only bulk write (the _id is the alert uuid); returns (stored, already_present).
    An alert already present (409) that extends a stored episode advances it (`_advance_es`)."""
    # A node that refuses the mapping (400: one without `match_only_text`, as the test node)
    # gets the index from the first write, mapped dynamically, as it always has.
    with suppress(ClusterError):
        es.ensure_index(client, index, {"mappings": ALERT_MAPPING})
    alerts_list = list(alerts)
    if not alerts_list:
        return 0, 0
    outcomes = list(es.write_each(client, index, [to_doc(a) for a in alerts_list], op="create",
                                  id_of="kibana.alert.uuid", refresh="wait_for"))
    refused = [o for o in outcomes if not o.stored and not o.present]
    if refused:
        raise ClusterError(f"alert write failed: {refused[0].error}", where=index)
    conflicts = {o.id for o in outcomes if o.present}  # by _id, not position: a retried (429) item comes last
    _advance_es(client, index, [a for a in alerts_list if str(a["kibana.alert.uuid"]) in conflicts])
    return sum(o.stored for o in outcomes), sum(o.present for o in outcomes)


def _advance_es(client: Elasticsearch, index: str, alerts: Sequence[Mapping[str, Any]]) -> int:
    """Update stored episodes that `alerts` extend (partial updates of the suppression fields,
    each naming its alert by `kibana.alert.uuid`, which never changes: the rules job's role has
    `index` on the alerts index for this); returns how many changed."""
    eps = {str(a["kibana.alert.uuid"]): a for a in alerts if episodes.INSTANCE_ID in a}
    if not eps:
        return 0
    changes: list[dict[str, Any]] = []
    uids = list(eps)
    for i in range(0, len(uids), 1000):
        # a realtime get by id (the stored copies), not a search: the port has no mget
        for d in client.mget(index=index, ids=uids[i:i + 1000])["docs"]:
            if not d.get("found"):
                continue
            new = episodes.merge(flatten(d["_source"]), eps[str(d["_id"])])
            if new is not None:
                changes.append(unflatten({**new, "kibana.alert.uuid": str(d["_id"])}))
    if not changes:
        return 0
    written = es.write(client, index, changes, op="update", id_of="kibana.alert.uuid", refresh="wait_for")
    if written.refused:
        raise ClusterError(f"episode update failed: {written.refused[0].error}", where=index)
    return written.stored
