"""Cross-cutting (integrity): open the evidence of one backend, its event source and seal
store, the embedded DuckDB file or an Elasticsearch cluster (through siem_pack.backends.connect),
for the CLI (siem_pack.cli.integrity) and for other stages (the static report, case files).
Transport failures become `ClusterError`s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..backends import connect
from ..backends.duckdb import Store
from ..backends.indices import EVENTS_PATTERN, SEALS_INDEX
from ..settings import ClusterSettings
from .seals import EventSource, SealStore
from .store_duckdb import DuckDBEvents, DuckDBSeals
from .store_es import ESEvents, ESSeals


@contextmanager
def open_evidence(settings: ClusterSettings | None = None, db: Path | None = None, *,
                  events_index: str = EVENTS_PATTERN, seals_index: str = SEALS_INDEX,
                  read_only: bool = False) -> Iterator[tuple[EventSource, SealStore]]:
    """Elasticsearch when `settings` has a URL, else the DuckDB store at `db`."""
    with connect(settings, db, read_only=read_only) as opened:
        if isinstance(opened, Store):
            yield DuckDBEvents(opened), DuckDBSeals(opened)
        else:
            yield ESEvents(opened, events_index), ESSeals(opened, seals_index)
