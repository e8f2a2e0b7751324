"""Stage 4 (embedded): the static HTML report. One self-contained file: inline CSS, charts as
inline SVG (siem_pack.report.svg), tables as HTML; no scripts, no network assets, printable.

Every panel is a `<section class="panel">` carrying `data-panel` (dashboard/panel id),
`data-status` (ok, empty, no-table, no-column) and `data-rows`, so tests (and the browser
test) can tell a panel with data from one without.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from ..dashboards.spec import Dashboard
from . import svg
from .data import PanelData
from .status import StatusTable

CSS = """
:root{--fg:#1a1c21;--muted:#69707d;--line:#d3dae6;--bg:#f7f8fc;--accent:#0b64dd}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg)}header.top{background:#fff;border-bottom:1px solid var(--line);padding:18px 28px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 4px}h3{font-size:14px;margin:0 0 8px}
main{padding:0 28px 40px}.muted{color:var(--muted)}nav ul{list-style:none;padding:0;margin:8px 0 0;display:flex;
flex-wrap:wrap;gap:6px 18px}nav a{color:var(--accent);text-decoration:none}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin-top:10px}.summary span{background:var(--bg);
border:1px solid var(--line);border-radius:4px;padding:2px 8px}
.grid{display:grid;grid-template-columns:repeat(48,minmax(0,1fr));gap:12px;margin-top:10px}
.panel{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 14px;min-width:0;overflow:hidden}
.metric .big{font-size:30px;font-weight:600;margin-top:4px}.note{color:var(--muted);font-style:italic}
.filter{color:var(--muted);font-size:12px;margin:-4px 0 8px;word-break:break-word}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:3px 6px;
border-bottom:1px solid var(--line);vertical-align:top}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.pie{display:flex;gap:16px;align-items:center;flex-wrap:wrap}.pie .legend{flex-direction:column}
svg text{font-size:11px;fill:#343741}svg .axis{stroke:#98a2b3}svg .ref{stroke:#E7664C;stroke-width:2;
stroke-dasharray:6 4}svg .reflbl{fill:#bd271e;font-size:11px}svg .val{fill:#343741}
.scroll{max-height:420px;overflow:auto}
@media print{body{background:#fff}.panel{break-inside:avoid}nav{display:none}.scroll{max-height:none}}
"""


def fmt_value(value: Any, op: str = "") -> str:
    if value is None:
        return "–"
    if op == "rate" and isinstance(value, (int, float)):
        return f"{float(value):.1%}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def _fmt_number(value: Any) -> str:
    v = float(value or 0)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if not v.is_integer() else f"{int(v)}"


def render_panel(dash: Dashboard, data: PanelData) -> str:
    p = data.panel
    attrs = (f'class="panel {p.kind}" id="panel-{escape(dash.id)}-{escape(p.id)}" data-panel="{escape(dash.id)}/'
             f'{escape(p.id)}" data-kind="{p.kind}" data-index="{p.index}" data-status="{data.status}" '
             f'data-rows="{len(data.rows)}" style="grid-column:span {p.width}"')
    head = f"<h3>{escape(p.title)}</h3>"
    if p.filter:
        head += f'<div class="filter">filter: <code>{escape(p.filter)}</code></div>'
    if not data.has_data:
        return f'<section {attrs}>{head}<p class="note">{escape(data.note or "no data")}</p></section>'
    op = p.metrics[0].op
    refs = [(rl.value, rl.label) for rl in p.reference_lines]

    def fmt_val(v: Any) -> str:
        return fmt_value(v, op) if op == "rate" else _fmt_number(v)

    if p.kind == "metric":
        body = f'<div class="big">{escape(fmt_value(data.rows[0][0], op))}</div>' \
               f'<div class="muted">{escape(data.metric_labels[0])}</div>'
    elif p.kind == "bar":
        body = svg.bar_chart(data.rows, len(p.buckets) > 1, fmt_value, fmt_val, refs, width=max(380, p.width * 30))
    elif p.kind in ("line", "area"):
        body = svg.time_chart(data.rows, len(p.buckets) > 1, p.kind == "area", fmt_value, fmt_val, refs,
                             width=max(380, p.width * 30))
    elif p.kind == "pie":
        body = svg.pie_chart([(r[0], r[-1]) for r in data.rows] if len(p.buckets) == 1 else
                             _sum_first(data.rows), fmt_value, fmt_val)
    else:
        body = render_table(data)
    note = f'<p class="note">{escape(p.note)}</p>' if p.note else ""
    return f"<section {attrs}>{head}{body}{note}</section>"


def _sum_first(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, float]]:
    out: dict[Any, float] = {}
    for r in rows:
        out[r[0]] = out.get(r[0], 0.0) + float(r[-1] or 0)
    return list(out.items())


def render_table(data: PanelData) -> str:
    p = data.panel
    nb = len(p.buckets)
    head = "".join(f"<th>{escape(b)}</th>" for b in data.bucket_labels) + "".join(
        f'<th class="num">{escape(m)}</th>' for m in data.metric_labels)
    body = []
    for r in data.rows:
        cells = "".join(f"<td>{escape(fmt_value(v))}</td>" for v in r[:nb])
        cells += "".join(f'<td class="num">{escape(fmt_value(v, m.op))}</td>'
                         for v, m in zip(r[nb:], p.metrics, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def render_status(dash: Dashboard, name: str, table: StatusTable | None) -> str:
    attrs = (f'class="panel table status" data-panel="{escape(dash.id)}/status-{escape(name)}" data-kind="status" '
             f'data-status="{"ok" if table and table.rows else "no-table"}" '
             f'data-rows="{len(table.rows) if table else 0}" style="grid-column:span 48"')
    if table is None:
        note = "no seals yet" if name == "seal_chains" else "nothing to show yet"
        return f'<section {attrs}><h3>{escape(name.replace("_", " ").capitalize())}</h3><p class="note">{note}</p></section>'
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt_value(v))}</td>" for v in r) + "</tr>" for r in table.rows)
    return (f'<section {attrs}><h3>{escape(table.title)}</h3><div class="scroll"><table><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div></section>")


def render_page(title: str, generated: str, source: str, counts: dict[str, int],
                dashboards: Sequence[tuple[Dashboard, Any, list[PanelData]]],
                status: dict[str, list[tuple[str, StatusTable | None]]] | None = None) -> str:
    nav = "".join(f'<li><a href="#dash-{escape(d.id)}">{escape(d.title)}</a></li>' for d, _, _ in dashboards)
    summary = "".join(f"<span>{escape(t)}: {n:,}</span>" if n >= 0 else f"<span>{escape(t)}: none yet</span>"
                      for t, n in counts.items())
    sections = []
    for dash, focus, panels in dashboards:
        focus_line = ""
        if dash.focus is not None:
            focus_line = (f'<p class="muted">Showing {escape(dash.focus.field)} = <strong>{escape(str(focus))}</strong>'
                          " (the identity with the most alerts, else the most events).</p>"
                          if focus is not None else '<p class="note">no identity to show yet</p>')
        panels_html = "".join(render_panel(dash, pd) for pd in panels)
        panels_html += "".join(render_status(dash, name, table) for name, table in (status or {}).get(dash.id, []))
        sections.append(f'<section class="dashboard" id="dash-{escape(dash.id)}" data-dashboard="{escape(dash.id)}">'
                        f"<h2>{escape(dash.title)}</h2><p class=\"muted\">{escape(dash.description)}</p>{focus_line}"
                        f'<div class="grid">{panels_html}</div></section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f'<header class="top"><h1>{escape(title)}</h1><div class="muted">Generated {escape(generated)} from '
            f"{escape(source)} (embedded store; the same dashboards Kibana shows, rendered offline)</div>"
            f'<div class="summary">{summary}</div><nav><ul>{nav}</ul></nav></header>'
            f"<main>{''.join(sections)}</main></body></html>\n")
