"""`siem-pack run`: wraps siem_pack.run.run (the embedded default end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..run import run as lib_run
from .options import geoip_option, json_option


@click.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder: siem-pack.duckdb, alerts.ndjson, summary.json.")
@click.option("--inventory", "inventory_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Inventory folder [default: the bundle's inventory/].")
@click.option("--detections", "detections_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Detections folder [default: the bundle's detections/].")
@click.option("--no-baselines", is_flag=True, help="Skip fitting and scoring baselines.")
@geoip_option
@json_option
def run_cmd(inputs: tuple[Path, ...], out_dir: Path, inventory_dir: Path | None, detections_dir: Path | None,
            no_baselines: bool, geoip_db: Path | None, as_json: bool) -> None:
    """Run the embedded pipeline end to end over historical logs: ingest into
    OUT/siem-pack.duckdb, fit and score baselines (walk-forward: never on the future),
    replay every rule's schedule across the input's time span, and write OUT/alerts.ndjson
    and OUT/summary.json. A re-run stores nothing twice.

    \b
    Examples:
      siem-pack run drill/logs --inventory drill/inventory --geoip-db drill/networks.csv --out drill/run
      siem-pack run bedrock.ndjson litellm.ndjson --out out/ --json
    """
    progress = None if as_json else (lambda msg: click.echo(f"... {msg}", err=True))
    summary = lib_run(list(inputs), out_dir, inventory_dir, detections_dir=detections_dir,
                      baselines=not no_baselines, progress=progress, geoip_db=geoip_db).to_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    click.echo(f"ingested into {summary['db']}: {json.dumps(summary['ingest']['total'], sort_keys=True)}")
    click.echo(f"time span {summary['span']['start']} .. {summary['span']['end']}")
    click.echo(f"baselines: {json.dumps(summary['baselines'], sort_keys=True)[:300]}")
    click.echo(f"rules: {summary['rules']['loaded']} replayed over {summary['rules']['ticks']} ticks")
    al = summary["alerts"]
    click.echo(f"alerts: {al['total']} ({al['stored']} new, {al['already_present']} already present)")
    for rid, n in al["by_rule"].items():
        click.echo(f"  {n:>5}  {rid}")
    click.echo(f"wrote {Path(summary['out_dir']) / 'alerts.ndjson'} and {Path(summary['out_dir']) / 'summary.json'}")


def register(group: click.Group) -> None:
    group.add_command(run_cmd)
