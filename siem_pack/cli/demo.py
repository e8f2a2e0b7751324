"""`siem-pack demo`: wraps siem_pack.demo."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import demo as lib
from .options import json_option


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("siem-pack-demo"), show_default=True,
              help="Folder for the simulation, the store and report.html.")
@click.option("--days", type=click.IntRange(3, 60), default=lib.DemoOptions.days, show_default=True,
              help="Days of simulated activity.")
@click.option("--identities", type=click.IntRange(8, 500), default=lib.DemoOptions.identities, show_default=True,
              help="People and service accounts in the simulated organisation.")
@click.option("--seed", type=int, default=lib.DemoOptions.seed, show_default=True, help="Random seed.")
@json_option
def demo(out_dir: Path, days: int, identities: int, seed: int, as_json: bool) -> None:
    """Simulate a small organisation with attacks, run the whole embedded pipeline (ingest,
    baselines, detections, seals), write the static report and print a short summary. No
    cluster needed.

    \b
    Examples:
      siem-pack demo
      siem-pack demo --out /tmp/demo --days 14 --identities 40
    """
    progress = None if as_json else (lambda msg: click.echo(f"... {msg}", err=True))
    result = lib.demo(out_dir, lib.DemoOptions(days=days, identities=identities, seed=seed), progress)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else lib.render(result))


def register(group: click.Group) -> None:
    group.add_command(demo)
