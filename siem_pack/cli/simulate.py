"""`siem-pack simulate`: wraps siem_pack.simulate.simulate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..simulate import PROFILES, SCENARIOS
from ..simulate import simulate as lib_simulate
from .options import json_option


def simulation_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--days, --identities, --seed, --org and --warmup-days (also used by `siem-pack drill`)."""
    opts = [
        click.option("--days", type=int, default=14, show_default=True, help="Days of traffic to simulate."),
        click.option("--identities", type=int, default=40, show_default=True,
                     help="Humans plus service accounts."),
        click.option("--seed", type=int, default=7, show_default=True,
                     help="Random seed (same seed, same files; the CI drill uses 7)."),
        click.option("--org", type=click.Choice(sorted(PROFILES)), default="acme", show_default=True,
                     help="Organisation profile: " + "; ".join(f"{p.name}: {p.description}"
                                                              for p in PROFILES.values()) + "."),
        click.option("--warmup-days", type=int, default=None,
                     help="Benign days before the first attack, not scored by a drill "
                          "[default: half the days, at most 7]."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@click.command()
@simulation_options
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(sorted(SCENARIOS)),
              help="Only these attack scenarios (repeatable) [default: all].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder (logs/, inventory/, truth.json, networks.csv).")
@json_option
def simulate(days: int, identities: int, seed: int, org: str, warmup_days: int | None, scenarios: tuple[str, ...],
             out_dir: Path, as_json: bool) -> None:
    """Simulate an organisation's AI model access with labelled attacks: raw logs in the real
    vendor formats (Bedrock invocation, LiteLLM spend logs, Azure OpenAI diagnostics, OpenAI
    audit), the matching inventory folder and a ground-truth file.

    \b
    Examples:
      siem-pack simulate --days 14 --identities 40 --seed 7 --out drill/
      siem-pack simulate --org northwind --seed 23 --identities 150 --out drill-nw/
      siem-pack run drill/logs --inventory drill/inventory --geoip-db drill/networks.csv --out drill/run
    """
    result = lib_simulate(out_dir, days=days, identities=identities, seed=seed, warmup_days=warmup_days,
                          scenarios=list(scenarios) or None, org=org)
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    click.echo(f"simulated {org}: {summary['identities']} identities x {summary['days']} days (seed {seed}): "
               f"{summary['records_total']} records, {summary['scenarios']} attack scenarios")
    for fmt, n in sorted(summary["records"].items()):
        click.echo(f"  {fmt:<20} {n:>7}  {result.logs_dir / (fmt + '.ndjson')}")
    click.echo(f"  inventory            {result.inventory_dir}")
    click.echo(f"  ground truth         {result.truth_path}")
    click.echo(f"  networks (GeoIP CSV) {result.networks_path}")


def register(group: click.Group) -> None:
    group.add_command(simulate)
