"""Stage 4 (embedded): report-only status tables, named in a dashboard spec's `status:` list.
They show what Kibana cannot compute from an index (for example whether the seal chains
verify). A registry: name → function(store) → StatusTable, or None when there is nothing to
show yet. Neighbours: siem_pack.integrity (seal_status), siem_pack.report.html (rendering).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends.duckdb import Store


@dataclass(frozen=True)
class StatusTable:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""


def seal_chains(store: Store) -> StatusTable | None:
    """One row per dataset chain from siem_pack.integrity's `seal_status` (signature and
    chain problems, events still waiting for a seal); None when nothing is sealed yet."""
    has = store.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'seals'").fetchone()
    if not has or not has[0]:
        return None
    from ..integrity.store_duckdb import DuckDBEvents, DuckDBSeals
    from ..integrity.verify import seal_status

    rows = seal_status(DuckDBSeals(store), DuckDBEvents(store))
    if not rows:
        return None
    cols = ("dataset", "seals", "addenda", "events_sealed", "last_window_end", "problems", "unsealed_events")
    return StatusTable(
        title="Seal chains, checked at report time (signatures and chain links; "
              "`siem-pack verify` also re-hashes the events)",
        columns=cols, rows=tuple(tuple(r.get(c) for c in cols) for r in rows))


STATUS_TABLES: dict[str, Callable[[Store], StatusTable | None]] = {"seal_chains": seal_chains}
