"""`siem-pack plan|deploy|status|uninstall|keys rotate`: wraps siem_pack.deploy.commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click

from ..deploy import commands as lib
from ..deploy.plan import Change, Plan, render, render_change
from ..settings import ClusterSettings
from .options import cluster_options, json_option

prefix_option = click.option("--prefix", default="", envvar="SIEM_PACK_PREFIX", show_default=False,
                             help="Put this in front of every object name (several installs side by side) "
                                  "[SIEM_PACK_PREFIX].")
kibana_version_option = click.option("--kibana-version", type=click.Choice(["8.19", "9.x"]), default="9.x",
                                     show_default=True, help="Render Kibana objects for this Kibana.")


def _print_plan(ctx: click.Context, p: Plan, as_json: bool) -> NoReturn:
    """Print the plan; exit 1 when changes are pending, 0 when there is nothing to do."""
    click.echo(json.dumps(p.to_dict(), indent=2) if as_json else render(p))
    ctx.exit(1 if p.pending else 0)


@click.command("plan")
@cluster_options
@prefix_option
@kibana_version_option
@json_option
@click.pass_context
def plan_cmd(ctx: click.Context, settings: ClusterSettings, prefix: str, kibana_version: str, as_json: bool) -> None:
    """Compare the bundle with the cluster: create, update (with a short diff), unchanged or
    drifted, per object. A key on the cluster that our body lacks (added by hand; not one the
    server adds itself) shows as `+ path = value`: drift that deploy removes. Exit code 1 when
    changes are pending, 0 when there is nothing to do.

    \b
    Example:
      siem-pack plan --es-url https://es:9200 --kibana-url https://kb:5601 --api-key "$KEY"
    """
    _print_plan(ctx, lib.make_plan(settings, prefix, kibana_version), as_json)


@click.command("deploy")
@cluster_options
@prefix_option
@kibana_version_option
@click.option("--keys-dir", type=click.Path(path_type=Path), envvar="SIEM_PACK_KEYS_DIR",
              help="Write each new job API key here as <job>.key, mode 0600 [SIEM_PACK_KEYS_DIR]. "
                   "Without it no job key is created.")
@click.option("--dry-run", is_flag=True, help="Print the plan only.")
@json_option
@click.pass_context
def deploy_cmd(ctx: click.Context, settings: ClusterSettings, prefix: str, kibana_version: str,
               keys_dir: Path | None, dry_run: bool, as_json: bool) -> None:
    """Apply the plan in dependency order: component templates, retention policy, ingest
    pipelines, index templates, the approvals index, job roles and API keys, then Kibana's data
    view, dashboards, rules and exceptions. Idempotent; adapts to what doctor finds.

    It prints the plan first, each change with its diff. The bundle wins: a key someone added
    by hand to an object we own (a `+ path = value` line) is removed (on our indices: the
    setting is reset to its default).

    \b
    Example:
      siem-pack deploy --es-url https://es:9200 --kibana-url https://kb:5601 \\
          --api-key "$KEY" --keys-dir /etc/siem-pack/keys
    """
    if dry_run:
        _print_plan(ctx, lib.make_plan(settings, prefix, kibana_version), as_json)

    def show(p: Plan) -> None:
        if not as_json and p.pending:
            click.echo(f"plan: {len(p.pending)} change(s)")
            for c in p.pending:
                click.echo("\n".join(render_change(c)))

    p, result = lib.deploy(settings, prefix, keys_dir, kibana_version, before=show)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    for path in result.keys_written:
        click.echo(f"  key written: {path} (mode 0600)")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"{len(result.applied)} change(s) applied; {sum(1 for c in p.changes if not c.pending)} unchanged")


@click.command("status")
@cluster_options
@prefix_option
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, settings: ClusterSettings, prefix: str, as_json: bool) -> None:
    """What is installed, its versions, every missing, drifted or outdated object (with its
    diff), whether the jobs ran recently and the rules are enabled. Exit code 1 when any
    object is missing, drifted or outdated, 0 when the cluster matches the bundle.

    \b
    Example:
      siem-pack status --es-url https://es:9200 --api-key "$KEY" --json
    """
    st = lib.status(settings, prefix)
    click.echo(json.dumps(st, indent=2, default=str) if as_json else lib.render_status(st))
    ctx.exit(0 if st["in_sync"] else 1)


@click.command("uninstall")
@cluster_options
@prefix_option
@click.option("--delete-data", is_flag=True,
              help="Also delete the data the pack owns: events of every namespace (data streams, or indices and "
                   "their write aliases), alerts, anomalies, seals, actions, metrics, approvals, dead letters. "
                   "Evidence!")
@click.option("--dry-run", is_flag=True, help="Print what would be removed only.")
@json_option
def uninstall_cmd(settings: ClusterSettings, prefix: str, delete_data: bool, dry_run: bool, as_json: bool) -> None:
    """Remove only what siem-pack owns (of this --prefix), after printing the plan. Data stays
    unless --delete-data; an index or template that merely looks like ours is never touched.

    \b
    Example:
      siem-pack uninstall --es-url https://es:9200 --api-key "$KEY" --dry-run
    """
    def show(steps: list[Change], notes: list[str]) -> None:
        if as_json:
            return
        click.echo(f"{'would remove' if dry_run else 'removing'} {len(steps)} object(s) siem-pack owns:")
        for c in steps:
            click.echo(f"  {c.key}")
        for note in notes:
            click.echo(f"note: {note}")

    steps, notes, result = lib.remove(settings, prefix, delete_data, dry_run, before=show)
    if as_json:
        click.echo(json.dumps({"would_remove": [c.key for c in steps], "notes": notes} if result is None
                              else {"removed": result.to_dict()["applied"], "notes": result.notes}, indent=2))
    elif result is not None:
        for note in result.notes[len(notes):]:
            click.echo(f"note: {note}")
        click.echo(f"{len(result.applied)} removed")


@click.group("keys")
def keys_group() -> None:
    """Job API keys."""


@keys_group.command("rotate")
@cluster_options
@prefix_option
@click.argument("job")
@click.option("--keys-dir", type=click.Path(path_type=Path), envvar="SIEM_PACK_KEYS_DIR", required=True,
              help="Where <job>.key is written (mode 0600) [SIEM_PACK_KEYS_DIR].")
@json_option
def rotate_cmd(settings: ClusterSettings, prefix: str, job: str, keys_dir: Path, as_json: bool) -> None:
    """Replace JOB's API key: create a new one, write it, invalidate the old ones.

    \b
    Example:
      siem-pack keys rotate seal --keys-dir /etc/siem-pack/keys --es-url https://es:9200 --api-key "$KEY"
    """
    res = lib.rotate(settings, job, keys_dir, prefix)
    click.echo(json.dumps(res) if as_json else
               f"new key for {res['job']} written to {res['key_file']} (mode 0600); {res['invalidated']} old key(s) invalidated")


def register(group: click.Group) -> None:
    for cmd in (plan_cmd, deploy_cmd, status_cmd, uninstall_cmd):
        group.add_command(cmd)
    if "keys" in group.commands and isinstance(group.commands["keys"], click.Group):
        group.commands["keys"].add_command(rotate_cmd)  # the seals stage owns `keys generate`
    else:
        group.add_command(keys_group)
