"""`siem-pack doctor`: wraps siem_pack.doctor."""

from __future__ import annotations

from pathlib import Path

import click

from .. import doctor as lib
from ..settings import ClusterSettings
from .options import cluster_options, db_option, json_option


@click.command()
@cluster_options
@db_option
@json_option
def doctor(settings: ClusterSettings, db: Path | None, as_json: bool) -> None:
    """Report what a cluster can run (processors, mapper types, data streams, ILM, ES|QL, EQL,
    security) and which parts of the pack deploy there. With no --es-url, report the embedded
    default's readiness.

    \b
    Examples:
      siem-pack doctor
      siem-pack doctor --es-url https://es:9200 --api-key "$KEY" --json
    """
    report = lib.probe_cluster(settings) if settings.has_cluster else lib.probe_embedded(db)
    click.echo(lib.to_json(report) if as_json else lib.render(report))


def register(group: click.Group) -> None:
    group.add_command(doctor)
