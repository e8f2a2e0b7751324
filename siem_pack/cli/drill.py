"""`siem-pack drill`: wraps siem_pack.drill (simulate, run, score; embedded or Elasticsearch)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .. import drill as lib
from ..settings import ClusterSettings
from .options import cluster_options, json_option
from .simulate import simulation_options


@click.command()
@simulation_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Keep the simulation, run and drill.json here [default: a temporary folder].")
@click.option("--index-prefix", default="siem-pack-drill", show_default=True,
              help="With --es-url: prefix of the indices the drill writes (deleted first).")
@cluster_options
@json_option
def drill(seed: int, days: int, identities: int, org: str, warmup_days: int | None, out_dir: Path | None, index_prefix: str,
          settings: ClusterSettings, as_json: bool) -> None:
    """Simulate an organisation with labelled attacks, run detection end to end and score it:
    per scenario detected or missed, time to detect and the rules that caught it; per rule
    its alerts (episodes), precision and false alerts per 1,000 benign identity-days; recall.
    Exit 1 when recall < 0.95 or false alerts exceed 5 per 1,000 identity-days (the CI
    gate). With --es-url the events are indexed into Elasticsearch and the rules run there.

    \b
    Examples:
      siem-pack drill --seed 7
      siem-pack drill --seed 7 --json --out drill/
      siem-pack drill --org northwind --seed 23 --identities 150 --days 21
      siem-pack drill --es-url https://localhost:9200 --user elastic --password "$PW"
    """
    options = lib.DrillOptions(seed=seed, days=days, identities=identities, warmup_days=warmup_days,
                               org=org)
    with tempfile.TemporaryDirectory(prefix="siem-pack-drill-") as tmp:
        where = out_dir or Path(tmp)
        if settings.has_cluster:
            report = lib.drill_es(where, settings, options, index_prefix=index_prefix)
        else:
            report = lib.drill(where, options)
    click.echo(lib.to_json(report) if as_json else lib.render(report))
    err = report.gate_error()
    if err is not None:
        raise err


def register(group: click.Group) -> None:
    group.add_command(drill)
