"""Cross-cutting (storage), the Elasticsearch port: what every stage asks a cluster, written once.

- `search_all`: every hit of a query, however many, page by page (below);
- `first`: a bounded read (a few hits, well under the 10,000-hit window);
- `composite_all`: every bucket of a composite aggregation, paged with `after_key`;
- `count`: how many documents match;
- `aggregate`: one bounded aggregation request (`size: 0`), its `aggregations`;
- `search_many`: several bounded searches in one `msearch`, each one's hits;
- `write` / `write_each`: bulk create, index or update, with each document's outcome;
- `ensure_index`: create an index unless it exists (tests, or a store deploy did not map).
Callers wrap calls in siem_pack.cluster.translated, which turns transport failures into one
clear error; index names come from siem_pack.backends.indices.

A plain `search` with `size` stops at the index's `max_result_window` (10,000 by default)
and a `from` + `size` window cannot go past it either; a scroll keeps a search context per
request and Elastic recommends a point in time instead for deep paging. `search_all` opens a
point in time (`POST <index>/_pit?keep_alive=…`), pages with `search_after` on the caller's
sort followed by the `_shard_doc` tiebreaker (unique per document within a point in time,
so no hit is skipped or repeated at a page boundary), yields each hit, and closes the point
in time when the caller is done: after the last page, when it stops early, or on an error.

Missing indices read as empty (`ignore_unavailable`; a wildcard that matches nothing opens
a point in time over no shards), as the plain searches they replace did. Reading needs the
index privilege `read` (which includes `indices:data/read/open_point_in_time`), as a search
does. Used by siem_pack.respond.backend (alerts, source events, anomalies, receipts,
workflow changes for `alerts`, `respond`, `case build` and `metrics`), the rule runner's
query and sequence rules, and the seal job's window reads.

`composite_all` pages a composite aggregation: each page visits every document the query
matches, and the last page is the first with no buckets or no `after_key`. `write_each`
sends `_bulk` requests of `chunk_size` documents, sends the ones refused with 429 again, and
yields one `Outcome` per document in input order (a 409 on create is `present`: the document
was stored before, never overwritten).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..doc import get_field
from ..errors import ClusterError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000  # index.max_result_window's default: one page may not be larger
KEEP_ALIVE = "2m"  # how long the point in time lives between two pages
TIEBREAKER: dict[str, Any] = {"_shard_doc": "asc"}


def by(name: str, unmapped_type: str = "keyword", order: str = "asc") -> dict[str, Any]:
    """One sort clause that also works on an index where the field is not mapped (yet)."""
    return {name: {"order": order, "unmapped_type": unmapped_type}}


TIME_ORDER: tuple[dict[str, Any], ...] = (by("@timestamp", "date"),)


def search_all(client: Elasticsearch, index: str | Sequence[str], query: Mapping[str, Any], *,
               sort: Sequence[Mapping[str, Any]] = TIME_ORDER, page_size: int = PAGE_SIZE,
               source: bool | Sequence[str] | Mapping[str, Any] = True,
               fields: Sequence[str | Mapping[str, Any]] | None = None,
               keep_alive: str = KEEP_ALIVE) -> Generator[dict[str, Any], None, None]:
    """Every hit of `query` on `index`, in `sort` order (then `_shard_doc`), as the hits
    come back from the search API (`_source`, `_id`, `_index`, `sort`, `fields` when asked).

    `source` is the `_source` option (False, the fields to keep, or the option's object, e.g.
    `{"excludes": [...]}`); `fields` the `fields`
    option. The point in time is opened on the first `next()` and closed in a `finally`:
    after the last page, on an error, or when a reader that stops early calls `close()` on
    the generator (or drops it).
    """
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    request: dict[str, Any] = {"query": dict(query), "sort": [dict(s) for s in sort] + [TIEBREAKER],
                               "size": page_size, "track_total_hits": False,
                               "source": _source(source)}
    if fields is not None:
        request["fields"] = list(fields)
    pit_id: str = client.open_point_in_time(index=index, keep_alive=keep_alive, ignore_unavailable=True)["id"]
    try:
        while True:
            page = client.search(**request, pit={"id": pit_id, "keep_alive": keep_alive})
            pit_id = page.get("pit_id", pit_id)  # the id may change from page to page
            hits: list[dict[str, Any]] = page["hits"]["hits"]
            yield from hits
            if len(hits) < page_size:
                return
            request["search_after"] = hits[-1]["sort"]
    finally:
        # 404: it expired already (keep_alive passed while the caller held the generator)
        client.options(ignore_status=[404]).close_point_in_time(id=pit_id)


def first(client: Elasticsearch, index: str | Sequence[str], query: Mapping[str, Any], size: int, *,
          sort: Sequence[Mapping[str, Any]] = TIME_ORDER, source: bool | Sequence[str] | Mapping[str, Any] = True
          ) -> list[dict[str, Any]]:
    """The first `size` hits in `sort` order (a bounded read: `size` ≤ the 10,000-hit window).
    Missing indices read as empty."""
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"size must be 0..{MAX_PAGE_SIZE}, got {size}")
    res = client.options(ignore_status=[404]).search(
        index=index, query=dict(query), size=size, sort=[dict(s) for s in sort], track_total_hits=False,
        source=_source(source),
        ignore_unavailable=True, allow_no_indices=True)
    return list(res.body.get("hits", {}).get("hits", []))


def count(client: Elasticsearch, index: str | Sequence[str], query: Mapping[str, Any] | None = None) -> int:
    """How many documents of `index` match `query` (all of them without one); missing
    indices count as empty."""
    res = client.options(ignore_status=[404]).count(index=index, ignore_unavailable=True, allow_no_indices=True,
                                                    query=dict(query) if query is not None else None)
    return int(res.body.get("count", 0))


def composite_all(client: Elasticsearch, index: str | Sequence[str], query: Mapping[str, Any] | None,
                  sources: Sequence[Mapping[str, Any]], aggs: Mapping[str, Any] | None = None, *,
                  page_size: int = PAGE_SIZE, on_page: Callable[[Mapping[str, Any]], None] | None = None,
                  **search: Any) -> Generator[dict[str, Any], None, None]:
    """Every bucket of a composite aggregation over `sources` (with sub-aggregations `aggs`),
    in key order, page by page with `after_key`. `on_page` sees each raw response (benchmarks
    read `took`); `search` adds options of the search request (e.g. `request_cache`)."""
    comp: dict[str, Any] = {"size": page_size, "sources": [dict(s) for s in sources]}
    agg: dict[str, Any] = {"composite": comp}
    if aggs:
        agg["aggs"] = dict(aggs)
    request: dict[str, Any] = {"size": 0, "track_total_hits": False, "aggs": {"c": agg}, **search}
    if query is not None:
        request["query"] = dict(query)
    while True:
        res = client.search(index=index, ignore_unavailable=True, allow_no_indices=True, **request)
        body = res.body
        if on_page is not None:
            on_page(body)
        page = (body.get("aggregations") or {}).get("c") or {}
        buckets: list[dict[str, Any]] = page.get("buckets", [])
        yield from buckets
        after = page.get("after_key")
        if not buckets or after is None:
            return
        comp["after"] = after


def aggregate(client: Elasticsearch, index: str | Sequence[str], query: Mapping[str, Any] | None,
              aggs: Mapping[str, Any]) -> dict[str, Any]:
    """The `aggregations` of one `size: 0` search (bounded aggregations: filters, terms with
    a size); missing indices read as empty (`{}`)."""
    res = client.options(ignore_status=[404]).search(
        index=index, size=0, track_total_hits=False, aggs=dict(aggs), ignore_unavailable=True,
        allow_no_indices=True, query=dict(query) if query is not None else None)
    return dict(res.body.get("aggregations") or {})


def search_many(client: Elasticsearch, index: str | Sequence[str], bodies: Sequence[Mapping[str, Any]]
                ) -> list[list[dict[str, Any]]]:
    """Each bounded search body (`query`, `size`, `sort`, …) on `index` in one `msearch`;
    the hits of each, in order. A failed search is a ClusterError naming the index."""
    if not bodies:
        return []
    header: dict[str, Any] = {"index": index if isinstance(index, str) else list(index), "ignore_unavailable": True,
                              "allow_no_indices": True}
    searches: list[Mapping[str, Any]] = []
    for body in bodies:
        searches += [header, {"track_total_hits": False, **dict(body)}]
    out: list[list[dict[str, Any]]] = []
    for resp in client.msearch(searches=searches)["responses"]:
        if "error" in resp:
            raise ClusterError(f"search failed: {_reason(resp['error'])}", where=str(index))
        out.append(list(resp["hits"]["hits"]))
    return out


def ensure_index(client: Elasticsearch, index: str, body: Mapping[str, Any], *, may_lack_privilege: bool = False
                 ) -> bool:
    """Create `index` with `body` (`mappings`, `settings`) unless it exists; True when created.
    Needs `create_index` (or `manage`) on it; one made meanwhile by another writer is fine.
    `may_lack_privilege`: a job role without `create_index` (403) leaves the index to the
    first write, which auto-creates it under the template deploy installed."""
    quiet = client.options(ignore_status=[403]) if may_lack_privilege else client
    if quiet.indices.exists(index=index).meta.status != 404:
        return False
    res = client.options(ignore_status=[400, 403] if may_lack_privilege else [400]).indices.create(
        index=index, **dict(body))
    if res.meta.status == 403:
        return False
    if res.meta.status == 400:
        if "already_exists" in str(res.body):
            return False
        body = res.body if isinstance(res.body, dict) else {}
        raise ClusterError(f"refused: {_reason(body.get('error') or res.body)}", where=index)
    return True


Op = Literal["create", "index", "update"]
IdOf = str | Callable[[Mapping[str, Any]], str | None]  # a dotted field of the document, or a function of it


@dataclass(frozen=True)
class Outcome:
    """One document's result in a bulk write: `status` is the HTTP status of its item."""

    id: str | None
    status: int
    error: str | None = None

    @property
    def stored(self) -> bool:
        return self.status in (200, 201)

    @property
    def present(self) -> bool:
        """Create-only and there already (409): stored before, never overwritten."""
        return self.status == 409


@dataclass
class Written:
    """What a bulk write did: `stored`, `present` (409 on create) and the refused outcomes."""

    stored: int = 0
    present: int = 0
    refused: list[Outcome] = field(default_factory=list)

    def raise_refused(self, what: str, where: str) -> None:
        """A ClusterError naming how many `what` were refused and the first reason."""
        if self.refused:
            first = self.refused[0]
            raise ClusterError(f"{len(self.refused)} {what} not written ({first.status}): {first.error}",
                               where=where)


def write_each(client: Elasticsearch, index: str, docs: Iterable[Mapping[str, Any]], *, op: Op = "create",
               id_of: IdOf | None = None, pipeline: str | None = None,
               refresh: bool | str | None = None, chunk_size: int = 500, max_retries: int = 2,
               backoff: float = 0.5) -> Iterator[Outcome]:
    """Bulk-write `docs` to `index` (`op`: create-only, index = replace by id, update = merge
    the given fields), `_id` from `id_of` (a dotted field such as `event.id`, or a function of
    the document); yields one `Outcome` per document, in input order,
    `chunk_size` documents per request. Items the node refuses with 429 (too many requests)
    are sent again, up to `max_retries` times with a doubling pause from `backoff` seconds;
    their outcomes still come back in their documents' places. `pipeline="_none"` skips the
    index's default pipeline (documents already normalized). A transport failure is raised
    (the caller's `translated` makes it one ClusterError); what earlier chunks stored stays."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    extra: dict[str, Any] = {} if refresh is None else {"refresh": refresh}
    ident: Callable[[Mapping[str, Any]], Any] | None = (
        (lambda d, path=id_of: get_field(d, path)) if isinstance(id_of, str) else id_of)
    chunk: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for d in docs:
        head: dict[str, Any] = {"_index": index}
        doc_id = ident(d) if ident is not None else None
        if doc_id is not None:
            head["_id"] = str(doc_id)
        if pipeline is not None and op != "update":
            head["pipeline"] = pipeline
        chunk.append(({op: head}, {"doc": dict(d)} if op == "update" else dict(d)))
        if len(chunk) == chunk_size:
            yield from _bulk_chunk(client, chunk, extra, max_retries, backoff)
            chunk = []
    if chunk:
        yield from _bulk_chunk(client, chunk, extra, max_retries, backoff)


def _bulk_chunk(client: Elasticsearch, chunk: Sequence[tuple[dict[str, Any], dict[str, Any]]],
                extra: Mapping[str, Any], max_retries: int, backoff: float) -> list[Outcome]:
    """One chunk's outcomes in its order, the 429s sent again."""
    out: list[Outcome | None] = [None] * len(chunk)
    pending = list(range(len(chunk)))
    for attempt in range(max_retries + 1):
        ops: list[Mapping[str, Any]] = [part for i in pending for part in chunk[i]]
        items = client.bulk(operations=ops, **extra)["items"]
        retry: list[int] = []
        for i, item in zip(pending, items, strict=True):
            res = next(iter(item.values()))
            status = int(res.get("status", 0))
            if status == 429 and attempt < max_retries:
                retry.append(i)
                continue
            err = res.get("error")
            out[i] = Outcome(None if res.get("_id") is None else str(res["_id"]), status,
                             None if err is None else _reason(err))
        if not retry:
            break
        pending = retry
        time.sleep(backoff * 2 ** attempt)
    return [o for o in out if o is not None]


def write(client: Elasticsearch, index: str, docs: Iterable[Mapping[str, Any]], **options: Any) -> Written:
    """`write_each`, summed up (the caller decides whether a refusal is an error)."""
    out = Written()
    for o in write_each(client, index, docs, **options):
        if o.stored:
            out.stored += 1
        elif o.present and options.get("op", "create") == "create":
            out.present += 1
        else:
            out.refused.append(o)
    return out


def _source(source: bool | Sequence[str] | Mapping[str, Any]) -> bool | dict[str, Any]:
    """The search API's `_source` option: as given, or the fields to include."""
    if isinstance(source, bool):
        return source
    if isinstance(source, Mapping):
        return dict(source)
    return {"includes": list(source)}


def _reason(err: Any) -> str:
    """The words of an Elasticsearch error object (its `reason`, else its `type`), or the
    error as given."""
    if isinstance(err, Mapping):
        return str(err.get("reason") or err.get("type") or dict(err))
    return str(err)


__all__ = ["KEEP_ALIVE", "PAGE_SIZE", "TIME_ORDER", "Outcome", "Written", "aggregate", "by", "composite_all",
           "count", "ensure_index", "first", "search_all", "search_many", "write", "write_each"]
