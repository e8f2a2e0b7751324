"""Cross-cutting (drills): the embedded default end to end: raw logs → DuckDB → baselines → every
rule → alerts.

`run(inputs, out_dir, inventory_dir)` chains the stages other modules own:
  1. ingest (siem_pack.ingest_job) into `out_dir/siem-pack.duckdb`;
  2. baselines (siem_pack.baselines.jobs), walk-forward with no look-ahead: each day of the
     input is scored by a model fitted only on the days before it (the first days, with too
     little history, are not scored);
  3. detections (siem_pack.detect): every rule's schedule (interval and look-back) replayed
     across the input's whole time span, as Kibana would have run it had it been running
     then, on the DuckDB backend;
and writes `out_dir/alerts.ndjson` (the alert documents, Kibana's field names) and
`out_dir/summary.json`. Every write is create-only by a deterministic id, so a re-run
stores nothing new and writes the same alerts file. Used by `siem-pack run`, the drill
(siem_pack.drill) and the demo.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .backends.duckdb import Store
from .detect.alerts import ALERTS_DDL, write_duckdb
from .errors import ConfigError, InputError
from .times import format_ts

DB_NAME = "siem-pack.duckdb"
ALERTS_NAME = "alerts.ndjson"
SUMMARY_NAME = "summary.json"
TICK_ANCHOR = timedelta(hours=1)  # schedules start on the hour before the first event

Progress = Callable[[str], None]


@dataclass
class RunSummary:
    out_dir: str
    db: str
    inputs: list[str]
    ingest: dict[str, Any]
    span: dict[str, str | None]
    baselines: dict[str, Any]
    rules: dict[str, Any]
    alerts: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def run(inputs: Sequence[Path], out_dir: Path, inventory_dir: Path | None = None, *,
        detections_dir: Path | None = None, baselines: bool = True, progress: Progress | None = None,
        geoip_db: Path | None = None) -> RunSummary:
    """Ingest, fit and score baselines, replay every rule, write alerts.ndjson and summary.json."""
    say = progress or (lambda _msg: None)
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such input: {', '.join(missing)}", where="INPUT")
    if inventory_dir is not None and not Path(inventory_dir).is_dir():
        raise ConfigError(f"inventory folder not found: {inventory_dir}", where="--inventory")
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / DB_NAME
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    say("ingest")
    ingest_report = _ingest(paths, db, inventory_dir, geoip_db)
    timings["ingest"] = round(time.monotonic() - t0, 2)

    with Store(db) as store:
        span = event_span(store)
    t0 = time.monotonic()
    base_report: dict[str, Any] = {"skipped": "no events"} if span is None else {"skipped": "disabled"}
    if span is not None and baselines:
        say("baselines (walk-forward)")
        base_report = _baselines(db, span, inventory_dir, out_dir)
    timings["baselines"] = round(time.monotonic() - t0, 2)

    with Store(db) as store:
        t0 = time.monotonic()
        say("rules")
        rule_report, alerts = _detect(store, span, detections_dir, base_report.get("content_thresholds") or None)
        timings["rules"] = round(time.monotonic() - t0, 2)
        stored, present = write_duckdb(store, alerts)
        docs = _alert_docs(store)
    (out_dir / ALERTS_NAME).write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in docs), encoding="utf-8")
    by_rule = Counter(str(d.get("kibana", {}).get("alert", {}).get("rule", {}).get("rule_id")) for d in docs)
    summary = RunSummary(
        out_dir=str(out_dir), db=str(db), inputs=[str(p) for p in paths], ingest=ingest_report,
        span={"start": format_ts(span[0], "seconds") if span else None,
              "end": format_ts(span[1], "seconds") if span else None},
        baselines=base_report, rules=rule_report,
        alerts={"total": len(docs), "stored": stored, "already_present": present, "by_rule": dict(sorted(by_rule.items()))},
        timings_s=timings)
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return summary


# --- stage 1 → 2 ---------------------------------------------------------------------------

def _ingest(paths: Sequence[Path], db: Path, inventory_dir: Path | None, geoip_db: Path | None) -> dict[str, Any]:
    from . import ingest_job

    return ingest_job.ingest(list(paths), db=db, inventory_dir=inventory_dir, geoip_db=geoip_db).to_dict()


def event_span(store: Store) -> tuple[datetime, datetime] | None:
    row = store.con.execute('SELECT min("@timestamp"), max("@timestamp") FROM events').fetchone()
    if not row or row[0] is None:
        return None
    return row[0], row[1]


# --- stage 3: baselines ----------------------------------------------------------------------

MIN_HISTORY_DAYS = 3  # the first days only train: a baseline needs some history


def _baselines(db: Path, span: tuple[datetime, datetime], inventory_dir: Path | None,
               out_dir: Path) -> dict[str, Any]:
    """Walk forward one day at a time: fit on [first day, d), score [d, d + 1 day)."""
    from .baselines import jobs
    from .baselines.features import IdentityContext

    context = IdentityContext.from_inventory(inventory_dir)
    models_dir = out_dir / "baselines"
    key = _baseline_key(models_dir)
    source = jobs.Source(db=db)
    first = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
    last = span[1].replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    day = first + timedelta(days=MIN_HISTORY_DAYS)
    fits = scored = anomalous = stored = present = 0
    skipped: list[str] = []
    thresholds: dict[str, Any] = {}
    thresholds_from = ""
    while day < last:
        try:
            fit = jobs.fit_baselines(source, models_dir, key, start=first, end=day, context=context)
        except ConfigError as exc:  # too little history yet
            skipped.append(f"{day.date()}: {exc.message}")
            day += timedelta(days=1)
            continue
        fits += 1
        if not thresholds:  # the rule templates use what the first fit learnt (no look-ahead)
            from .baselines import artifacts

            thresholds = dict(artifacts.read_metadata(Path(fit["artifact"]), key).get("content_thresholds") or {})
            thresholds_from = fit["training_end"]
        rep = jobs.score(source, models_dir, key, start=day, end=min(day + timedelta(days=1), last), context=context,
                         artifact=Path(fit["artifact"]))
        scored += int(rep.get("scored", 0))
        anomalous += int(rep.get("anomalous", 0))
        stored += int(rep.get("stored", 0))
        present += int(rep.get("already_present", 0))
        day += timedelta(days=1)
    return {"mode": "walk-forward, fit on the days before each scored day", "fits": fits, "windows_scored": scored,
            "anomalous": anomalous, "stored": stored, "already_present": present, "skipped": skipped,
            "content_thresholds": thresholds,
            "content_thresholds_trained_until": thresholds_from if thresholds else None}


def _baseline_key(models_dir: Path) -> bytes:
    """The artifacts' signing key: SIEM_PACK_BASELINE_KEY, else one made for this output folder."""
    import os
    import secrets

    env = os.environ.get("SIEM_PACK_BASELINE_KEY")
    if env:
        return env.encode()
    path = models_dir / "signing.key"
    if not path.is_file():
        models_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode()


# --- stage 3: detections --------------------------------------------------------------------

def replay_ticks(span: tuple[datetime, datetime], interval: timedelta) -> list[datetime]:
    """A rule's ticks over the input: from the hour before the first event until one interval
    after the last, so every event falls in some window."""
    from .detect.schedule import ticks

    anchor = span[0].replace(minute=0, second=0, microsecond=0)
    return ticks(anchor, span[1] + interval, interval)


def _detect(store: Store, span: tuple[datetime, datetime] | None, detections_dir: Path | None,
            thresholds: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from .detect.rules import load_exceptions, load_rules
    from .detect.runner_duckdb import DuckDBRuleReader
    from .detect.schedule import evaluate

    rules = load_rules(detections_dir, thresholds=thresholds)
    entries = load_exceptions(detections_dir, rule_ids=[r.rule_id for r in rules])
    report: dict[str, Any] = {"loaded": len(rules), "ticks": 0, "per_rule": {}}
    if span is None:
        return report, []
    backend = DuckDBRuleReader(store)
    alerts: list[dict[str, Any]] = []
    for rule in sorted(rules, key=lambda r: r.rule_id):
        tks = replay_ticks(span, rule.interval)
        found = evaluate(rule, backend, tks, entries)
        report["ticks"] += len(tks)
        report["per_rule"][rule.rule_id] = {"name": rule.name, "type": rule.type, "ticks": len(tks),
                                            "alerts": len(found)}
        alerts.extend(found)
    return report, alerts


def _alert_docs(store: Store) -> list[dict[str, Any]]:
    store.ensure_table(ALERTS_DDL)
    rows = store.con.execute(
        'SELECT doc FROM alerts ORDER BY "@timestamp", "kibana.alert.rule.rule_id", "kibana.alert.uuid"').fetchall()
    return [json.loads(r[0]) for r in rows]
