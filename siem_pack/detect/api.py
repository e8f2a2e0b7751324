"""Stage 3 entry points, one per `siem-pack rules` command and for other stages (the drill,
jobs): list, test, build, export, and replay of every rule's schedule over a period on the
embedded store or on Elasticsearch, writing alerts create-only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.duckdb import Store
from ..backends.indices import ALERTS_INDEX, ANOMALIES_INDEX, EVENTS_PATTERN
from ..errors import ConfigError, FindingsError
from ..times import parse_duration, parse_ts, utcnow
from . import export as exp
from . import kibana
from .alerts import episodes_duckdb, episodes_es, write_duckdb, write_es
from .fixtures import FixtureResult, check_rule
from .rules import AllowEntry, Rule, exceptions_for, load_exceptions, load_rules
from .runner_duckdb import DuckDBRuleReader
from .schedule import Backend, evaluate, ticks

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def load_content(thresholds: dict[str, Any] | None = None) -> tuple[list[Rule], list[AllowEntry]]:
    rules = load_rules(thresholds=thresholds)
    return rules, load_exceptions(rule_ids=[r.rule_id for r in rules])


def list_rules() -> list[dict[str, Any]]:
    rules, entries = load_content()
    return [{"rule_id": r.rule_id, "stem": r.stem, "name": r.name, "type": r.type, "severity": r.severity,
             "risk_score": r.risk_score, "interval": r.body.get("interval"), "from": r.body.get("from"),
             "template": r.template, "mission_indicator": r.metadata.get("mission_indicator"),
             "exceptions": [e.item_id for e in exceptions_for(r, entries)]} for r in rules]


def _chosen(rules: Sequence[Rule], only: Sequence[str]) -> list[Rule]:
    """The rules named in `only` (file stem or rule_id), or all when it is empty."""
    return [r for r in rules if not only or r.stem in only or r.rule_id in only]


def test_rules(client: Elasticsearch | None = None, only: Sequence[str] = (),
               prefix: str = "siem-pack-rules-test") -> list[FixtureResult]:
    """Every rule's fixtures on DuckDB (and Elasticsearch with a client); raises FindingsError
    naming the failing rule files when any expectation or agreement fails."""
    rules, _ = load_content()
    results: list[FixtureResult] = []
    for r in _chosen(rules, only):
        results += check_rule(r, (), client, prefix)
    return results


def failures(results: Sequence[FixtureResult]) -> None:
    bad = [f"{r.rule}/{r.kind}: {'; '.join(r.problems)}" for r in results if not r.ok]
    if bad:
        raise FindingsError(f"{len(bad)} fixture(s) failed:\n  " + "\n  ".join(bad), where="detections/fixtures")


def build_rules(out: Path | None = None) -> list[dict[str, Any]]:
    """Every rule's API body, validated with our rule schema (schema/kibana/rule.yml);
    optionally write one body per rule into `out` (named by rule file stem)."""
    rules, entries = load_content()
    bodies = kibana.build(rules, entries)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for r, b in zip(rules, bodies, strict=True):
            (out / f"{r.stem}.json").write_text(json.dumps(b, indent=2, sort_keys=True) + "\n")
    return bodies


def export_rules(out: Path) -> dict[str, Any]:
    """Write `rules.ndjson` (Kibana _import, with exception lists) and `savedsearches.conf`."""
    rules, entries = load_content()
    kibana.build(rules, entries)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.ndjson").write_text(exp.kibana_ndjson(rules, entries))
    conf, unmapped = exp.splunk_conf(rules, entries)
    (out / "savedsearches.conf").write_text(conf)
    return {"kibana_ndjson": str(out / "rules.ndjson"), "rules": len(rules),
            "exception_items": sum(len(exceptions_for(r, entries)) for r in rules),
            "splunk_conf": str(out / "savedsearches.conf"), "splunk_unmapped": unmapped}


@dataclass
class RunSummary:
    rules: int
    ticks: int
    alerts: int
    stored: int
    already_present: int
    per_rule: dict[str, int]


def replay(backend: Backend, start: datetime, end: datetime, rules: Sequence[Rule] | None = None,
           entries: Sequence[AllowEntry] | None = None, prior: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every rule's schedule replayed over [start, end] (its ticks every interval, aligned
    to `start`); alerts deduped per rule and folded into episodes where the rule suppresses
    (`prior`: episodes already stored, which come back updated when extended). The drill
    and `rules run` call this."""
    if rules is None or entries is None:
        loaded_rules, loaded_entries = load_content()
        rules = loaded_rules if rules is None else rules
        entries = loaded_entries if entries is None else entries
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for p in prior:
        by_rule.setdefault(str(p.get("kibana.alert.rule.rule_id")), []).append(p)
    out: list[dict[str, Any]] = []
    for r in rules:
        out += evaluate(r, backend, ticks(start, end, r.interval), entries, by_rule.get(r.rule_id, []))
    return out


def open_since(rules: Sequence[Rule], start: datetime) -> datetime:
    """How far back a stored episode may still be open at `start`: the longest window."""
    longest = max((r.suppression.duration for r in rules if r.suppression), default=timedelta(0))
    return start - longest


def run_duckdb(db: Path | None, start: datetime, end: datetime, only: Sequence[str] = ()) -> RunSummary:
    rules, entries = load_content()
    chosen = _chosen(rules, only)
    with Store(db) as store:
        prior = episodes_duckdb(store, open_since(chosen, start))
        alerts = replay(DuckDBRuleReader(store), start, end, chosen, entries, prior)
        stored, present = write_duckdb(store, alerts)
    return _summary(chosen, start, end, alerts, stored, present)


def run_es(client: Elasticsearch, start: datetime, end: datetime, only: Sequence[str] = (),
           events_index: str = EVENTS_PATTERN, anomalies_index: str = ANOMALIES_INDEX,
           alerts_index: str = ALERTS_INDEX) -> RunSummary:
    from .runner_es import ESRuleReader

    rules, entries = load_content()
    chosen = _chosen(rules, only)
    prior = episodes_es(client, open_since(chosen, start), alerts_index)
    alerts = replay(ESRuleReader(client, events_index, anomalies_index), start, end, chosen, entries, prior)
    stored, present = write_es(client, alerts, alerts_index)
    return _summary(chosen, start, end, alerts, stored, present)


def _summary(rules: Sequence[Rule], start: datetime, end: datetime, alerts: Sequence[dict[str, Any]],
             stored: int, present: int) -> RunSummary:
    per: dict[str, int] = {r.stem: 0 for r in rules}
    by_id = {r.rule_id: r.stem for r in rules}
    for a in alerts:
        per[by_id[a["kibana.alert.rule.rule_id"]]] += 1
    n_ticks = sum(len(ticks(start, end, r.interval)) for r in rules)
    return RunSummary(len(rules), n_ticks, len(alerts), stored, present, per)


def summary_dict(s: RunSummary) -> dict[str, Any]:
    return asdict(s)


def parse_period(start: str | None, end: str | None, last: str | None) -> tuple[datetime, datetime]:
    """--start/--end (ISO-8601, UTC) or --last <duration> ending at --end or now."""
    try:
        e = parse_ts(end) if end else None
        if last:
            e = e or utcnow().replace(microsecond=0)
            return e - parse_duration(last, ms=True, message="bad duration {text!r} (use e.g. 30s, 10m, 2h, 1d)"), e
        s = parse_ts(start) if start else None
    except ValueError as exc:  # DurationError is one too
        raise ConfigError(f"bad period: {exc}", where="--start/--end/--last") from exc
    if s is None or e is None:
        raise ConfigError("give --start and --end, or --last", where="--start/--end")
    if s >= e:
        raise ConfigError("--start must be before --end", where="--start/--end")
    return s, e
