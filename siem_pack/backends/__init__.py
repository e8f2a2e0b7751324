"""Cross-cutting (storage), the ports: how a stage reads and writes its store, one module
per engine.

- `duckdb`: the embedded store (`Store`: `search_all`, `composite`, `count`, `write_docs`,
  `write_rows`);
- `es`: an Elasticsearch cluster (`search_all` over a point in time, `composite_all`,
  `count`, `first`, `write`, `ensure_index`);
- `indices`: every index name, from schema/indices.

A stage (ingest, baselines, detections, response, metrics, integrity) names its reads once
per engine on top of these and never pages, bulk-writes or opens a connection by itself;
tests/test_architecture.py checks that no module outside this package calls the search,
scroll, bulk or connect APIs directly. `connect` opens the one a run names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import ClusterSettings
from .duckdb import Store

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


@contextmanager
def connect(settings: ClusterSettings | None = None, db: Path | None = None, *,
            read_only: bool = False) -> Iterator[Store | Elasticsearch]:
    """An Elasticsearch client when `settings` names a cluster (transport failures inside
    the block become one `ClusterError`), else the DuckDB store at `db` (default
    ./siem-pack.duckdb), closed on the way out."""
    with ExitStack() as stack:
        if settings is not None and settings.has_cluster:
            from ..cluster import es_client, translated

            client = es_client(settings)
            stack.enter_context(translated(settings.require_es()))
            yield client
        else:
            yield stack.enter_context(Store(db, read_only=read_only))


__all__ = ["Store", "connect"]
