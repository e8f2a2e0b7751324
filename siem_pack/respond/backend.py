"""Stage 5 storage: where response reads alerts, events and anomalies, and writes receipts,
workflow changes and metrics; the embedded DuckDB store or an Elasticsearch cluster.

Embedded tables: `alerts` (siem_pack.detect.alerts), `events`, `anomalies` (read);
`actions` (receipts, create-only), `alert_workflow` (workflow changes, create-only), `metrics`
(idempotent by id). Elasticsearch indices (each with the deploy `--prefix` in front):
`siem-pack-alerts`, `logs-siem_pack.*`, `siem-pack-anomalies` (read); `siem-pack-actions`
and `siem-pack-alert-workflow` (create-only: the alerts index stays the rules job's,
create-only); `siem-pack-metrics` (index by id). Neighbours: respond.py, cases.py,
workflow.py and metrics.py call these; integrity gives the seal sources (`integrity()`).

On Elasticsearch every read that can grow with the data (alerts, source events, anomalies,
receipts, workflow changes) goes through siem_pack.backends.es.search_all (a point in time
paged with `search_after`), so none stops at the 10,000-hit window; only the one alert by
id and the case timeline's first `limit` events are single bounded searches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.es import TIME_ORDER, by, search_all
from ..detect.alerts import ALERTS_DDL, ALERTS_INDEX
from ..doc import flatten
from ..errors import ClusterError, InputError
from ..settings import ClusterSettings
from ..store import Store
from ..times import format_ts, parse_ts

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ..integrity.seals import EventSource, SealStore

ACTIONS_INDEX = "siem-pack-actions"
WORKFLOW_INDEX = "siem-pack-alert-workflow"
METRICS_INDEX = "siem-pack-metrics"
ANOMALIES_INDEX = "siem-pack-anomalies"
EVENTS_INDEX = "logs-siem_pack.*"
SEALS_INDEX = "siem-pack-seals"
IDS_PER_QUERY = 10_000  # event ids per `terms` query (index.max_terms_count is 65,536)

# columns carry the documents' dotted field names (as the `events` table does), so the
# static report's filters read them; `doc` holds the whole document
ACTIONS_DDL = """
CREATE TABLE IF NOT EXISTS actions (
    "siem_pack.action.receipt_id" VARCHAR PRIMARY KEY,
    "@timestamp" TIMESTAMP,
    "kibana.alert.uuid" VARCHAR,
    "siem_pack.action.name" VARCHAR,
    "siem_pack.action.operation" VARCHAR,
    "siem_pack.action.dry_run" BOOLEAN,
    "siem_pack.action.actor" VARCHAR,
    "siem_pack.action.result" VARCHAR,
    doc JSON
)"""

WORKFLOW_DDL = """
CREATE TABLE IF NOT EXISTS alert_workflow (
    "siem_pack.workflow.id" VARCHAR PRIMARY KEY,
    "@timestamp" TIMESTAMP,
    "kibana.alert.uuid" VARCHAR,
    "siem_pack.workflow.from_status" VARCHAR,
    "siem_pack.workflow.to_status" VARCHAR,
    "siem_pack.workflow.actor" VARCHAR,
    "siem_pack.workflow.reason" VARCHAR,
    doc JSON
)"""

METRICS_DDL = """
CREATE TABLE IF NOT EXISTS metrics (
    "siem_pack.metric.id" VARCHAR PRIMARY KEY,
    "@timestamp" TIMESTAMP,
    "siem_pack.metric.name" VARCHAR,
    "siem_pack.metric.value" DOUBLE,
    "siem_pack.metric.unit" VARCHAR,
    "siem_pack.metric.scope" VARCHAR,
    "siem_pack.metric.count" BIGINT,
    doc JSON
)"""


@dataclass(frozen=True)
class Indices:
    """Elasticsearch names, each with the deploy prefix in front."""

    alerts: str = ALERTS_INDEX
    events: str = EVENTS_INDEX
    anomalies: str = ANOMALIES_INDEX
    actions: str = ACTIONS_INDEX
    workflow: str = WORKFLOW_INDEX
    metrics: str = METRICS_INDEX
    seals: str = SEALS_INDEX

    @classmethod
    def prefixed(cls, prefix: str = "") -> Indices:
        return cls(**{f.name: prefix + str(f.default) for f in fields(cls)})


class Backend(Protocol):
    name: str

    def alert(self, uuid: str) -> dict[str, Any]: ...
    def alerts(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]: ...
    def events(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...
    def timeline(self, user_id: str, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]: ...
    def anomalies(self, user_id: str | None, model: str | None, start: datetime, end: datetime
                  ) -> list[dict[str, Any]]: ...
    def anomaly_ids(self, start: datetime | None, end: datetime | None) -> list[str]: ...
    def verdict_counts(self, start: datetime | None, end: datetime | None) -> dict[str, int]: ...
    def write_receipt(self, doc: Mapping[str, Any]) -> None: ...
    def receipts(self, alert_uuid: str | None = None) -> list[dict[str, Any]]: ...
    def receipt(self, receipt_id: str) -> dict[str, Any] | None: ...
    def write_workflow(self, doc: Mapping[str, Any]) -> None: ...
    def workflow(self, alert_uuid: str | None = None) -> list[dict[str, Any]]: ...
    def write_metrics(self, docs: Sequence[Mapping[str, Any]]) -> int: ...
    def integrity(self) -> tuple[EventSource, SealStore]: ...


def _range_sql(col: str, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if start is not None:
        parts.append(f'"{col}" >= ?')
        params.append(start)
    if end is not None:
        parts.append(f'"{col}" < ?')
        params.append(end)
    return (" AND ".join(parts) or "TRUE"), params


class DuckDBBackend:
    """The embedded store."""

    name = "embedded"

    def __init__(self, store: Store) -> None:
        self.store = store
        for ddl in (ALERTS_DDL, ACTIONS_DDL, WORKFLOW_DDL, METRICS_DDL):
            store.ensure_table(ddl)

    def alert(self, uuid: str) -> dict[str, Any]:
        row = self.store.con.execute('SELECT doc FROM alerts WHERE "kibana.alert.uuid" = ?', [uuid]).fetchone()
        if row is None:
            raise InputError(f"no alert with kibana.alert.uuid {uuid!r}", where=f"{self.store.path}:alerts")
        return flatten(json.loads(row[0]))

    def alerts(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        where, params = _range_sql("@timestamp", start, end)
        rows = self.store.con.execute(f'SELECT doc FROM alerts WHERE {where} ORDER BY "@timestamp", '
                                      '"kibana.alert.uuid"', params).fetchall()
        return [flatten(json.loads(r[0])) for r in rows]

    def events(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        out = list(self.store.events(f'"event.id" IN ({marks})', list(ids)))
        return out + list(self.store.events(f'"event.id" IN ({marks})', list(ids), table="anomalies"))

    def timeline(self, user_id: str, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.store.con.execute(
            'SELECT doc FROM events WHERE "user.id" = ? AND "@timestamp" >= ? AND "@timestamp" < ? '
            'ORDER BY "@timestamp", "event.id" LIMIT ?', [user_id, start, end, limit]).fetchall()
        return [json.loads(r[0]) for r in rows]

    def anomalies(self, user_id: str | None, model: str | None, start: datetime, end: datetime
                  ) -> list[dict[str, Any]]:
        where = ['"@timestamp" >= ?', '"@timestamp" <= ?']
        params: list[Any] = [start, end]
        if user_id:
            where.append('"user.id" = ?')
            params.append(user_id)
        if model:
            where.append('"gen_ai.request.model" = ?')
            params.append(model)
        return list(self.store.events(" AND ".join(where), params, table="anomalies"))

    def anomaly_ids(self, start: datetime | None, end: datetime | None) -> list[str]:
        where, params = _range_sql("@timestamp", start, end)
        rows = self.store.con.execute(
            f'SELECT "event.id" FROM anomalies WHERE {where} AND "siem_pack.anomaly.is_anomalous"', params).fetchall()
        return [r[0] for r in rows]

    def verdict_counts(self, start: datetime | None, end: datetime | None) -> dict[str, int]:
        where, params = _range_sql("@timestamp", start, end)
        rows = self.store.con.execute(
            f'SELECT "siem_pack.policy.verdict", count(*) FROM events WHERE {where} '
            'AND "siem_pack.policy.verdict" IS NOT NULL GROUP BY 1', params).fetchall()
        return {str(v): int(n) for v, n in rows}

    def write_receipt(self, doc: Mapping[str, Any]) -> None:
        a = doc["siem_pack"]["action"]
        self.store.con.execute(
            "INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [a["receipt_id"], parse_ts(doc["@timestamp"]), doc["kibana"]["alert"]["uuid"], a["name"], a["operation"],
             a["dry_run"], a["actor"], a["result"], json.dumps(doc, sort_keys=True)])

    def receipts(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        where, params = ('"kibana.alert.uuid" = ?', [alert_uuid]) if alert_uuid else ("TRUE", [])
        rows = self.store.con.execute(f'SELECT doc FROM actions WHERE {where} ORDER BY "@timestamp", '
                                      '"siem_pack.action.receipt_id"', params).fetchall()
        return [json.loads(r[0]) for r in rows]

    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        row = self.store.con.execute('SELECT doc FROM actions WHERE "siem_pack.action.receipt_id" = ?',
                                     [receipt_id]).fetchone()
        return json.loads(row[0]) if row else None

    def write_workflow(self, doc: Mapping[str, Any]) -> None:
        w = doc["siem_pack"]["workflow"]
        self.store.con.execute("INSERT INTO alert_workflow VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               [w["id"], parse_ts(doc["@timestamp"]), doc["kibana"]["alert"]["uuid"],
                                w["from_status"], w["to_status"], w["actor"], w["reason"],
                                json.dumps(doc, sort_keys=True)])

    def workflow(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        where, params = ('"kibana.alert.uuid" = ?', [alert_uuid]) if alert_uuid else ("TRUE", [])
        rows = self.store.con.execute(f'SELECT doc FROM alert_workflow WHERE {where} ORDER BY "@timestamp", '
                                      '"siem_pack.workflow.id"', params).fetchall()
        return [json.loads(r[0]) for r in rows]

    def write_metrics(self, docs: Sequence[Mapping[str, Any]]) -> int:
        for d in docs:
            m = d["siem_pack"]["metric"]
            self.store.con.execute("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   [m["id"], parse_ts(d["@timestamp"]), m["name"], m.get("value"), m.get("unit"),
                                    m.get("scope"), m.get("count"), json.dumps(d, sort_keys=True)])
        return len(docs)

    def integrity(self) -> tuple[EventSource, SealStore]:
        from ..integrity.store_duckdb import DuckDBEvents, DuckDBSeals

        return DuckDBEvents(self.store), DuckDBSeals(self.store)


class ESBackend:
    """An Elasticsearch cluster (indices named by `Indices`)."""

    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, indices: Indices = Indices()) -> None:
        self.client = client
        self.ix = indices
        self.quiet = client.options(ignore_status=[404])
        self._known: set[str] = set()

    def _first(self, index: str, query: dict[str, Any], size: int) -> list[dict[str, Any]]:
        """A bounded read (`size` well under the 10,000-hit window), oldest first."""
        res = self.quiet.search(index=index, query=query, size=size, sort=list(TIME_ORDER), ignore_unavailable=True,
                                allow_no_indices=True)
        return [h["_source"] for h in res.body.get("hits", {}).get("hits", [])]

    def _all(self, index: str, query: dict[str, Any], then: str | None = None,
             source: bool | list[str] = True) -> list[dict[str, Any]]:
        """Every matching document (`_source`, or the `source` fields of it), by `@timestamp`
        (then by `then`, a keyword id of our own indices, as the DuckDB backend orders them),
        through a point in time. Alerts and events get no id sort: their index may be Kibana's
        or dynamically mapped (an id as `text` cannot be sorted); `_shard_doc` breaks the ties."""
        sort = [*TIME_ORDER, by(then)] if then else list(TIME_ORDER)
        return [h.get("_source", {}) for h in search_all(self.client, index, query, sort=sort, source=source)]

    @staticmethod
    def _range(start: datetime | None, end: datetime | None, field: str = "@timestamp") -> list[dict[str, Any]]:
        rng: dict[str, str] = {}
        if start is not None:
            rng["gte"] = format_ts(start)
        if end is not None:
            rng["lt"] = format_ts(end)
        return [{"range": {field: rng}}] if rng else []

    def alert(self, uuid: str) -> dict[str, Any]:
        hits = self._first(self.ix.alerts, {"term": {"kibana.alert.uuid": uuid}}, size=1)
        if not hits:
            raise InputError(f"no alert with kibana.alert.uuid {uuid!r}", where=self.ix.alerts)
        return flatten(hits[0])

    def alerts(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        return [flatten(h) for h in self._all(self.ix.alerts, {"bool": {"filter": self._range(start, end)}})]

    def events(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        unique = list(dict.fromkeys(ids))
        chunks = [{"terms": {"event.id": unique[i:i + IDS_PER_QUERY]}} for i in range(0, len(unique), IDS_PER_QUERY)]
        return [d for index in (self.ix.events, self.ix.anomalies) for q in chunks
                for d in self._all(index, q)]

    def timeline(self, user_id: str, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]:
        q = {"bool": {"filter": [{"term": {"user.id": user_id}}, *self._range(start, end)]}}
        return self._first(self.ix.events, q, size=limit)

    def anomalies(self, user_id: str | None, model: str | None, start: datetime, end: datetime
                  ) -> list[dict[str, Any]]:
        f: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": format_ts(start), "lte": format_ts(end)}}}]
        if user_id:
            f.append({"term": {"user.id": user_id}})
        if model:
            f.append({"term": {"gen_ai.request.model": model}})
        return self._all(self.ix.anomalies, {"bool": {"filter": f}})

    def anomaly_ids(self, start: datetime | None, end: datetime | None) -> list[str]:
        q = {"bool": {"filter": [{"term": {"siem_pack.anomaly.is_anomalous": True}}, *self._range(start, end)]}}
        return [str(flatten(h).get("event.id")) for h in self._all(self.ix.anomalies, q, source=["event.id"])]

    def verdict_counts(self, start: datetime | None, end: datetime | None) -> dict[str, int]:
        res = self.quiet.search(index=self.ix.events, size=0, ignore_unavailable=True, allow_no_indices=True,
                                query={"bool": {"filter": self._range(start, end)}},
                                aggs={"v": {"terms": {"field": "siem_pack.policy.verdict", "size": 10}}})
        buckets = res.body.get("aggregations", {}).get("v", {}).get("buckets", [])
        return {str(b["key"]): int(b["doc_count"]) for b in buckets}

    def _ensure(self, index: str) -> None:
        """Where `deploy` made no template, strings map as keyword (as its templates do)."""
        if index not in self._known and not self.quiet.options(ignore_status=[403]).indices.exists(index=index):
            # 400: made meanwhile; 403: a job role without create_index (the deployed
            # template maps the index when the first write auto-creates it)
            self.client.options(ignore_status=[400, 403]).indices.create(index=index, mappings={
                "dynamic_templates": [{"strings": {"match_mapping_type": "string",
                                                   "mapping": {"type": "keyword", "ignore_above": 8191}}}]})
        self._known.add(index)

    def _create(self, index: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        self._ensure(index)
        res = self.client.options(ignore_status=[409]).create(index=index, id=doc_id, document=dict(doc),
                                                               refresh="wait_for")
        if res.meta.status == 409:
            raise ClusterError(f"document {doc_id} already exists (create-only)", where=index)

    def write_receipt(self, doc: Mapping[str, Any]) -> None:
        self._create(self.ix.actions, doc["siem_pack"]["action"]["receipt_id"], doc)

    def receipts(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        q = {"term": {"kibana.alert.uuid": alert_uuid}} if alert_uuid else {"match_all": {}}
        return self._all(self.ix.actions, q, then="siem_pack.action.receipt_id")

    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        res = self.quiet.get(index=self.ix.actions, id=receipt_id)  # receipts are stored by their id
        return dict(res["_source"]) if res.body.get("found") else None

    def write_workflow(self, doc: Mapping[str, Any]) -> None:
        self._create(self.ix.workflow, doc["siem_pack"]["workflow"]["id"], doc)

    def workflow(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        q = {"term": {"kibana.alert.uuid": alert_uuid}} if alert_uuid else {"match_all": {}}
        return self._all(self.ix.workflow, q, then="siem_pack.workflow.id")

    def write_metrics(self, docs: Sequence[Mapping[str, Any]]) -> int:
        ops: list[dict[str, Any]] = []
        for d in docs:
            ops += [{"index": {"_index": self.ix.metrics, "_id": d["siem_pack"]["metric"]["id"]}}, dict(d)]
        if ops:
            self._ensure(self.ix.metrics)
            res = self.client.bulk(operations=ops, refresh="wait_for")
            if res.get("errors"):
                first = next(i["index"].get("error") for i in res["items"] if i["index"].get("error"))
                raise ClusterError(f"metrics write failed: {first}", where=self.ix.metrics)
        return len(docs)

    def integrity(self) -> tuple[EventSource, SealStore]:
        from ..integrity.store_es import ESEvents, ESSeals

        return ESEvents(self.client, self.ix.events), ESSeals(self.client, self.ix.seals)


def workflow_doc(wid: str, ts: Any, alert_uuid: str, from_status: str, to_status: str, actor: str,
                 reason: str) -> dict[str, Any]:
    return {"@timestamp": format_ts(ts), "kibana": {"alert": {"uuid": alert_uuid}},
            "siem_pack": {"workflow": {"id": wid, "from_status": from_status, "to_status": to_status,
                                       "actor": actor, "reason": reason}}}


@contextmanager
def open_backend(settings: ClusterSettings | None = None, db: Path | None = None, prefix: str = ""
                 ) -> Iterator[Backend]:
    """Elasticsearch when `settings` names a cluster, else the DuckDB store at `db`."""
    with ExitStack() as stack:
        if settings is not None and settings.has_cluster:
            from ..cluster import es_client, translated

            client = es_client(settings)
            stack.enter_context(translated(settings.require_es()))
            yield ESBackend(client, Indices.prefixed(prefix))
        else:
            store = stack.enter_context(Store(db))
            yield DuckDBBackend(store)


__all__ = ["Backend", "DuckDBBackend", "ESBackend", "Indices", "open_backend"]
