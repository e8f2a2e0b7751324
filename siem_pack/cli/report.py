"""`siem-pack report`: wraps siem_pack.report.build_report."""

from __future__ import annotations

from pathlib import Path

import click

from ..report import build_report
from .options import db_option


@click.command()
@db_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True,
              help="The HTML file to write.")
def report(db: Path | None, out: Path) -> None:
    """Render the dashboards offline from the embedded store into one static HTML file
    (charts as inline SVG, no scripts, no network). Panels whose table does not exist yet
    say "no data yet".

    \b
    Examples:
      siem-pack report --db siem-pack.duckdb --out report.html
    """
    result = build_report(db, out)
    click.echo(f"wrote {result.path}: {result.dashboards} dashboards, {result.panels_with_data}/{result.panels} "
               "panels with data")
    for line in result.empty_panels:
        click.echo(f"  no data: {line}")


def register(group: click.Group) -> None:
    group.add_command(report)
