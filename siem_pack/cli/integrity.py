"""`siem-pack seal`, `siem-pack verify` and `siem-pack keys`: wrap siem_pack.integrity."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from ..backends.indices import EVENTS_PATTERN, SEALS_INDEX
from ..errors import ConfigError, FindingsError
from ..integrity.backend import open_evidence
from ..integrity.head import HEAD_ENV, seal_anchored
from ..integrity.keys import generate_key_file as _generate
from ..integrity.keys import load_signing_key
from ..integrity.seals import SealReport
from ..integrity.store_duckdb import head_path
from ..integrity.verify import EventProof, VerifyReport, verify_event, verify_events
from ..integrity.verify import verify as _verify
from ..paths import default_db
from ..settings import ClusterSettings
from ..times import parse_duration
from .options import cluster_options, db_option, json_option, parse_time

TRUST_ENV = "SIEM_PACK_SEAL_TRUSTED_KEYS"


def _index_options(fn: Any) -> Any:
    fn = click.option("--seals-index", default=SEALS_INDEX, show_default=True,
                      help="Seals index (Elasticsearch only).")(fn)
    return click.option("--events-index", default=EVENTS_PATTERN, show_default=True,
                        help="Events index pattern (Elasticsearch only).")(fn)


def _head_option(fn: Any) -> Any:
    return click.option("--head", "head", type=click.Path(path_type=Path), envvar=HEAD_ENV,
                        help=f"Head file: each chain's newest seal, signed, kept outside the seal store "
                        f"[{HEAD_ENV}]. Default beside the DuckDB file (<db>.seals.head.json); "
                        "required with --es-url.")(fn)


def _head_file(settings: ClusterSettings, db: Path | None, head: Path | None) -> Path:
    if head is not None:
        return head
    if settings.has_cluster:
        raise ConfigError(f"on Elasticsearch the head file has no default place: give --head FILE or {HEAD_ENV} "
                          "(a path outside the cluster)", where="--head")
    return head_path(db or default_db())


@click.command()
@cluster_options
@db_option
@_index_options
@click.option("--window", default="1h", show_default=True, help="Window length (30m, 1h, 1d).")
@click.option("--grace", default="15m", show_default=True, help="Wait this long after a window ends before sealing it.")
@click.option("--key", "key_file", type=click.Path(path_type=Path), envvar="SIEM_PACK_SEAL_KEY_FILE",
              help="Private key file, mode 0600 [SIEM_PACK_SEAL_KEY_FILE]; else SIEM_PACK_SEAL_KEY holds the key.")
@click.option("--now", "now_text", help="Take this ISO time as now (back-fills, tests). Default: the clock.")
@_head_option
@click.option("--init-head", is_flag=True,
              help="Write a missing head file for a store that already holds seals (once, after a clean verify).")
@json_option
def seal(settings: ClusterSettings, db: Path | None, events_index: str, seals_index: str, window: str, grace: str,
         key_file: Path | None, now_text: str | None, head: Path | None, init_head: bool, as_json: bool) -> None:
    """Seal every closed event window per dataset: a Merkle root over the events' canonical
    bytes, chained to the dataset's previous seal and signed with Ed25519. Late events of a
    sealed window go into an addendum seal and are listed. Run it on a schedule (every
    --window); with no --es-url it seals the embedded store.

    Each run first holds the store against the head file (refusing when the store falls
    short of it, or when the file is missing though the store holds seals: --init-head), then
    rewrites it with every chain's newest seal, signed.

    \b
    Examples:
      siem-pack seal --db siem-pack.duckdb --key seal.key
      SIEM_PACK_SEAL_KEY="$(cat seal.key)" siem-pack seal --es-url https://es:9200 --api-key "$SEALER" \\
          --head /var/lib/siem-pack/seals.head.json --window 1h --grace 15m
    """
    key = load_signing_key(key_file)
    win, gr = parse_duration(window, where="--window"), parse_duration(grace, where="--grace")
    now = parse_time(now_text, "--now")
    head_file = _head_file(settings, db, head)
    with open_evidence(settings, db, events_index=events_index, seals_index=seals_index) as (source, store):
        report = seal_anchored(source, store, key, head_file, init=init_head, window=win, grace=gr, now=now)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else _render_seal(report, key.key_id))


def _render_seal(r: SealReport, key_id: str) -> str:
    windows = sum(s.kind == "window" for s in r.sealed)
    lines = [f"sealed {windows} window(s) and {len(r.sealed) - windows} addendum(s), "
             f"{sum(s.count for s in r.sealed)} event(s), key {key_id}"
             + (" (key record published)" if r.key_published else "")]
    for s in r.sealed:
        lines.append(f"  {s.seal_id:<40} {s.kind:<8} {s.window_start} {s.count:>7} events  root {s.root[:16]}")
    for late in r.late:
        after = late.window_seal or "later windows"
        lines.append(f"late: {len(late.event_ids)} event(s) of window {late.window_start} ({late.dataset}) arrived "
                     f"after {after} and were sealed in addendum {late.addendum}: "
                     + ", ".join(late.event_ids[:10]) + (" ..." if len(late.event_ids) > 10 else ""))
    if r.pending:
        lines.append(f"pending: {len(r.pending)} window(s), {sum(b.count for b in r.pending)} event(s) still open or "
                     "in their grace period")
    for ds, h in r.heads.items():
        lines.append(f"head {ds}: {h}")
    if r.head_file:
        lines.append(f"head file written: {r.head_file}")
    return "\n".join(lines)


@click.command()
@cluster_options
@db_option
@_index_options
@click.option("--from", "from_text",
              help="Check windows ending after this ISO time (DuckDB: and the columns of events from then).")
@click.option("--to", "to_text",
              help="Check windows starting before this ISO time (DuckDB: and the columns of events before then).")
@click.option("--event", "event_ids", multiple=True, help="Prove one event's inclusion (repeatable).")
@click.option("--trust-key", "trust", multiple=True,
              help=f"Accept only seals by these key ids (repeatable) [{TRUST_ENV}, comma-separated].")
@_head_option
@json_option
def verify(settings: ClusterSettings, db: Path | None, events_index: str, seals_index: str, from_text: str | None,
           to_text: str | None, event_ids: tuple[str, ...], trust: tuple[str, ...], head: Path | None,
           as_json: bool) -> None:
    """Recompute every sealed window and every chain and name what changed: modified,
    deleted or inserted events; (DuckDB) a column that disagrees with its event's sealed
    document, named with the column; missing, reordered or modified seals, including the
    newest ones, held against the head file (a missing head file is a finding); a broken
    signature; an unknown key. Exit 1 on any finding. With --event, prove that event's
    inclusion.

    \b
    Examples:
      siem-pack verify --db siem-pack.duckdb
      siem-pack verify --es-url https://es:9200 --api-key "$KEY" --head /var/lib/siem-pack/seals.head.json \\
          --from 2026-01-01T00:00:00Z --json
      siem-pack verify --event 5f0c...e1 --trust-key 3b9d0c27a1f4e2aa
    """
    trusted = list(trust) or [k for k in re.split(r"[,\s]+", os.environ.get(TRUST_ENV, "")) if k] or None
    start, end = parse_time(from_text, "--from"), parse_time(to_text, "--to")
    with open_evidence(settings, db, events_index=events_index, seals_index=seals_index, read_only=True) as (src, st):
        if event_ids:
            proofs = (verify_events(src, st, list(event_ids), trusted) if len(event_ids) > 1
                      else [verify_event(src, st, event_ids[0], trusted)])
            click.echo(json.dumps([p.to_dict() for p in proofs], indent=2) if as_json
                       else "\n".join(_render_proof(p) for p in proofs))
            failed = [p.event_id for p in proofs if not p.proven]
            if failed:
                raise FindingsError(f"{len(failed)} event(s) not proven: {', '.join(failed)}", where="--event")
            return
        report = _verify(src, st, start=start, end=end, trusted_keys=trusted, head=_head_file(settings, db, head))
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else _render_verify(report))
    if not report.ok:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
        raise FindingsError(f"{len(report.findings)} finding(s): {counts}", where=report.store)


def _render_proof(p: EventProof) -> str:
    if not p.proven:
        return f"NOT PROVEN {p.event_id}: " + "; ".join(p.problems)
    return (f"PROVEN {p.event_id}: leaf {p.leaf_index} of seal {p.seal_id} (window {p.window_start}), "
            f"key {p.key_id}, {len(p.path)}-step path to root {p.root}")


def _render_verify(r: VerifyReport) -> str:
    lines = [f"{'OK' if r.ok else 'FINDINGS'}: {r.seals_checked} seal(s), {r.windows_checked} window(s), "
             f"{r.events_checked} event(s) checked in {r.source} against {r.store}"]
    for f in r.findings:
        column = f" column={f.column}" if f.column else ""
        lines.append(f"  {f.kind:<16} seal={f.seal_id or '-'} event={f.event_id or '-'}{column}: {f.detail}")
    for a in r.addenda:
        lines.append(f"  note: addendum {a['seal_id']} seals {a['count']} late event(s) of "
                     f"{a['addendum_of'] or 'window ' + a['window_start']}")
    if r.unsealed:
        lines.append(f"  note: {len(r.unsealed)} window(s) with {sum(u['count'] for u in r.unsealed)} event(s) "
                     "not sealed yet (open, in grace, or ahead of the chain)")
    for k in r.keys:
        lines.append(f"  key {k['key_id']}: {k['seals']} seal(s), published {k['published_at']}"
                     + ("" if k["trusted"] else " (not trusted)"))
    if r.head:
        lines.append(f"  head file {r.head['path']}: {len(r.head['chains'])} chain(s) anchored, written "
                     f"{r.head['written_at']} by key {r.head['key_id']}")
    return "\n".join(lines)


@click.group()
def keys() -> None:
    """Keys: seal signing keys (`generate`, Ed25519) and job API keys (`rotate`)."""


@keys.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New private key file (created 0600).")
def generate(out: Path) -> None:
    """Create a seal signing key. Prints only the key id and public key; the private key stays
    in --out (mode 0600). Rotate by generating a new key and sealing with it: seals by the old
    key keep verifying through its published record.

    \b
    Example:
      siem-pack keys generate --out /etc/siem-pack/seal-2026.key
    """
    pub = _generate(out)
    click.echo(f"key_id {pub.key_id}\npublic_key {pub.b64}\nprivate key written to {out} (mode 0600)")


def register(group: click.Group) -> None:
    group.add_command(seal)
    group.add_command(verify)
    existing = group.commands.get("keys")
    if isinstance(existing, click.Group):  # deploy registered `keys rotate` first
        existing.add_command(generate)
    else:
        group.add_command(keys)
