"""Stage 5 storage: where response reads alerts, events and anomalies, and writes receipts,
workflow changes and metrics; the embedded DuckDB store or an Elasticsearch cluster.

Embedded tables: `alerts` (siem_pack.detect.alerts), `events`, `anomalies` (read);
`actions` (receipts, create-only), `alert_workflow` (workflow changes, create-only), `metrics`
(idempotent by id). Elasticsearch indices (each with the deploy `--prefix` in front):
`siem-pack-alerts`, `logs-siem_pack.*`, `siem-pack-anomalies` (read); `siem-pack-actions`
and `siem-pack-alert-workflow` (create-only: the alerts index stays the rules job's,
create-only); `siem-pack-metrics` (index by id). Neighbours: respond.py, cases.py,
workflow.py and metrics.py call these; integrity gives the seal sources (`integrity()`).

Both stores sit on the storage ports (siem_pack.backends): on Elasticsearch every read that
can grow with the data (alerts, source events, anomalies, receipts, workflow changes) is
`es.search_all` (a point in time paged with `search_after`), so none stops at the 10,000-hit
window; only the one alert by id and the case timeline's first `limit` events are bounded
reads (`es.first`); writes are `es.write`. On DuckDB, reads are `Store.search_all`,
`composite` and `count`, writes `Store.write_rows`. Index names: siem_pack.backends.indices.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..backends import connect
from ..backends import es as port
from ..backends.duckdb import Store
from ..backends.indices import Indices
from ..detect.alerts import ALERTS_DDL
from ..doc import flatten
from ..errors import ClusterError, InputError
from ..settings import ClusterSettings
from ..times import format_ts, parse_ts

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ..integrity.seals import EventSource, SealStore

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


class ResponseStore(Protocol):
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


class DuckDBResponseStore:
    """The embedded store."""

    name = "embedded"

    def __init__(self, store: Store) -> None:
        self.store = store
        for ddl in (ALERTS_DDL, ACTIONS_DDL, WORKFLOW_DDL, METRICS_DDL):
            store.ensure_table(ddl)

    def alert(self, uuid: str) -> dict[str, Any]:
        found = list(self.store.search_all("alerts", '"kibana.alert.uuid" = ?', [uuid], order=("kibana.alert.uuid",),
                                           limit=1))
        if not found:
            raise InputError(f"no alert with kibana.alert.uuid {uuid!r}", where=f"{self.store.path}:alerts")
        return flatten(found[0])

    def alerts(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        where, params = _range_sql("@timestamp", start, end)
        return [flatten(d) for d in self.store.search_all("alerts", where, params,
                                                          order=("@timestamp", "kibana.alert.uuid"))]

    def events(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        return [d for table in ("events", "anomalies")
                for d in self.store.search_all(table, f'"event.id" IN ({marks})', list(ids))]

    def timeline(self, user_id: str, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.store.search_all("events", '"user.id" = ? AND "@timestamp" >= ? AND "@timestamp" < ?',
                                          [user_id, start, end], limit=limit))

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
        return list(self.store.search_all("anomalies", " AND ".join(where), params))

    def anomaly_ids(self, start: datetime | None, end: datetime | None) -> list[str]:
        where, params = _range_sql("@timestamp", start, end)
        rows = self.store.composite("anomalies", ["event.id"], {}, f'{where} AND "siem_pack.anomaly.is_anomalous"',
                                    params)
        return [r["event.id"] for r in rows]

    def verdict_counts(self, start: datetime | None, end: datetime | None) -> dict[str, int]:
        where, params = _range_sql("@timestamp", start, end)
        rows = self.store.composite("events", ["siem_pack.policy.verdict"], {"n": "count(*)"},
                                    f'{where} AND "siem_pack.policy.verdict" IS NOT NULL', params)
        return {str(r["siem_pack.policy.verdict"]): int(r["n"]) for r in rows}

    def write_receipt(self, doc: Mapping[str, Any]) -> None:
        a = doc["siem_pack"]["action"]
        self.store.write_rows("actions", [{
            "siem_pack.action.receipt_id": a["receipt_id"], "@timestamp": parse_ts(doc["@timestamp"]),
            "kibana.alert.uuid": doc["kibana"]["alert"]["uuid"], "siem_pack.action.name": a["name"],
            "siem_pack.action.operation": a["operation"], "siem_pack.action.dry_run": a["dry_run"],
            "siem_pack.action.actor": a["actor"], "siem_pack.action.result": a["result"],
            "doc": json.dumps(doc, sort_keys=True)}])

    def receipts(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        where, params = ('"kibana.alert.uuid" = ?', [alert_uuid]) if alert_uuid else ("TRUE", [])
        return list(self.store.search_all("actions", where, params,
                                          order=("@timestamp", "siem_pack.action.receipt_id")))

    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        found = list(self.store.search_all("actions", '"siem_pack.action.receipt_id" = ?', [receipt_id],
                                           order=("siem_pack.action.receipt_id",), limit=1))
        return found[0] if found else None

    def write_workflow(self, doc: Mapping[str, Any]) -> None:
        w = doc["siem_pack"]["workflow"]
        self.store.write_rows("alert_workflow", [{
            "siem_pack.workflow.id": w["id"], "@timestamp": parse_ts(doc["@timestamp"]),
            "kibana.alert.uuid": doc["kibana"]["alert"]["uuid"], "siem_pack.workflow.from_status": w["from_status"],
            "siem_pack.workflow.to_status": w["to_status"], "siem_pack.workflow.actor": w["actor"],
            "siem_pack.workflow.reason": w["reason"], "doc": json.dumps(doc, sort_keys=True)}])

    def workflow(self, alert_uuid: str | None = None) -> list[dict[str, Any]]:
        where, params = ('"kibana.alert.uuid" = ?', [alert_uuid]) if alert_uuid else ("TRUE", [])
        return list(self.store.search_all("alert_workflow", where, params,
                                          order=("@timestamp", "siem_pack.workflow.id")))

    def write_metrics(self, docs: Sequence[Mapping[str, Any]]) -> int:
        rows = [{"siem_pack.metric.id": m["id"], "@timestamp": parse_ts(d["@timestamp"]),
                 "siem_pack.metric.name": m["name"], "siem_pack.metric.value": m.get("value"),
                 "siem_pack.metric.unit": m.get("unit"), "siem_pack.metric.scope": m.get("scope"),
                 "siem_pack.metric.count": m.get("count"), "doc": json.dumps(d, sort_keys=True)}
                for d in docs for m in [d["siem_pack"]["metric"]]]
        self.store.write_rows("metrics", rows, on_conflict="replace")
        return len(docs)

    def integrity(self) -> tuple[EventSource, SealStore]:
        from ..integrity.store_duckdb import DuckDBEvents, DuckDBSeals

        return DuckDBEvents(self.store), DuckDBSeals(self.store)


class ESResponseStore:
    """An Elasticsearch cluster (indices named by `Indices`)."""

    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, indices: Indices | None = None) -> None:
        self.client = client
        self.ix = indices or Indices()
        self.quiet = client.options(ignore_status=[404])
        self._known: set[str] = set()

    def _first(self, index: str, query: dict[str, Any], size: int) -> list[dict[str, Any]]:
        """A bounded read (`size` well under the 10,000-hit window), oldest first."""
        return [h["_source"] for h in port.first(self.client, index, query, size)]

    def _all(self, index: str, query: dict[str, Any], then: str | None = None,
             source: bool | list[str] = True) -> list[dict[str, Any]]:
        """Every matching document (`_source`, or the `source` fields of it), by `@timestamp`
        (then by `then`, a keyword id of our own indices, as the DuckDB backend orders them),
        through a point in time. Alerts and events get no id sort: their index may be Kibana's
        or dynamically mapped (an id as `text` cannot be sorted); `_shard_doc` breaks the ties."""
        sort = [*port.TIME_ORDER, port.by(then)] if then else list(port.TIME_ORDER)
        return [h.get("_source", {}) for h in port.search_all(self.client, index, query, sort=sort, source=source)]

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
        aggs = port.aggregate(self.client, self.ix.events, {"bool": {"filter": self._range(start, end)}},
                              {"v": {"terms": {"field": "siem_pack.policy.verdict", "size": 10}}})
        buckets = aggs.get("v", {}).get("buckets", [])
        return {str(b["key"]): int(b["doc_count"]) for b in buckets}

    def _ensure(self, index: str) -> None:
        """Where `deploy` made no template, strings map as keyword (as its templates do)."""
        if index not in self._known:
            # a job role without create_index: the deployed template maps the index when the
            # first write auto-creates it
            port.ensure_index(self.client, index, {"mappings": {
                "dynamic_templates": [{"strings": {"match_mapping_type": "string",
                                                   "mapping": {"type": "keyword", "ignore_above": 8191}}}]}},
                              may_lack_privilege=True)
        self._known.add(index)

    def _create(self, index: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        self._ensure(index)
        written = port.write(self.client, index, [doc], id_of=lambda _d: doc_id, refresh="wait_for")
        if written.present:
            raise ClusterError(f"document {doc_id} already exists (create-only)", where=index)
        written.raise_refused("document(s)", index)

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
        if docs:
            self._ensure(self.ix.metrics)
            written = port.write(self.client, self.ix.metrics, docs, op="index", refresh="wait_for",
                                 id_of="siem_pack.metric.id")
            if written.refused:
                raise ClusterError(f"metrics write failed: {written.refused[0].error}", where=self.ix.metrics)
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
def open_response_store(settings: ClusterSettings | None = None, db: Path | None = None, prefix: str = ""
                        ) -> Iterator[ResponseStore]:
    """Elasticsearch when `settings` names a cluster (indices with `prefix` in front), else
    the DuckDB store at `db`."""
    with connect(settings, db) as opened:
        if isinstance(opened, Store):
            yield DuckDBResponseStore(opened)
        else:
            yield ESResponseStore(opened, Indices.prefixed(prefix))


__all__ = ["DuckDBResponseStore", "ESResponseStore", "ResponseStore", "open_response_store", "workflow_doc"]
