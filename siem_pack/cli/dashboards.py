"""`siem-pack dashboards build|check|export`: wraps siem_pack.dashboards.build."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..dashboards import build as lib
from ..dashboards.kibana import KIBANA_VERSIONS
from ..errors import ContentErrors
from .options import json_option

version_option = click.option("--kibana-version", "versions", multiple=True, type=click.Choice(KIBANA_VERSIONS),
                              help="Target Kibana (repeatable; default: all of 8.19 and 9.x).")


@click.group()
def dashboards() -> None:
    """Dashboards: compact specs in dashboards/ rendered to Kibana saved objects (data views
    and dashboards with Lens panels). No Kibana runs here: `check` proves the objects
    statically, with our own schemas (schema/kibana/, lens_schema.py)."""


@dashboards.command()
@version_option
@json_option
def check(versions: tuple[str, ...], as_json: bool) -> None:
    """Check every dashboard: fields exist in the index templates, references resolve, Lens
    attributes match our schema, the import request, saved objects and data views match our
    model of them (schema/kibana/import_request.yml, saved_object.yml).
    Exit 1 when a check fails.

    \b
    Examples:
      siem-pack dashboards check
      siem-pack dashboards check --kibana-version 9.x --json
    """
    result = lib.check_dashboards(versions or KIBANA_VERSIONS)
    if as_json:
        click.echo(json.dumps({"dashboards": result.dashboards, "panels": result.panels,
                               "versions": list(result.versions), "problems": [str(p) for p in result.problems]},
                              indent=2))
    else:
        click.echo(f"{result.dashboards} dashboards, {result.panels} panels, Kibana {', '.join(result.versions)}: "
                   f"{len(result.problems)} problem(s)")
    if result.problems:
        raise ContentErrors(result.problems)


@dashboards.command()
@version_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("build/kibana"), show_default=True,
              help="Folder for <version>/siem-pack-dashboards.ndjson.")
def build(versions: tuple[str, ...], out_dir: Path) -> None:
    """Check, then write one NDJSON import body per Kibana version.

    \b
    Examples:
      siem-pack dashboards build
      siem-pack dashboards build --kibana-version 8.19 --out out/kibana
    """
    for path in lib.build(out_dir, versions or KIBANA_VERSIONS):
        click.echo(f"wrote {path}")


@dashboards.command()
@click.option("--kibana-version", "version", type=click.Choice(KIBANA_VERSIONS), default="9.x", show_default=True,
              help="Target Kibana.")
@click.option("--space", default="default", show_default=True, help="Kibana space for the printed import command.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the NDJSON here instead of stdout.")
def export(version: str, space: str, out: Path | None) -> None:
    """Print (or write) the checked NDJSON for `POST /api/saved_objects/_import`.

    \b
    Examples:
      siem-pack dashboards export --kibana-version 8.19 --out siem-pack-dashboards.ndjson
      siem-pack dashboards export > dashboards.ndjson
    """
    ndjson, curl = lib.export(version, space, filename=str(out or lib.BUNDLE_NAME))
    if out is None:
        click.echo(ndjson, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ndjson)
    click.echo(f"wrote {out}\nimport with: {curl}")


def register(group: click.Group) -> None:
    group.add_command(dashboards)
