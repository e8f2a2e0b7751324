"""`siem-pack audit export`: wraps siem_pack.audit_export.export_audit."""

from __future__ import annotations

from pathlib import Path

import click

from ..audit_export import SENSITIVE_TIERS, export_audit
from .options import db_option


@click.group()
def audit() -> None:
    """Exports for auditors and reviewers."""


@audit.command("export")
@db_option
@click.option("--from", "start", required=True, help="Period start: ISO date or timestamp (UTC), inclusive.")
@click.option("--to", "end", required=True, help="Period end: ISO timestamp (exclusive) or date (that day included).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the files.")
@click.option("--tier", "tiers", multiple=True, default=SENSITIVE_TIERS, show_default=True,
              help="Model tiers that count as sensitive (repeatable).")
def export(db: Path | None, start: str, end: str, out_dir: Path, tiers: tuple[str, ...]) -> None:
    """For a period: who accessed which sensitive models, the policy-compliant access rate,
    and the alerts with their outcome; as summary.csv, access.csv, alerts.csv and a
    printable audit.html.

    \b
    Examples:
      siem-pack audit export --db siem-pack.duckdb --from 2026-03-01 --to 2026-03-31 --out audit-2026-03
    """
    result = export_audit(db, start, end, out_dir, tiers)
    summary = dict(result.summary)
    rate = summary.get("sensitive_policy_compliant_rate")
    click.echo(f"{summary['sensitive_events']} sensitive-model events by {summary['sensitive_identities']} identities, "
               f"compliant rate {'n/a' if rate is None else f'{rate:.1%}'}, alerts: {summary['alerts']}")
    for path in result.files:
        click.echo(f"wrote {path}")


def register(group: click.Group) -> None:
    group.add_command(audit)
