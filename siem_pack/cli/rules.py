"""`siem-pack rules list|test|build|export|run`: wraps siem_pack.detect.api."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..backends.indices import ALERTS_INDEX, EVENTS_PATTERN
from ..cluster import es_client, translated
from ..detect import api as lib
from ..settings import ClusterSettings
from .options import cluster_options, db_option, json_option


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group()
def rules() -> None:
    """Detection rules as code (detections/*.toml): list, test fixtures, build and export
    Kibana payloads, replay schedules. See docs/detections.md."""


@rules.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List every rule (files and rendered templates) with type, severity and schedule.

    \b
    Examples:
      siem-pack rules list
      siem-pack rules list --json
    """
    rows = lib.list_rules()
    if as_json:
        _dump(rows)
        return
    for r in rows:
        t = " (template)" if r["template"] else ""
        click.echo(f"{r['rule_id']}  {r['type']:<9} {r['severity']:<8} every {r['interval']:<4} "
                   f"{r['stem']}{t}: {r['name']}")
    click.echo(f"{len(rows)} rule(s)")


@rules.command("test")
@cluster_options
@click.option("--rule", "only", multiple=True, help="Only this rule (file stem or rule_id); repeatable.")
@click.option("--prefix", default="siem-pack-rules-test", show_default=True,
              help="Prefix of the temporary fixture indices on Elasticsearch.")
@json_option
def test_cmd(settings: ClusterSettings, only: tuple[str, ...], prefix: str, as_json: bool) -> None:
    """Run every rule's hit/miss fixtures on the embedded DuckDB runner and, with --es-url,
    on Elasticsearch too (both must agree). Exit 1 when any fixture fails.

    \b
    Examples:
      siem-pack rules test
      siem-pack rules test --rule new_user_model_pair --es-url https://es:9200 --user elastic --password ...
    """
    if settings.has_cluster:
        client = es_client(settings)
        with translated(settings.require_es()):
            results = lib.test_rules(client, only, prefix)
    else:
        results = lib.test_rules(None, only, prefix)
    if as_json:
        _dump([{**r.__dict__, "ok": r.ok} for r in results])
    else:
        for r in results:
            es = "" if r.elasticsearch is None else f" elasticsearch={r.elasticsearch}"
            status = "ok  " if r.ok else "FAIL"
            click.echo(f"{status} {r.rule}/{r.kind}: duckdb={r.duckdb}{es}{'' if r.ok else ' ' + '; '.join(r.problems)}")
        click.echo(f"{sum(r.ok for r in results)}/{len(results)} fixture file(s) passed")
    lib.failures(results)


@rules.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write one API body per rule here.")
@json_option
def build_cmd(out: Path | None, as_json: bool) -> None:
    """Render every rule's Kibana API body and validate it with our rule schema
    (schema/kibana/rule.yml); every problem names its rule file. Exit 1 on problems.

    \b
    Examples:
      siem-pack rules build
      siem-pack rules build --out build/rules
    """
    bodies = lib.build_rules(out)
    if as_json:
        _dump(bodies)
    else:
        click.echo(f"{len(bodies)} rule(s) valid against schema/kibana/rule.yml" + (f"; written to {out}" if out else ""))


@rules.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=Path("build/export"), show_default=True,
              help="Folder for rules.ndjson (Kibana _import) and savedsearches.conf (Splunk).")
@json_option
def export_cmd(out: Path, as_json: bool) -> None:
    """Write the NDJSON Kibana's rule import takes (rules plus allow-list exception lists and
    items) and a best-effort Splunk savedsearches.conf, listing rules that do not map.

    \b
    Examples:
      siem-pack rules export --out build/export
      curl -X POST "$KIBANA/api/detection_engine/rules/_import?overwrite=true" -H 'kbn-xsrf: true' \\
           --form file=@build/export/rules.ndjson
    """
    report = lib.export_rules(out)
    if as_json:
        _dump(report)
    else:
        click.echo(f"{report['rules']} rule(s), {report['exception_items']} exception item(s) → {report['kibana_ndjson']}")
        click.echo(f"Splunk → {report['splunk_conf']}; not mapped: {', '.join(report['splunk_unmapped']) or 'none'}")


@rules.command("run")
@cluster_options
@db_option
@click.option("--start", default=None, help="Period start, ISO-8601 UTC.")
@click.option("--end", default=None, help="Period end, ISO-8601 UTC (default now with --last).")
@click.option("--last", default=None, help="Period length ending at --end or now (e.g. 24h, 7d).")
@click.option("--rule", "only", multiple=True, help="Only this rule (file stem or rule_id); repeatable.")
@click.option("--index", default=EVENTS_PATTERN, show_default=True, help="Event index pattern (with --es-url).")
@click.option("--alerts-index", default=ALERTS_INDEX, show_default=True, help="Alert index (with --es-url).")
@json_option
def run_cmd(settings: ClusterSettings, db: Path | None, start: str | None, end: str | None, last: str | None,
            only: tuple[str, ...], index: str, alerts_index: str, as_json: bool) -> None:
    """Replay every rule's schedule over a period on the embedded store (or Elasticsearch with
    --es-url) and write the alerts create-only (a re-run writes nothing new).

    \b
    Examples:
      siem-pack rules run --last 24h
      siem-pack rules run --start 2026-11-01T00:00:00Z --end 2026-11-02T00:00:00Z --json
    """
    s, e = lib.parse_period(start, end, last)
    if settings.has_cluster:
        client = es_client(settings)
        with translated(settings.require_es()):
            summary = lib.run_es(client, s, e, only, events_index=index, alerts_index=alerts_index)
    else:
        summary = lib.run_duckdb(db, s, e, only)
    if as_json:
        _dump(lib.summary_dict(summary))
    else:
        click.echo(f"{summary.rules} rule(s), {summary.ticks} tick(s): {summary.alerts} alert(s), "
                   f"{summary.stored} stored, {summary.already_present} already present")
        for stem, n in sorted(summary.per_rule.items()):
            if n:
                click.echo(f"  {stem}: {n}")


def register(group: click.Group) -> None:
    group.add_command(rules)
