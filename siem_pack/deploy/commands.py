"""Cross-cutting (deploy): what the deploy CLI calls: plan, deploy, status, uninstall, keys rotate.

Each builds the clients from `ClusterSettings`, probes the cluster with doctor, collects
the bundle for it, and plans; only `deploy`, `uninstall` and `rotate` go on to write.
`status` lists every missing, drifted and outdated object (`in_sync` False when any).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from ..backends import es
from ..cluster import es_client, translated
from ..doctor import probe_cluster
from ..settings import ClusterSettings
from ..times import parse_ts, utcnow
from .apply import ApplyResult, apply, rotate_key, uninstall
from .bundle import collect, load_roles
from .kibana import KibanaClient
from .plan import Change, Plan, plan, uninstall_plan

RECENT_HOURS = 26


def _planned(settings: ClusterSettings, prefix: str, kibana_version: str
             ) -> tuple[Plan, Elasticsearch, KibanaClient | None]:
    """The plan and the clients it was made with (the writers reuse them)."""
    from ..ingest.pipeline import cluster_bodies

    pipelines = cluster_bodies()  # once: doctor reads their processors, the bundle carries them
    client = es_client(settings)
    kibana = KibanaClient(settings) if settings.kibana_url else None
    with translated(settings.require_es()):
        report = probe_cluster(settings, pipelines)
        bundle = collect(report, prefix=prefix, kibana=kibana is not None, kibana_version=kibana_version,
                         pipelines=pipelines)
        return plan(bundle, client, kibana), client, kibana


def make_plan(settings: ClusterSettings, prefix: str = "", kibana_version: str = "9.x") -> Plan:
    return _planned(settings, prefix, kibana_version)[0]


def deploy(settings: ClusterSettings, prefix: str = "", keys_dir: Path | None = None,
           kibana_version: str = "9.x", before: Callable[[Plan], None] | None = None) -> tuple[Plan, ApplyResult]:
    """Plan, hand the plan to `before` (the CLI prints it: what deploy will change and remove),
    then apply it."""
    p, client, kibana = _planned(settings, prefix, kibana_version)
    if before is not None:
        before(p)
    with translated(settings.require_es()):
        return p, apply(p, client, kibana, keys_dir)


def remove(settings: ClusterSettings, prefix: str = "", delete_data: bool = False, dry_run: bool = False,
           before: Callable[[list[Change], list[str]], None] | None = None
           ) -> tuple[list[Change], list[str], ApplyResult | None]:
    """Plan the removal (`plan.uninstall_plan`), hand it to `before` (the CLI prints it), then,
    unless `dry_run`, remove. Returns the steps, the notes and what was removed."""
    p, client, kibana = _planned(settings, prefix, "9.x")
    with translated(settings.require_es()):
        steps, notes = uninstall_plan(p, client, prefix, delete_data)
        if before is not None:
            before(steps, notes)
        if dry_run:
            return steps, notes, None
        return steps, notes, uninstall(steps, notes, client, kibana)


def rotate(settings: ClusterSettings, job: str, keys_dir: Path, prefix: str = "") -> dict[str, Any]:
    client = es_client(settings)
    with translated(settings.require_es()):
        return rotate_key(client, job, keys_dir, prefix)


def status(settings: ClusterSettings, prefix: str = "") -> dict[str, Any]:
    p, client, kibana = _planned(settings, prefix, "9.x")
    installed = [c for c in p.changes if c.action != "create"]
    versions = sorted({c.installed_version for c in installed if c.installed_version})
    with translated(settings.require_es()):
        job_rows = _job_rows(client, prefix, utcnow())
    rules = _rule_counts(kibana) if kibana is not None else None
    drifted = [c for c in p.changes if c.action == "drifted"]
    outdated = [c for c in p.changes if c.action == "update"]
    missing = [c.key for c in p.changes if c.action == "create"]
    return {"in_sync": not (missing or drifted or outdated), "installed": len(installed), "missing": missing,
            "drifted": [c.key for c in drifted], "outdated": [c.key for c in outdated],
            "drift": {c.key: c.diff for c in [*drifted, *outdated]},
            "versions": versions, "jobs": job_rows, "rules": rules, "notes": p.notes}


def _job_rows(client: Elasticsearch, prefix: str, now: datetime) -> dict[str, dict[str, Any]]:
    """Per job that writes: its (first) own index, when it last wrote there, whether recently."""
    job_rows = {}
    for role in load_roles():
        if not role.write:
            continue
        index = f"{prefix}{role.write[0][0]}"
        ts = _last_run(client, index)
        job_rows[role.job] = {"index": index, "last_run": ts, "recent": _recent(ts, now)}
    return job_rows


def _rule_counts(kibana: KibanaClient) -> dict[str, int]:
    """Our detection rules in Kibana: installed and enabled."""
    found = kibana.request("GET", "/api/detection_engine/rules/_find", query={"per_page": 500, "page": 1})
    ours = [r for r in (found or {}).get("data", []) if isinstance(r.get("meta"), dict) and "siem_pack" in r["meta"]]
    return {"installed": len(ours), "enabled": sum(1 for r in ours if r.get("enabled"))}


def _recent(ts: str | None, now: datetime) -> bool:
    try:
        last = parse_ts(ts)
    except ValueError:  # not an ISO-8601 time: not ours to judge
        return False
    return last is not None and (now - last).total_seconds() < RECENT_HOURS * 3600


def _last_run(client: Elasticsearch, index: str) -> str | None:
    try:
        hits = es.first(client, index, {"match_all": {}}, 1, sort=[es.by("@timestamp", "date", "desc")],
                        source=["@timestamp"])
    except ApiError:
        return None
    return str(hits[0]["_source"].get("@timestamp")) if hits else None


def render_status(st: dict[str, Any]) -> str:
    lines = [f"installed objects: {st['installed']} ({len(st['missing'])} missing), versions: "
             f"{', '.join(st['versions']) or 'none'}"]
    for title in ("missing", "drifted", "outdated"):
        lines.append(f"{title}: {len(st[title]) or 'none'}")
        for key in st[title]:
            lines.append(f"  {key}")
            lines += [f"      {d}" for d in st["drift"].get(key, [])]
    if st["rules"] is not None:
        lines.append(f"rules: {st['rules']['installed']} installed, {st['rules']['enabled']} enabled")
    lines.append("jobs:")
    for job, row in st["jobs"].items():
        lines.append(f"  {job:<10} {row['last_run'] or 'never ran':<28} {'recent' if row['recent'] else 'NOT recent'}"
                     f"  ({row['index']})")
    lines += [f"note: {n}" for n in st["notes"]]
    return "\n".join(lines)


__all__ = ["deploy", "make_plan", "remove", "rotate", "status"]
