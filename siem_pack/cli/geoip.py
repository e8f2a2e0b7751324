"""`siem-pack geoip build`: wraps siem_pack.ingest.geoip_csv.build_databases (a CSV of
networks → MaxMind-format City and ASN databases for `source.geo` / `source.as`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .options import json_option


@click.group()
def geoip() -> None:
    """Geography databases for `source.geo` and `source.as`, from what you have."""


@geoip.command("build")
@click.argument("csv_file", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the .mmdb databases into (created if needed).")
@json_option
def build(csv_file: Path, out_dir: Path, as_json: bool) -> None:
    """Build MaxMind-format databases from a CSV of networks, so events get `source.geo.*`
    and `source.as.*` without a commercial database: siem_pack-csv-City.mmdb (rows with
    geography) and siem_pack-csv-ASN.mmdb (rows with an asn or as_org) in --out.

    The header names the columns: network (or ip, cidr: an address or a CIDR),
    country_iso_code, country_name, city_name (required columns; values may be empty), and
    optionally region_name, latitude, longitude, asn (or autonomous_system_number), as_org
    (or autonomous_system_organization). Where networks overlap the most specific one wins.
    Every problem of the file is reported as FILE:LINE and exits 1; nothing is written then.

    Use the folder offline with `--geoip-db DIR` (or SIEM_PACK_GEOIP_DB). On a cluster, copy
    the files into config/ingest-geoip/ on every ingest node and PUT the `siem_pack-geo`
    pipeline that --json prints under "pipeline" (it names these files).

    \b
    Examples:
      siem-pack geoip build networks.csv --out geo-db/
      siem-pack ingest logs/ --geoip-db geo-db/
      siem-pack geoip build networks.csv --out geo-db/ --json | jq .pipeline
    """
    from ..ingest.geoip import GEO_PIPELINE, compile_pipeline
    from ..ingest.geoip_csv import build_databases

    result = build_databases(csv_file, out_dir)
    pipeline = compile_pipeline(result.db_names)
    if as_json:
        out: dict[str, Any] = result.to_dict() | {"pipeline_id": GEO_PIPELINE, "pipeline": pipeline}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(f"built from {csv_file}: {result.rows} rows")
    for key, fills in (("city", "source.geo"), ("asn", "source.as")):
        if key in result.paths:
            click.echo(f"  wrote {result.paths[key]}: {result.networks[key]} networks → {fills}")
        else:
            click.echo(f"  no {key} database: no row has {'geography' if key == 'city' else 'an asn or as_org'}")
    files = " ".join(p.name for p in result.paths.values())
    click.echo("use it:")
    click.echo(f"  offline: siem-pack ingest LOGS --geoip-db {out_dir}   (or SIEM_PACK_GEOIP_DB={out_dir})")
    click.echo(f"  cluster: copy {files}")
    click.echo("           into config/ingest-geoip/ on every ingest node (Elasticsearch picks them up;")
    click.echo("           OpenSearch reads the folder when the node starts), then PUT")
    click.echo(f"           _ingest/pipeline/{GEO_PIPELINE} with the body --json prints under \"pipeline\"")
    click.echo("           (siem-pack deploy installs it for GeoLite2-City.mmdb and GeoLite2-ASN.mmdb)")


def register(group: click.Group) -> None:
    group.add_command(geoip)
