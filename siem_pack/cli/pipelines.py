"""`siem-pack pipelines list|test`: wraps siem_pack.ingest.pipeline and the offline executor
(what `elastic-package test pipeline` does, with no cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import FindingsError
from .options import format_choices, geoip_option, json_option


@click.group()
def pipelines() -> None:
    """The ingest pipelines: list them (validated), or run sample records through them offline."""


@pipelines.command("list")
@click.option("--inventory", "inventory_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Inventory folder (default: the bundle's inventory/).")
@json_option
def list_cmd(inventory_dir: Path | None, as_json: bool) -> None:
    """List every pipeline (files and generated ones), after loading and validating them all.
    Any problem in any file is reported (path, processor, tag) and exits 1.

    \b
    Example:
      siem-pack pipelines list --json
    """
    from ..ingest.pipeline import load_pipelines

    ps = load_pipelines(inventory_dir=inventory_dir)
    rows: list[dict[str, Any]] = [{"id": pid, "source": ps.sources[pid], "processors": len(ps.bodies[pid].get("processors") or []),
             "description": str(ps.bodies[pid].get("description") or "").strip().split("\n")[0][:100]}
            for pid in ps.ids]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["id"]) for r in rows) if rows else 0
    for r in rows:
        click.echo(f"{r['id'].ljust(width)}  {r['processors']:>4} processors  {r['description']}")


@pipelines.command("test")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(format_choices()), default="auto", show_default=True,
              help="Log format; auto lets the entry pipeline recognise each record.")
@click.option("--inventory", "inventory_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Inventory folder (default: the bundle's inventory/).")
@geoip_option
def test_cmd(file: Path, fmt: str, inventory_dir: Path | None, geoip_db: Path | None) -> None:
    """Run the records of FILE through the entry pipeline offline and print the ECS documents
    (one JSON document per line on stdout). Dropped and dead-lettered records are listed on
    stderr; any dead letter exits 1. No cluster needed.

    \b
    Examples:
      siem-pack pipelines test sample.ndjson
      siem-pack pipelines test spend.json --format litellm_spend | jq .gen_ai
    """
    from ..ingest.pipeline import load_pipelines
    from ..ingest_job import normalize_file

    ps = load_pipelines(inventory_dir=inventory_dir, geoip_db=geoip_db)
    result = normalize_file(file, fmt, pipelines=ps)
    for event in result.events:
        click.echo(json.dumps(event, sort_keys=True, ensure_ascii=False))
    for d in result.dropped:
        click.echo(f"dropped: {d.record.source}:{d.record.line}: {d.reason}", err=True)
    for dl in result.dead_letters:
        click.echo(f"dead letter: {dl.source}:{dl.line}: {dl.reason}", err=True)
    click.echo(f"{result.read} read, {len(result.events)} events, {len(result.dropped)} dropped, "
               f"{len(result.dead_letters)} dead-lettered", err=True)
    if result.dead_letters:
        raise FindingsError(f"{len(result.dead_letters)} record(s) dead-lettered (see above)", where=str(file))


def register(group: click.Group) -> None:
    group.add_command(pipelines)
