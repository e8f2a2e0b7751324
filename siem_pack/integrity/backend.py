"""Cross-cutting (integrity): open the event source and seal store of one backend, the
embedded DuckDB file or an Elasticsearch cluster, for the CLI (siem_pack.cli.integrity) and
for other stages (the static report, case files). Transport failures become `ClusterError`s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..cluster import es_client, translated
from ..settings import ClusterSettings
from ..store import Store
from .seals import EventSource, SealStore
from .store_duckdb import DuckDBEvents, DuckDBSeals
from .store_es import EVENTS_PATTERN, SEALS_INDEX, ESEvents, ESSeals


@contextmanager
def open_backend(settings: ClusterSettings | None = None, db: Path | None = None, *,
                 events_index: str = EVENTS_PATTERN, seals_index: str = SEALS_INDEX,
                 read_only: bool = False) -> Iterator[tuple[EventSource, SealStore]]:
    """Elasticsearch when `settings` has a URL, else the DuckDB store at `db`."""
    with ExitStack() as stack:
        if settings is not None and settings.has_cluster:
            client = es_client(settings)
            stack.enter_context(translated(settings.require_es()))
            yield ESEvents(client, events_index), ESSeals(client, seals_index)
        else:
            store = stack.enter_context(Store(db, read_only=read_only))
            yield DuckDBEvents(store), DuckDBSeals(store)
