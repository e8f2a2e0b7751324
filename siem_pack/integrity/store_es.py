"""Cross-cutting (integrity), Elasticsearch backend: events from an index pattern (default
`logs-siem_pack.*`) and the seal store, the index `siem-pack-seals`.

Seals and key records are written with `op_type=create` only, so the seal job's key needs
`create_doc` (never `index`, `write` or `delete`) plus `read` on the seals index, and `read`
on the events: the `seal` job role of schema/roles.yml, which deploy installs. The index
(mapping: schema/indices/siem-pack-seals.yml) comes from deploy's index template, or from
`ensure_seals_index` (tests, benchmarks). Every read and write goes through the
Elasticsearch port (siem_pack.backends.es: `composite_all` for the window counts,
`search_all` for a window's events, the seals and the keys, `write` for new seals). Callers
wrap calls in `siem_pack.cluster.translated` to turn transport failures into one clear error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ConflictError, Elasticsearch

from ..backends import es as port
from ..backends.indices import EVENTS_PATTERN, SEALS_INDEX
from ..errors import ClusterError, ConfigError
from ..times import format_ts
from .canonical import event_id
from .keys import PublicKey
from .seals import NO_DATASET, Bucket, Finding, Seal

_PAGE = 2000


def seals_index_body() -> dict[str, Any]:
    """`indices.create` body for the seals index, from schema/indices/siem-pack-seals.yml."""
    from ..templates import own_indices

    own = next(i for i in own_indices() if i.name == SEALS_INDEX)
    return {"mappings": {"dynamic": own.dynamic, "properties": own.schema.es_properties()}}


def ensure_seals_index(client: Elasticsearch, index: str = SEALS_INDEX) -> bool:
    """Create the seals index if missing (True when created). Needs `create_index`: a deploy
    step, never the seal writer's job."""
    return port.ensure_index(client, index, seals_index_body())


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
        sources: list[dict[str, Any]] = [{"ds": {"terms": {"field": "event.dataset", "missing_bucket": True}}},
                                         {"w": {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{secs}s"}}}]
        epoch = datetime(1970, 1, 1)
        return [Bucket(NO_DATASET if b["key"]["ds"] is None else str(b["key"]["ds"]),
                       epoch + timedelta(milliseconds=int(b["key"]["w"])), int(b["doc_count"]))
                for b in port.composite_all(self.client, self.index, None, sources)]

    def window_events(self, dataset: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Documents page by page as the caller takes them (a point in time, in `_shard_doc`
        order, the cheapest: seals sort their leaves themselves)."""
        query = {"bool": {"filter": [
            {"range": {"@timestamp": {"gte": format_ts(start, "auto"), "lt": format_ts(end, "auto"),
                                      "format": "strict_date_optional_time"}}},
            _dataset_filter(dataset)]}}
        return (h["_source"] for h in port.search_all(self.client, self.index, query, sort=(), page_size=_PAGE))

    def lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i:i + 1000])
            # no sort: an index mapped dynamically holds event.id as `text`, which cannot be sorted
            for h in port.first(self.client, self.index, {"terms": {"event.id": chunk}}, len(chunk), sort=()):
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

    def _records(self, query: dict[str, Any], with_manifest: bool) -> list[dict[str, Any]]:
        source: bool | dict[str, Any] = True if with_manifest else {"excludes": ["manifest"]}
        return [h["_source"] for h in port.search_all(self.client, self.index, query, sort=(), page_size=_PAGE,
                                                      source=source)]

    def seals(self, with_manifest: bool = False, ids: Sequence[str] | None = None) -> list[Seal]:
        if ids is not None:
            if not ids:
                return []
            kwargs: dict[str, Any] = {} if with_manifest else {"_source_excludes": ["manifest"]}
            resp = self.client.mget(index=self.index, ids=list(ids), **kwargs)
            records = [d["_source"] for d in resp.body["docs"] if d.get("found")]
        else:
            records = self._records({"terms": {"kind": ["window", "addendum"]}}, with_manifest)
        seals = [Seal.from_record(r) for r in records]
        return sorted(seals, key=lambda s: (s.dataset, s.seq, s.seal_id))

    def keys(self) -> list[PublicKey]:
        return [PublicKey.from_record(r) for r in self._records({"term": {"kind": "key"}}, False)]

    def append(self, seals: Sequence[Seal]) -> None:
        records = [s.record() for s in seals]
        outcomes = list(port.write_each(self.client, self.index, records, id_of="seal_id",
                                        refresh=self.refresh))
        errors = [o for o in outcomes if not o.stored]
        if errors:
            first = errors[0]
            if first.present:
                raise ConfigError(f"seal {first.id} already exists (another seal job ran?); "
                                  f"{len(errors)} of {len(records)} seal(s) not written", where=self.index)
            raise ClusterError(f"{len(errors)} of {len(records)} seal(s) not written ({first.status}): {first.error}",
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
