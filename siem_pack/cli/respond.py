"""`siem-pack respond`, `siem-pack case build`, `siem-pack alerts` and `siem-pack metrics`:
wrap siem_pack.respond (stage 5). Embedded store by default (--db); a cluster with --es-url
(indices with --prefix in front)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..detect import episodes
from ..errors import FindingsError
from ..inventory import load_inventory
from ..respond import cases as cases_lib
from ..respond import metrics as metrics_lib
from ..respond import workflow as workflow_lib
from ..respond.actions import ACTIONS, ENV, Targets
from ..respond.backend import open_response_store
from ..respond.levels import tier_of
from ..respond.respond import default_actor, respond, undo
from ..settings import ClusterSettings
from .options import cluster_options, db_option, json_option, parse_time


def _store(fn: Any) -> Any:
    """Where alerts, receipts, workflow and metrics live: --db, or a cluster with --prefix."""
    fn = click.option("--prefix", default="", envvar="SIEM_PACK_PREFIX",
                      help="Index-name prefix on Elasticsearch (as `deploy --prefix`) [SIEM_PACK_PREFIX].")(fn)
    return db_option(cluster_options(fn))


def _common(fn: Any) -> Any:
    """_store plus --inventory (for the commands that read the inventory)."""
    fn = click.option("--inventory", "inventory_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help="Inventory folder (default: the bundle's inventory/).")(fn)
    return _store(fn)


def _by_option(fn: Any) -> Any:
    return click.option("--by", "actor", envvar="SIEM_PACK_ACTOR", default=None,
                        help="Who acts (recorded in receipts) [SIEM_PACK_ACTOR; default: the login name].")(fn)


def _target_options(fn: Any) -> Any:
    for name, var in reversed(list(ENV.items())):
        secret = name.endswith(("_key", "_token")) or name == "webhook_url"
        fn = click.option(f"--{name.replace('_', '-')}", name, envvar=var, show_envvar=False,
                          help=f"[{var}]" + (" (secret: never printed)" if secret else ""))(fn)
    return fn


@click.command("respond")
@click.argument("alert_id", required=False)
@click.option("--execute", is_flag=True, help="Perform the actions (default: dry run, nothing is called).")
@click.option("--action", "only", type=click.Choice(sorted(ACTIONS)), help="Only this action, whatever the level.")
@click.option("--undo", "undo_receipt", metavar="RECEIPT_ID", help="Undo the action of this receipt.")
@click.option("--kibana-case", metavar="CASE_ID", help="Also add the receipts to this Kibana case (needs --kibana-url).")
@_by_option
@_target_options
@_common
@json_option
def respond_cmd(alert_id: str | None, execute: bool, only: str | None, undo_receipt: str | None,
                kibana_case: str | None, actor: str | None,
                settings: ClusterSettings, db: Path | None, prefix: str, inventory_dir: Path | None, as_json: bool,
                **targets: Any) -> None:
    """Propose the response to an alert (its kibana.alert.uuid), perform it with --execute,
    or undo an action by its receipt. Every action writes a receipt (table `actions` /
    index siem-pack-actions). Exit 1 when an executed action failed.

    \b
    Example:
      siem-pack respond 3f2a…c9                      # dry run: what would happen
      SIEM_PACK_LITELLM_URL=https://llm.internal SIEM_PACK_LITELLM_KEY=… \\
        siem-pack respond 3f2a…c9 --execute --by alice
      siem-pack respond --undo 9b1e…77 --execute --by alice
    """
    t = Targets.from_env(es=settings, **targets)
    who = actor or default_actor()
    with open_response_store(settings, db, prefix) as backend:
        if undo_receipt:
            rec = undo(backend, undo_receipt, t, who, execute)
            receipts = [rec]
            if as_json:
                click.echo(json.dumps(rec, indent=2))
            else:
                a = rec["siem_pack"]["action"]
                click.echo(f"undo {a['name']} {a['subject']}: {a['result']} ({a['detail']}) receipt {a['receipt_id']}")
        else:
            if not alert_id:
                raise click.UsageError("ALERT_ID is required (or --undo RECEIPT_ID)")
            proposal, receipts = respond(backend, alert_id, load_inventory(inventory_dir), t, who, execute, only)
            if as_json:
                click.echo(json.dumps({**proposal.to_dict(), "receipts": receipts}, indent=2, default=str))
            else:
                d = proposal.decision
                click.echo(f"alert {alert_id[:12]} {proposal.alert.get('kibana.alert.rule.name')}: level {d.level} "
                           f"(tier {d.tier}; {'; '.join(d.reasons)})")
                by_name = {r["siem_pack"]["action"]["name"]: r["siem_pack"]["action"] for r in receipts}
                for p in proposal.plans:
                    r = by_name.get(p.action)
                    state = (f"{r['result']}: {r['detail']} [receipt {r['receipt_id']}]" if r else "not applicable")
                    click.echo(f"  {p.action:<26} {p.summary}\n  {'':<26} → {state}")
                if not execute:
                    click.echo("dry run: nothing was called; pass --execute to act")
    if kibana_case and receipts:
        from ..deploy.kibana import KibanaClient

        cases_lib.comment_receipts(KibanaClient(settings), kibana_case, receipts)
    failed = [r for r in receipts if r["siem_pack"]["action"]["result"] == "failed"]
    if failed:
        raise FindingsError(f"{len(failed)} action(s) failed", where="respond")


@click.group("case")
def case_group() -> None:
    """Case files for alerts (Markdown, HTML and JSON; optionally a Kibana case).

    \b
    Example:
      siem-pack case build 3f2a…c9 --out cases/3f2a
    """


@case_group.command("build")
@click.argument("alert_id")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for case.md, case.html and case.json.")
@click.option("--hours", type=float, default=6.0, show_default=True, help="Timeline window around the alert.")
@click.option("--kibana", "to_kibana", is_flag=True, help="Also open a Kibana case (Cases API; needs --kibana-url).")
@_common
@json_option
def case_build_cmd(alert_id: str, out_dir: Path, hours: float, to_kibana: bool, settings: ClusterSettings,
                   db: Path | None, prefix: str, inventory_dir: Path | None, as_json: bool) -> None:
    """Compile the case file of an alert: the alert, rule and investigation guide, timeline,
    redacted log snippets, baseline explanation, inventory and policy snapshot, bundle
    version, seal verification and actions taken.

    \b
    Example:
      siem-pack case build 3f2a…c9 --out cases/3f2a
      siem-pack case build 3f2a…c9 --out cases/3f2a --kibana --kibana-url https://kibana:5601
    """
    with open_response_store(settings, db, prefix) as backend:
        case = cases_lib.build_case(backend, alert_id, load_inventory(inventory_dir), hours)
    paths = cases_lib.write_case(case, out_dir)
    kibana_case = None
    if to_kibana:
        from ..deploy.kibana import KibanaClient

        alert_sev = next((v for s in case.sections if s.anchor == "alert" for k, v in s.facts if k == "severity"), None)
        kibana_case = cases_lib.open_kibana_case(KibanaClient(settings), case, alert_sev)
    if as_json:
        click.echo(json.dumps({"files": [str(p) for p in paths],
                               "kibana_case": kibana_case.get("id") if kibana_case else None}))
    else:
        for p in paths:
            click.echo(f"wrote {p}")
        if kibana_case:
            click.echo(f"opened Kibana case {kibana_case.get('id')}")


@click.group("alerts")
def alerts_group() -> None:
    """List alerts and move them through open → acknowledged → closed (who and why kept).

    \b
    Example:
      siem-pack alerts list --status open
      siem-pack alerts ack 3f2a…c9 --by alice --reason "triaging"
      siem-pack alerts close 3f2a…c9 --by alice --reason "key blocked, owner rotated it"
    """


@alerts_group.command("list")
@click.option("--status", type=click.Choice(workflow_lib.STATUSES), help="Only alerts in this status.")
@click.option("--from", "from_text", help="Alerts raised at or after this ISO time.")
@click.option("--to", "to_text", help="Alerts raised before this ISO time.")
@click.option("--sort", "order", type=click.Choice(workflow_lib.ORDERS), default="risk", show_default=True,
              help="risk: highest episode risk score first; time: newest first.")
@_common
@json_option
def alerts_list_cmd(status: str | None, from_text: str | None, to_text: str | None, order: str,
                    settings: ClusterSettings, db: Path | None, prefix: str, inventory_dir: Path | None,
                    as_json: bool) -> None:
    """Alerts (one per episode) with their episode risk score and workflow status, highest
    risk first: the rule's risk score raised by the model's tier, other rules' episodes on
    the same identity and its anomaly score (docs/respond.md).

    \b
    Example:
      siem-pack alerts list --status open
      siem-pack alerts list --sort time --json
    """
    inventory = load_inventory(inventory_dir)
    with open_response_store(settings, db, prefix) as backend:
        rows = workflow_lib.listing(backend, status, parse_time(from_text, "--from"), parse_time(to_text, "--to"),
                                    order, lambda a: tier_of(a, inventory))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        tail = f"  by {r['by']}: {r['reason']}" if r["by"] else ""
        folded = r.get(episodes.DOCS_COUNT)
        more = f" (+{folded})" if folded else ""
        click.echo(f"{r[episodes.RISK_FIELD]:>3}  {r['kibana.alert.uuid']}  {r['@timestamp']}  {r['status']:<12} "
                   f"{r['kibana.alert.severity']:<8} {r['kibana.alert.rule.name']}{more}  {r['user.id'] or ''}{tail}")
    click.echo(f"{len(rows)} alert(s), by {'episode risk' if order == 'risk' else 'time'}")


def _change_command(name: str, to_status: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("alert_id")
    @click.option("--by", "actor", envvar="SIEM_PACK_ACTOR", required=True, help="Who [SIEM_PACK_ACTOR].")
    @click.option("--reason", required=True, help="Why (kept in the history).")
    @_store
    @json_option
    def cmd(alert_id: str, actor: str, reason: str, settings: ClusterSettings, db: Path | None, prefix: str,
            as_json: bool) -> None:
        with open_response_store(settings, db, prefix) as backend:
            doc = workflow_lib.change(backend, alert_id, to_status, actor, reason)
        w = doc["siem_pack"]["workflow"]
        click.echo(json.dumps(doc) if as_json else f"alert {alert_id[:12]}: {w['from_status']} → {w['to_status']} "
                                                   f"by {w['actor']}")
    return cmd


@click.command("metrics")
@click.option("--from", "from_text", help="Period start (alerts raised at or after), ISO time.")
@click.option("--to", "to_text", help="Period end (exclusive), ISO time [default: now, to the minute].")
@click.option("--drill", "sim_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A simulation folder (truth.json): adds MTTD per drill scenario (embedded store).")
@click.option("--no-write", is_flag=True, help="Print only; do not write the metrics table / index.")
@_store
@json_option
def metrics_cmd(from_text: str | None, to_text: str | None, sim_dir: Path | None, no_write: bool,
                settings: ClusterSettings, db: Path | None, prefix: str, as_json: bool) -> None:
    """Governance metrics: MTTD, MTTR, policy-compliant access rate, anomalies investigated
    versus auto-resolved, time in each investigation stage; written to the `metrics` table
    or the siem-pack-metrics index (one document per metric, scope and period).

    \b
    Example:
      siem-pack metrics --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z
      siem-pack metrics --drill drills/seed7 --json
    """
    truth = ids = None
    if sim_dir is not None:
        from ..drill import load_truth
        from ..paths import default_db

        truth, ids = load_truth(sim_dir, db or default_db())
    with open_response_store(settings, db, prefix) as backend:
        report = metrics_lib.compute(backend, parse_time(from_text, "--from"), parse_time(to_text, "--to"), truth, ids)
        written = 0 if no_write else metrics_lib.write(backend, report)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "written": written}, indent=2))
    else:
        click.echo(metrics_lib.render(report))
        if written:
            click.echo(f"wrote {written} metric document(s)")


def register(group: click.Group) -> None:
    group.add_command(respond_cmd)
    group.add_command(case_group)
    alerts_group.add_command(_change_command("ack", "acknowledged", "Acknowledge an alert (who and why).\n\n"
                                             "Example: siem-pack alerts ack 3f2a…c9 --by alice --reason 'triaging'"))
    alerts_group.add_command(_change_command("close", "closed", "Close an alert (who and why).\n\n"
                                             "Example: siem-pack alerts close 3f2a…c9 --by alice --reason 'key revoked'"))
    alerts_group.add_command(_change_command("reopen", "open", "Reopen an alert (who and why).\n\n"
                                             "Example: siem-pack alerts reopen 3f2a…c9 --by bob --reason 'recurred'"))
    group.add_command(alerts_group)
    group.add_command(metrics_cmd)
