"""Stage 4 (embedded): the dashboards rendered offline from the DuckDB store into one static
HTML report (`siem-pack report --db FILE --out report.html`). The same specs as Kibana
(siem_pack.dashboards); data.py aggregates, svg.py draws, html.py lays out. `demo` and the
audit export (siem_pack.audit_export) build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..backends.duckdb import Store
from ..dashboards.spec import INDEXES, Dashboard, load_dashboards
from .data import Columns, PanelData, dashboard_data
from .html import render_page
from .status import STATUS_TABLES, StatusTable


@dataclass(frozen=True)
class ReportResult:
    path: Path
    dashboards: int
    panels: int
    panels_with_data: int
    empty_panels: tuple[str, ...]  # dashboard/panel ids without data, with the reason


def build_report(db: Path | str | None, out: Path | str, dashboards: list[Dashboard] | None = None,
                 title: str = "siem-pack: AI model access report") -> ReportResult:
    """Render every dashboard from the store at `db` into the HTML file `out`."""
    dashes = dashboards if dashboards is not None else load_dashboards()
    with Store(db, read_only=True) as store:
        columns = Columns(store.con)
        rendered: list[tuple[Dashboard, object, list[PanelData]]] = []
        status: dict[str, list[tuple[str, StatusTable | None]]] = {}
        for dash in dashes:
            focus, panels = dashboard_data(store.con, dash, columns)
            rendered.append((dash, focus, panels))
            status[dash.id] = [(name, STATUS_TABLES[name](store)) for name in dash.status]
        tables = dict.fromkeys(ix.table for ix in INDEXES.values())
        counts = {t: (store.count(t) if columns.has_table(t) else -1) for t in tables}
        source = str(store.path)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(title, generated, source, counts, rendered, status)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    all_panels = [pd for _, _, pds in rendered for pd in pds]
    empty = tuple(f"{d.id}/{pd.panel.id}: {pd.note or pd.status}" for d, _, pds in rendered for pd in pds
                  if not pd.has_data)
    return ReportResult(path=out_path, dashboards=len(rendered), panels=len(all_panels),
                        panels_with_data=sum(pd.has_data for pd in all_panels), empty_panels=empty)


__all__ = ["ReportResult", "build_report"]
