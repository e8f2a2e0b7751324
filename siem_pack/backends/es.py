"""The Elasticsearch port: every hit of a query, however many, read page by page.

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
workflow changes for `alerts`, `respond`, `case build` and `metrics`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
               source: bool | Sequence[str] = True, fields: Sequence[str | Mapping[str, Any]] | None = None,
               keep_alive: str = KEEP_ALIVE) -> Generator[dict[str, Any], None, None]:
    """Every hit of `query` on `index`, in `sort` order (then `_shard_doc`), as the hits
    come back from the search API (`_source`, `_id`, `_index`, `sort`, `fields` when asked).

    `source` is the `_source` option (False, or the fields to keep); `fields` the `fields`
    option. The point in time is opened on the first `next()` and closed in a `finally`:
    after the last page, on an error, or when a reader that stops early calls `close()` on
    the generator (or drops it).
    """
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    request: dict[str, Any] = {"query": dict(query), "sort": [dict(s) for s in sort] + [TIEBREAKER],
                               "size": page_size, "track_total_hits": False,
                               "source": source if isinstance(source, bool) else {"includes": list(source)}}
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


__all__ = ["KEEP_ALIVE", "PAGE_SIZE", "TIME_ORDER", "by", "search_all"]
