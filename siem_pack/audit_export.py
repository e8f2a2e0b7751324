"""Stage 4: the audit export for reviewers. For a period: who accessed which sensitive
models (tiers confidential and restricted by default), the policy-compliant access rate,
and the alerts raised with their outcome (workflow status). Written as CSV files and as one
printable HTML page (`siem-pack audit export --db FILE --from --to --out DIR`).

Reads the embedded store (siem_pack.backends.duckdb): `events` (ingest), `alerts` (siem_pack.detect;
optional, the export says when there is none). Formatting helpers come from
siem_pack.report.html.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from .backends.duckdb import Store, quote
from .errors import ConfigError
from .report.data import Columns
from .report.html import CSS, fmt_value
from .times import format_ts, parse_ts

SENSITIVE_TIERS = ("confidential", "restricted")
ACCESS_COLUMNS = ("user.id", "user.name", "gen_ai.request.model", "siem_pack.model.tier", "requests", "denied",
                  "noncompliant", "compliant_rate", "input_tokens", "output_tokens", "countries", "first_seen",
                  "last_seen")
ALERT_COLUMNS = ("kibana.alert.uuid", "@timestamp", "kibana.alert.rule.name", "kibana.alert.severity",
                 "kibana.alert.risk_score", "user.id", "gen_ai.request.model", "kibana.alert.workflow_status",
                 "kibana.alert.original_time")


@dataclass(frozen=True)
class AuditExport:
    start: datetime
    end: datetime
    tiers: tuple[str, ...]
    summary: list[tuple[str, Any]]
    access: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alerts_available: bool
    files: tuple[Path, ...] = ()


def parse_period(start: str, end: str) -> tuple[datetime, datetime]:
    """`--from` and `--to` as ISO dates or timestamps (UTC). A date-only `--to` includes that
    whole day. Returns naive UTC [start, end)."""
    try:
        s = parse_ts(start)
        e = parse_ts(end)
    except ValueError as exc:
        raise ConfigError(f"not an ISO date or timestamp: {exc}", where="--from/--to") from exc
    assert s is not None and e is not None
    if len(end.strip()) == 10:  # YYYY-MM-DD
        e += timedelta(days=1)
    if e <= s:
        raise ConfigError(f"the period is empty: --to {end} is not after --from {start}", where="--to")
    return s, e


def collect_audit(db: Path | str | None, start: datetime, end: datetime,
                  tiers: Sequence[str] = SENSITIVE_TIERS) -> AuditExport:
    """The export's data, read from the store (no files written)."""
    tiers = tuple(tiers)
    with Store(db, read_only=True) as store:
        con = store.con
        cols = Columns(con)
        if not cols.has_table("events"):
            raise ConfigError(f"no events table in {store.path}", where="--db")
        period = '"@timestamp" >= ? AND "@timestamp" < ?'
        tier_in = ", ".join("?" for _ in tiers)
        sensitive = f'{period} AND "siem_pack.model.tier" IN ({tier_in})'
        params = [start, end, *tiers]
        compliant = "avg(CASE WHEN \"siem_pack.policy.verdict\" = 'compliant' THEN 1.0 ELSE 0.0 END)"
        access_rows = con.execute(f"""
            SELECT "user.id", any_value("user.name"), "gen_ai.request.model", "siem_pack.model.tier",
                   count(*), count(*) FILTER (WHERE "event.outcome" = 'failure'),
                   count(*) FILTER (WHERE "siem_pack.policy.verdict" = 'noncompliant'), {compliant},
                   coalesce(sum("gen_ai.usage.input_tokens"), 0), coalesce(sum("gen_ai.usage.output_tokens"), 0),
                   string_agg(DISTINCT "source.geo.country_iso_code", ' ' ORDER BY "source.geo.country_iso_code"),
                   min("@timestamp"), max("@timestamp")
            FROM events WHERE {sensitive}
            GROUP BY "user.id", "gen_ai.request.model", "siem_pack.model.tier"
            ORDER BY "user.id" NULLS LAST, "gen_ai.request.model", "siem_pack.model.tier"
        """, params).fetchall()
        access = [dict(zip(ACCESS_COLUMNS, r, strict=True)) for r in access_rows]
        total, total_rate = con.execute(f"SELECT count(*), {compliant} FROM events WHERE {period}",
                                        [start, end]).fetchone() or (0, None)
        sens, sens_rate, sens_ids, unattributed = con.execute(
            f'SELECT count(*), {compliant}, count(DISTINCT "user.id"), count(*) FILTER (WHERE "user.id" IS NULL) '
            f"FROM events WHERE {sensitive}", params).fetchone() or (0, None, 0, 0)
        alerts: list[dict[str, Any]] = []
        alerts_available = cols.has_table("alerts")
        if alerts_available:
            have = cols.tables["alerts"]
            select = ", ".join(quote(c) if c in have else f"NULL AS {quote(c)}" for c in ALERT_COLUMNS)
            rows = con.execute(f"SELECT {select} FROM alerts WHERE {period} ORDER BY \"@timestamp\", "
                               f"{quote('kibana.alert.uuid') if 'kibana.alert.uuid' in have else 1}",
                               [start, end]).fetchall()
            alerts = [dict(zip(ALERT_COLUMNS, r, strict=True)) for r in rows]
    by_status = Counter(str(a.get("kibana.alert.workflow_status") or "unknown") for a in alerts)
    summary: list[tuple[str, Any]] = [
        ("period_start", format_ts(start, "auto")), ("period_end", format_ts(end, "auto")),
        ("sensitive_tiers", " ".join(tiers)), ("events", total), ("policy_compliant_rate", _rate(total_rate)),
        ("sensitive_events", sens), ("sensitive_policy_compliant_rate", _rate(sens_rate)),
        ("sensitive_identities", sens_ids), ("sensitive_unattributed_events", unattributed),
        ("alerts", len(alerts) if alerts_available else "no alerts table"),
    ] + [(f"alerts_{k}", v) for k, v in sorted(by_status.items())]
    return AuditExport(start=start, end=end, tiers=tiers, summary=summary, access=access, alerts=alerts,
                       alerts_available=alerts_available)


def _rate(value: Any) -> Any:
    return None if value is None else round(float(value), 4)


def export_audit(db: Path | str | None, start: str, end: str, out_dir: Path | str,
                 tiers: Sequence[str] = SENSITIVE_TIERS) -> AuditExport:
    """Write summary.csv, access.csv, alerts.csv and audit.html into `out_dir`."""
    s, e = parse_period(start, end)
    audit = collect_audit(db, s, e, tiers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        _write_csv(out / "summary.csv", ("metric", "value"), [dict(zip(("metric", "value"), r, strict=True))
                                                              for r in audit.summary]),
        _write_csv(out / "access.csv", ACCESS_COLUMNS, audit.access),
        _write_csv(out / "alerts.csv", ALERT_COLUMNS, audit.alerts),
    ]
    html_path = out / "audit.html"
    html_path.write_text(render_audit_html(audit), encoding="utf-8")
    files.append(html_path)
    return replace(audit, files=tuple(files))


def _csv_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return format_ts(v, "auto")
    if isinstance(v, float):
        return round(v, 4)
    return "" if v is None else v


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_csv_value(r.get(c)) for c in columns])
    return path


def render_audit_html(audit: AuditExport) -> str:
    def table(columns: Sequence[str], rows: list[dict[str, Any]], rate_cols: Sequence[str] = ()) -> str:
        if not rows:
            return '<p class="note">none in this period</p>'
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(
            f"<td>{escape(fmt_value(r.get(c), 'rate' if c in rate_cols else ''))}</td>" for c in columns) + "</tr>"
            for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    summary_rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(fmt_value(v, 'rate' if k.endswith('rate') else ''))}</td></tr>"
        for k, v in audit.summary)
    alerts_html = table(ALERT_COLUMNS, audit.alerts) if audit.alerts_available else \
        '<p class="note">no alerts table in the store yet (detections have not run)</p>'
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    period = f"{audit.start:%Y-%m-%d %H:%M} to {audit.end:%Y-%m-%d %H:%M} UTC (end exclusive)"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
            f"<title>siem-pack audit export {escape(period)}</title><style>{CSS}"
            "main{max-width:1200px}table{margin-bottom:14px}</style></head><body>"
            f'<header class="top"><h1>Audit export: access to sensitive AI models</h1><div class="muted">Period '
            f"{escape(period)}; tiers {escape(', '.join(audit.tiers))}; generated {escape(generated)}</div></header>"
            f'<main><h2>Summary</h2><table class="summary-table">{summary_rows}</table>'
            f"<h2>Who accessed which sensitive models</h2>{table(ACCESS_COLUMNS, audit.access, ('compliant_rate',))}"
            f"<h2>Alerts and their outcome</h2>{alerts_html}</main></body></html>\n")
