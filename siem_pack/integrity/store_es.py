"""Cross-cutting (integrity), Elasticsearch backend: events from an index pattern (default
`logs-siem_pack.*`) and the seal store, the index `siem-pack-seals`.

Seals and key records are written with `op_type=create` only, so the seal job's key needs
`create_doc` (never `index`, `write` or `delete`) plus `read` on the seals index, and `read`
on the events: the `seal` job role of schema/roles.yml, which deploy installs. The index
(mapping: schema/indices/siem-pack-seals.yml) comes from deploy's index template, or from
`ensure_seals_index` (tests, benchmarks). Callers wrap calls in
`siem_pack.cluster.translated` to turn transport failures into one clear error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, helpers

from ..errors import ClusterError, ConfigError
from ..times import format_ts
from .canonical import event_id
from .keys import PublicKey
from .seals import NO_DATASET, Bucket, Finding, Seal

EVENTS_PATTERN = "logs-siem_pack.*"
SEALS_INDEX = "siem-pack-seals"
_PAGE = 2000


def seals_index_body() -> dict[str, Any]:
    """`indices.create` body for the seals index, from schema/indices/siem-pack-seals.yml."""
    from ..templates import own_indices

    own = next(i for i in own_indices() if i.name == SEALS_INDEX)
    return {"mappings": {"dynamic": own.dynamic, "properties": own.schema.es_properties()}}


def ensure_seals_index(client: Elasticsearch, index: str = SEALS_INDEX) -> bool:
    """Create the seals index if missing (True when created). Needs `create_index`: a deploy
    step, never the seal writer's job."""
    if client.indices.exists(index=index).body:
        return False
    try:
        client.indices.create(index=index, **seals_index_body())
    except ApiError as exc:
        if exc.meta.status == 400 and "already_exists" in str(exc.body):
            return False
        raise
    return True


def _dataset_filter(dataset: str) -> dict[str, Any]:
    if dataset == NO_DATASET:
        return {"bool": {"must_not": {"exists": {"field": "event.dataset"}}}}
    return {"term": {"event.dataset": dataset}}


class ESEvents:
    """`EventSource` over an index pattern."""

    def __init__(self, client: Elasticsearch, index: str = EVENTS_PATTERN) -> None:
        self.client = client
        self.index = index
        self.name = index

    def buckets(self, window: timedelta) -> list[Bucket]:
        secs = int(window.total_seconds())
        sources = [{"ds": {"terms": {"field": "event.dataset", "missing_bucket": True}}},
                   {"w": {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{secs}s"}}}]
        out: list[Bucket] = []
        after: dict[str, Any] | None = None
        epoch = datetime(1970, 1, 1)
        while True:
            comp: dict[str, Any] = {"size": 1000, "sources": sources}
            if after:
                comp["after"] = after
            resp = self.client.search(index=self.index, size=0, ignore_unavailable=True, allow_no_indices=True,
                                      aggs={"b": {"composite": comp}})
            agg = (resp.body.get("aggregations") or {}).get("b") or {}
            for b in agg.get("buckets", []):
                ds = b["key"]["ds"]
                out.append(Bucket(NO_DATASET if ds is None else str(ds),
                                  epoch + timedelta(milliseconds=int(b["key"]["w"])), int(b["doc_count"])))
            after = agg.get("after_key")
            if not after or not agg.get("buckets"):
                return out

    def window_events(self, dataset: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Documents page by page as the caller takes them (a scroll)."""
        query = {"bool": {"filter": [
            {"range": {"@timestamp": {"gte": format_ts(start, "auto"), "lt": format_ts(end, "auto"),
                                      "format": "strict_date_optional_time"}}},
            _dataset_filter(dataset)]}}
        return (h["_source"] for h in helpers.scan(self.client, index=self.index, query={"query": query}, size=_PAGE,
                                                   ignore_unavailable=True, allow_no_indices=True))

    def lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i:i + 1000])
            resp = self.client.search(index=self.index, size=len(chunk), ignore_unavailable=True,
                                      allow_no_indices=True, query={"terms": {"event.id": chunk}})
            for h in resp.body["hits"]["hits"]:
                out[event_id(h["_source"]) or str(h["_id"])] = h["_source"]
        return out

    def self_check(self, start: datetime | None = None, end: datetime | None = None,
                   ids: Sequence[str] | None = None) -> list[Finding]:
        """Nothing to compare: `_source` is the only copy of an event (every field a search or
        an aggregation reads is indexed from it), and seals cover `_source`."""
        return []


class ESSeals:
    """`SealStore` on an index written create-only."""

    def __init__(self, client: Elasticsearch, index: str = SEALS_INDEX, refresh: bool = True) -> None:
        self.client = client
        self.index = index
        self.name = index
        # make new seals searchable before returning (the next run reads them): an immediate
        # refresh, not `wait_for` (which waits up to a whole refresh interval, 1s by default)
        self.refresh = refresh

    def _scan(self, query: dict[str, Any], with_manifest: bool) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {} if with_manifest else {"_source_excludes": ["manifest"]}
        return [h["_source"] for h in helpers.scan(self.client, index=self.index, query={"query": query}, size=_PAGE,
                                                   ignore_unavailable=True, **kwargs)]

    def seals(self, with_manifest: bool = False, ids: Sequence[str] | None = None) -> list[Seal]:
        if ids is not None:
            if not ids:
                return []
            kwargs: dict[str, Any] = {} if with_manifest else {"_source_excludes": ["manifest"]}
            resp = self.client.mget(index=self.index, ids=list(ids), **kwargs)
            records = [d["_source"] for d in resp.body["docs"] if d.get("found")]
        else:
            records = self._scan({"terms": {"kind": ["window", "addendum"]}}, with_manifest)
        seals = [Seal.from_record(r) for r in records]
        return sorted(seals, key=lambda s: (s.dataset, s.seq, s.seal_id))

    def keys(self) -> list[PublicKey]:
        return [PublicKey.from_record(r) for r in self._scan({"term": {"kind": "key"}}, False)]

    def append(self, seals: Sequence[Seal]) -> None:
        actions = [{"_op_type": "create", "_index": self.index, "_id": s.seal_id, "_source": s.record()} for s in seals]
        _, errors = helpers.bulk(self.client, actions, raise_on_error=False, refresh=self.refresh)
        if isinstance(errors, list) and errors:
            first = next(iter(errors[0].values()))
            status = first.get("status")
            if status == 409:
                raise ConfigError(f"seal {first.get('_id')} already exists (another seal job ran?); "
                                  f"{len(errors)} of {len(actions)} seal(s) not written", where=self.index)
            reason = (first.get("error") or {}).get("reason") or (first.get("error") or {}).get("type")
            raise ClusterError(f"{len(errors)} of {len(actions)} seal(s) not written ({status}): {reason}",
                               where=self.index)

    def publish_key(self, key: PublicKey, published_at: str) -> bool:
        try:
            self.client.create(index=self.index, id=f"key/{key.key_id}", document=key.record(published_at),
                               refresh=self.refresh)
        except ConflictError:
            return False
        return True

    def self_check(self) -> list[Finding]:
        return []
