"""`siem-pack ingest`: wraps siem_pack.ingest_job (read → normalize → store, with the
ingest invariant printed per format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..backends.indices import DEAD_LETTER_INDEX, EVENTS_TARGET
from ..settings import ClusterSettings
from .options import cluster_options, db_option, format_choices, geoip_option, json_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(format_choices()), default="auto", show_default=True,
              help="Log format; auto lets the entry pipeline recognise each record.")
@db_option
@cluster_options
@click.option("--namespace", default="default", show_default=True, help="Data stream namespace.")
@click.option("--index", "index", default=EVENTS_TARGET, show_default=True,
              help="Target index on Elasticsearch ({format} and {namespace} are filled in).")
@click.option("--dead-letter-index", default=DEAD_LETTER_INDEX, show_default=True,
              help="With --es-url and no --db: the cluster index that keeps dead letters (deployed with the bundle).")
@click.option("--inventory", "inventory_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Inventory folder (default: the bundle's inventory/).")
@geoip_option
@click.option("--max-line-bytes", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Longer lines are dead-lettered.")
@click.option("--follow", is_flag=True, help="Keep reading one growing NDJSON file (Ctrl-C stops).")
@click.option("--keep-content", "content_mode", type=click.Choice(["none", "truncated", "hashed"]), default="none",
              show_default=True, envvar="SIEM_PACK_CONTENT_MODE",
              help="Prompt text is not stored by default; `truncated` keeps the first prompt cut to 256 "
                   "characters (secrets redacted); `hashed` stores no text, only siem_pack.content.prompt_hash "
                   "(sha256 of the whole prompt, secrets redacted) and prompt_length [SIEM_PACK_CONTENT_MODE].")
@json_option
def ingest(paths: tuple[Path, ...], fmt: str, db: Path | None, settings: ClusterSettings, namespace: str, index: str,
           dead_letter_index: str, inventory_dir: Path | None, geoip_db: Path | None, max_line_bytes: int, follow: bool,
           content_mode: str, as_json: bool) -> None:
    """Normalize log files or folders (NDJSON, JSON arrays, pretty-printed JSON, .gz) into ECS
    events and store them: in the embedded DuckDB store (default), or in Elasticsearch with
    --es-url (create-only, `_id` = the event fingerprint, so a re-run never duplicates).

    Prints, per format: read = stored + already present + dropped + dead-lettered. Bad records
    (invalid JSON or UTF-8, oversized lines, unknown format, missing or absurd timestamps,
    wrong types) and unreadable files go to the `dead_letters` table (with --es-url and no
    --db: the cluster's --dead-letter-index) with the reason and the original (secrets
    redacted, prompt and completion text replaced by [CONTENT]). The store being written and
    other binary stores (DuckDB, SQLite, .mmdb) found in the input are skipped, with a note.

    Exit 0 when every record was stored, already present or dropped on purpose (an empty
    input says so); 1 when anything was dead-lettered or unreadable; 2 when it could not run
    (if the cluster stops answering part-way, the error says how much was stored; re-running
    is safe, events are create-only with deterministic ids).

    \b
    Examples:
      siem-pack ingest logs/ --db audit.duckdb
      siem-pack ingest bedrock.log.gz --format bedrock_invocation
      siem-pack ingest gateway.ndjson --follow
      siem-pack ingest bedrock.log --keep-content hashed
      siem-pack ingest logs/ --es-url https://es:9200 --api-key "$KEY" --json
    """
    from .. import ingest_job

    kwargs: dict[str, Any] = {"inventory_dir": inventory_dir, "namespace": namespace, "index": index,
                              "dead_letter_index": dead_letter_index,
                              "geoip_db": geoip_db, "max_line_bytes": max_line_bytes, "content_mode": content_mode}
    cluster = settings if settings.has_cluster else None
    if cluster is not None:
        click.echo("siem-pack: normalizing offline and bulk-indexing into Elasticsearch "
                   "(create-only, _id = event fingerprint)", err=True)
    if follow:
        if len(paths) != 1 or not paths[0].is_file():
            raise click.UsageError("--follow takes exactly one file")
        click.echo(f"siem-pack: following {paths[0]} (Ctrl-C to stop)", err=True)

        def show(s: ingest_job.IngestSummary) -> None:
            t = s.total
            click.echo(f"siem-pack: +{t.read} read, {t.stored} stored, {t.already_present} already present, "
                       f"{t.dropped} dropped, {t.dead_lettered} dead-lettered", err=True)
        summary = ingest_job.follow(paths[0], fmt, db=db, settings=cluster, on_summary=show, **kwargs)
    else:
        summary = _with_progress(lambda progress: ingest_job.ingest(list(paths), fmt, db=db, settings=cluster,
                                                                    progress=progress, **kwargs), paths, as_json)
    for note in summary.notes:
        click.echo(f"siem-pack: {note}", err=True)
    click.echo(json.dumps(summary.to_dict(), indent=2, sort_keys=True) if as_json else summary.render())
    if not summary.clean:
        raise SystemExit(1)


def _with_progress(fn: Any, paths: tuple[Path, ...], quiet: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..ingest_job import count_records

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return fn(None)
    with Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("ingest", total=count_records(paths))
        return fn(lambda n: bar.advance(task, n))


def register(group: click.Group) -> None:
    group.add_command(ingest)
