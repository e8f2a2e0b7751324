"""Cross-cutting (drills), the last step: simulate → run → score against the ground
truth.

Input: a simulation (`siem_pack.simulate`: raw logs, inventory, truth.json) and the alerts
of a run (`siem_pack.run` on the embedded store, or the Elasticsearch path in
`drill_es`). Output: a `DrillReport` — per scenario detected or missed, time to detect,
the alerts and rules that caught it; per rule its true and false alerts, precision
(true / (true + false)) and false alerts per 1,000 benign identity-days; the alerts folded
into episodes by suppression; and the CI gate (recall ≥ 0.95, ≤ 5 false alerts per 1,000
benign identity-days). An alert is one episode where its rule suppresses.

Matching an alert to a scenario: one of the alert's source events
(`kibana.alert.ancestors`) is an attack event (the truth file's raw record ids, mapped to
our `event.id` through the stored events), or the alert names an attacker (`user.id`,
key alias/hash) and its `kibana.alert.original_time` (an episode: its span, suppression
start to end) meets the attack's span (±1 h; for alerts over anomaly events, whose
ancestors are anomaly windows). Alerts matching no
scenario are false alerts; those raised during the warm-up (before the first attack,
while histories and baselines are still being learnt) are reported but not scored.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .backends.duckdb import Store
from .doc import get_field
from .errors import ConfigError, FindingsError, InputError
from .run import ALERTS_NAME, DB_NAME, event_span, replay_ticks, run
from .times import parse_ts

RECALL_GATE = 0.95
FALSE_ALERT_GATE = 5.0  # per 1,000 benign identity-days
MATCH_SLACK = timedelta(hours=1)
ALERT_ENTITY_FIELDS = ("user.id", "siem_pack.api_key.alias", "siem_pack.api_key.hash", "siem_pack.api_key.id",
                       "user.email", "user.name")
# alerts grouped only on these say which source, not who: never credited to a scenario
SOURCE_LEVEL_GROUPS = ({"event.dataset"}, {"data_stream.dataset"}, {"siem_pack.format"})
# where each format's raw record id sits in the raw record
RAW_ID_KEYS = ("requestId", "request_id", "correlationId", "id", "AssetIdentity")


@dataclass
class ScenarioResult:
    id: str
    title: str
    atlas: list[str]
    owasp: list[str]
    detected: bool
    time_to_detect_s: float | None
    alerts: int
    rules: list[str]
    events: int
    events_stored: int


@dataclass
class RuleResult:
    rule_id: str
    name: str
    alerts: int
    true_alerts: int
    false_alerts: int
    warmup_alerts: int
    scenarios: list[str]
    precision: float | None = None  # true / (true + false); None when nothing was scored
    false_alerts_per_1000: float = 0.0  # per 1,000 benign identity-days
    suppressed_alerts: int = 0  # alerts folded into this rule's episodes (sum of docs_count)


@dataclass
class DrillReport:
    seed: int | None
    days: int
    identities: int
    evaluation_start: str
    scenarios: list[ScenarioResult]
    rules: list[RuleResult]
    alerts_total: int
    false_alerts: int
    warmup_alerts: int
    benign_identity_days: int
    recall: float
    false_alerts_per_1000: float
    mean_time_to_detect_s: float | None
    backend: str = "embedded"
    precision: float | None = None  # over every scored alert
    suppressed_alerts: int = 0  # alerts folded into episodes (sum of kibana.alert.suppression.docs_count)
    false_alerts_on_traps: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    org: str = "acme"

    @property
    def passed(self) -> bool:
        return self.recall >= RECALL_GATE and self.false_alerts_per_1000 <= FALSE_ALERT_GATE

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["gate"] = {"recall": RECALL_GATE, "false_alerts_per_1000": FALSE_ALERT_GATE}
        return d

    def gate_error(self) -> FindingsError | None:
        if self.passed:
            return None
        parts = []
        if self.recall < RECALL_GATE:
            missed = [s.id for s in self.scenarios if not s.detected]
            parts.append(f"recall {self.recall:.2f} < {RECALL_GATE} (missed: {', '.join(missed)})")
        if self.false_alerts_per_1000 > FALSE_ALERT_GATE:
            parts.append(f"{self.false_alerts_per_1000:.1f} false alerts per 1,000 identity-days > {FALSE_ALERT_GATE}")
        return FindingsError("drill below its gate: " + "; ".join(parts), where="drill")


# --- mapping raw ids to our event ids -------------------------------------------------------

def raw_ids_to_event_ids(db: Path, wanted: set[str]) -> dict[str, str]:
    """raw record id → event.id, read from the stored events' `event.original`."""
    found: dict[str, str] = {}
    if not wanted:
        return found
    with Store(db, read_only=True) as store:
        rows = store.con.execute('SELECT "event.id", "event.original" FROM events').fetchall()
    for event_id, original in rows:
        if not original:
            continue
        try:
            rec = json.loads(original)
        except (ValueError, TypeError):
            continue
        if not isinstance(rec, dict):
            continue
        for key in RAW_ID_KEYS:
            val = rec.get(key)
            if isinstance(val, str) and val in wanted:
                found[val] = event_id
                break
    return found


def read_alerts(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError("no alerts file (run `siem-pack run` first)", where=str(path))
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise InputError(f"not JSON: {exc}", where=f"{path}:{n}") from exc
    return out


def _ancestors(alert: Mapping[str, Any]) -> set[str]:
    anc = get_field(alert, "kibana.alert.ancestors") or []
    out = set()
    for a in anc if isinstance(anc, list) else [anc]:
        if isinstance(a, Mapping):
            if a.get("id"):
                out.add(str(a["id"]))
        elif a:
            out.add(str(a))
    return out


def _entities(alert: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for f in ALERT_ENTITY_FIELDS:
        v = get_field(alert, f)
        for x in v if isinstance(v, list) else [v]:
            if x:
                out.add(str(x))
    return out


# --- scoring -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Truth:
    """The truth file, indexed for matching: per scenario its attack events (as our event
    ids), its attackers' names and its span."""

    scenarios: list[Mapping[str, Any]]
    attack_events: dict[str, set[str]]
    attackers: dict[str, set[str]]
    spans: dict[str, tuple[datetime, datetime]]
    trap_of: dict[str, str]  # a benign trap's user.id → its kind

    @classmethod
    def of(cls, truth: Mapping[str, Any], event_ids: Mapping[str, str]) -> _Truth:
        out = cls(truth["scenarios"], {}, {}, {},
                  {t["user.id"]: t["kind"] for t in truth.get("benign_traps", []) if t.get("user.id")})
        for s in out.scenarios:
            out.attack_events[s["id"]] = {event_ids[e["record_id"]] for e in s["events"] if e["record_id"] in event_ids}
            out.attackers[s["id"]] = _attacker_names(s)
            start, end = parse_ts(s["start"]), parse_ts(s["end"])
            assert start is not None and end is not None
            out.spans[s["id"]] = (start, end)
        return out

    def hits(self, alert: Mapping[str, Any]) -> list[str]:
        """The scenarios the alert is a finding about."""
        anc, ents = _ancestors(alert), _entities(alert)
        group = get_field(alert, "kibana.alert.group")
        if isinstance(group, Mapping) and set(group) in SOURCE_LEVEL_GROUPS:
            anc = set()  # a source-health alert: its newest event is not a finding about it
        orig = parse_ts(get_field(alert, "kibana.alert.original_time") or get_field(alert, "@timestamp"))
        first = parse_ts(get_field(alert, "kibana.alert.suppression.start")) or orig
        last = parse_ts(get_field(alert, "kibana.alert.suppression.end")) or orig
        out = []
        for s in self.scenarios:
            sid = s["id"]
            if anc & self.attack_events[sid] or (
                    ents & self.attackers[sid] and first is not None and last is not None
                    and first <= self.spans[sid][1] + MATCH_SLACK and last >= self.spans[sid][0] - MATCH_SLACK):
                out.append(sid)
        return out


def _attacker_names(scenario: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for a in scenario["attackers"]:
        if a.get("user.id"):
            names.add(a["user.id"])
        names.update(a.get("aliases") or [])
    return names


@dataclass
class _RuleTally:
    name: str
    alerts: int = 0
    true: int = 0
    false: int = 0
    warmup: int = 0
    scenarios: set[str] = field(default_factory=set)
    suppressed: int = 0

    def result(self, rule_id: str, benign_days: int) -> RuleResult:
        return RuleResult(rule_id, self.name, self.alerts, self.true, self.false, self.warmup, sorted(self.scenarios),
                          precision=_precision(self.true, self.false),
                          false_alerts_per_1000=1000.0 * self.false / benign_days, suppressed_alerts=self.suppressed)


@dataclass
class _Tally:
    """Alerts counted one by one: per rule, per scenario (the alerts that found it), false
    alerts (and those naming a benign trap), warm-up alerts, alerts folded by suppression."""

    truth: _Truth
    eval_start: datetime
    per_rule: dict[str, _RuleTally] = field(default_factory=dict)
    matched: dict[str, list[Mapping[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    on_traps: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    false_alerts: int = 0
    warmup_alerts: int = 0
    suppressed: int = 0

    def add(self, alert: Mapping[str, Any]) -> None:
        rid = str(get_field(alert, "kibana.alert.rule.rule_id") or "?")
        rule = self.per_rule.setdefault(rid, _RuleTally(str(get_field(alert, "kibana.alert.rule.name") or rid)))
        rule.alerts += 1
        folded = int(get_field(alert, "kibana.alert.suppression.docs_count") or 0)
        rule.suppressed += folded
        self.suppressed += folded
        hits = self.truth.hits(alert)
        for sid in hits:
            self.matched[sid].append(alert)
            rule.scenarios.add(sid)
        if hits:
            rule.true += 1
            return
        ran = parse_ts(get_field(alert, "@timestamp"))
        if ran is not None and ran < self.eval_start:
            rule.warmup += 1
            self.warmup_alerts += 1
        else:
            rule.false += 1
            self.false_alerts += 1
            for kind in {self.truth.trap_of[e] for e in _entities(alert) if e in self.truth.trap_of}:
                self.on_traps[kind] += 1

    def scenario(self, s: Mapping[str, Any]) -> ScenarioResult:
        sid = s["id"]
        hits = self.matched.get(sid, [])
        ttd = None
        if hits:
            runs = [parse_ts(get_field(a, "@timestamp")) for a in hits]
            first = min(r for r in runs if r is not None)
            ttd = max(0.0, (first - self.truth.spans[sid][0]).total_seconds())
        return ScenarioResult(
            id=sid, title=s["title"], atlas=s["atlas"], owasp=s["owasp"], detected=bool(hits), time_to_detect_s=ttd,
            alerts=len(hits), rules=sorted({str(get_field(a, "kibana.alert.rule.rule_id")) for a in hits}),
            events=len(s["events"]), events_stored=len(self.truth.attack_events[sid]))


def _benign_days(truth: Mapping[str, Any], spans: Mapping[str, tuple[datetime, datetime]], eval_start: datetime,
                 sim_end: datetime) -> int:
    """Identity-days in the evaluation period, less the attackers' attack days."""
    eval_days = max(1, round((sim_end - eval_start).total_seconds() / 86400))
    attacker_days = {(a["user.id"], spans[s["id"]][0].date()) for s in truth["scenarios"] for a in s["attackers"]
                     if a.get("user.id")}
    return max(1, int(truth["identities"]) * eval_days - len(attacker_days))


def score(truth: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]], event_ids: Mapping[str, str],
          backend: str = "embedded") -> DrillReport:
    """Score alerts against the truth file. `event_ids`: raw record id → event.id."""
    eval_start = parse_ts(truth["evaluation_start"])
    assert eval_start is not None
    sim_end = parse_ts(truth["end"])
    assert sim_end is not None
    tally = _Tally(_Truth.of(truth, event_ids), eval_start)
    for alert in alerts:
        tally.add(alert)
    results = [tally.scenario(s) for s in truth["scenarios"]]
    benign_days = _benign_days(truth, tally.truth.spans, eval_start, sim_end)
    detected = [r for r in results if r.detected]
    ttds = [r.time_to_detect_s for r in detected if r.time_to_detect_s is not None]
    true_total = sum(r.true for r in tally.per_rule.values())
    return DrillReport(
        seed=truth.get("seed"), days=int(truth["days"]), identities=int(truth["identities"]),
        evaluation_start=truth["evaluation_start"], scenarios=results,
        rules=[r.result(rid, benign_days) for rid, r in sorted(tally.per_rule.items())],
        alerts_total=len(alerts), false_alerts=tally.false_alerts, warmup_alerts=tally.warmup_alerts,
        benign_identity_days=benign_days, recall=len(detected) / len(results) if results else 0.0,
        false_alerts_per_1000=1000.0 * tally.false_alerts / benign_days,
        mean_time_to_detect_s=sum(ttds) / len(ttds) if ttds else None, backend=backend,
        false_alerts_on_traps=dict(sorted(tally.on_traps.items())),
        precision=_precision(true_total, tally.false_alerts), suppressed_alerts=tally.suppressed,
        org=str(truth.get("org", "acme")))


def _precision(true: int, false: int) -> float | None:
    return true / (true + false) if true + false else None


def load_truth(sim_dir: Path, db: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """sim_dir/truth.json, and its attack events' raw record ids → event.id in the store `db`."""
    path = sim_dir / "truth.json"
    if not path.is_file():
        raise ConfigError("no truth.json in the simulation folder", where=str(sim_dir))
    truth = json.loads(path.read_text(encoding="utf-8"))
    wanted = {e["record_id"] for s in truth["scenarios"] for e in s["events"]}
    return truth, raw_ids_to_event_ids(db, wanted)


def score_run(sim_dir: Path, run_dir: Path, backend: str = "embedded",
              alerts: Sequence[Mapping[str, Any]] | None = None) -> DrillReport:
    """Score a run's alerts.ndjson (or the given alerts) against sim_dir/truth.json."""
    truth, ids = load_truth(sim_dir, run_dir / DB_NAME)
    return score(truth, alerts if alerts is not None else read_alerts(run_dir / ALERTS_NAME), ids,
                 backend=backend)


# --- the whole drill --------------------------------------------------------------------------

@dataclass(frozen=True)
class DrillOptions:
    seed: int = 7
    days: int = 14
    identities: int = 40
    warmup_days: int | None = None
    org: str = "acme"


def drill(out_dir: Path, options: DrillOptions = DrillOptions()) -> DrillReport:
    """Simulate, run the embedded pipeline end to end, and score."""
    from .simulate import simulate

    sim = simulate(out_dir / "simulation", days=options.days, identities=options.identities, seed=options.seed,
                   warmup_days=options.warmup_days, org=options.org)
    if (out_dir / "run").is_dir():  # a drill scores one run: a previous run's alerts would count twice
        shutil.rmtree(out_dir / "run")
    run([sim.logs_dir], out_dir / "run", inventory_dir=sim.inventory_dir, geoip_db=sim.networks_path)
    report = score_run(sim.out_dir, out_dir / "run")
    (out_dir / "drill.json").write_text(to_json(report) + "\n", encoding="utf-8")
    return report


# --- rendering ----------------------------------------------------------------------------------

def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render(report: DrillReport) -> str:
    lines = [f"drill ({report.backend}): {report.org}, seed {report.seed}, {report.identities} identities x {report.days} days, "
             f"scored from {report.evaluation_start}", ""]
    names = {r.rule_id: r.name for r in report.rules}
    lines.append(f"{'scenario':<36} {'result':<9} {'ttd':>6} {'alerts':>6}  rules")
    for s in report.scenarios:
        lines.append(f"{s.id:<36} {'detected' if s.detected else 'MISSED':<9} {_dur(s.time_to_detect_s):>6} "
                     f"{s.alerts:>6}  {'; '.join(names.get(r, r) for r in s.rules) or '-'}")
    lines += ["", f"{'rule':<52} {'alerts':>6} {'true':>5} {'false':>6} {'precision':>9} {'false/1k':>8} "
                  f"{'warm-up':>8} {'folded':>7}"]
    for r in report.rules:
        lines.append(f"{r.name[:52]:<52} {r.alerts:>6} {r.true_alerts:>5} {r.false_alerts:>6} {_pct(r.precision):>9} "
                     f"{r.false_alerts_per_1000:>8.2f} {r.warmup_alerts:>8} {r.suppressed_alerts:>7}")
    det = sum(s.detected for s in report.scenarios)
    lines += ["",
              f"recall {report.recall:.2f} ({det}/{len(report.scenarios)}), mean time to detect "
              f"{_dur(report.mean_time_to_detect_s)}",
              f"alerts {report.alerts_total} (episodes; {report.suppressed_alerts} more alerts folded into them by "
              f"suppression), precision {_pct(report.precision)}",
              f"false alerts {report.false_alerts} over {report.benign_identity_days} benign identity-days = "
              f"{report.false_alerts_per_1000:.2f} per 1,000 (warm-up alerts not scored: {report.warmup_alerts})",
              "false alerts naming a benign trap's identity: "
              + (", ".join(f"{k} {n}" for k, n in report.false_alerts_on_traps.items()) or "none"),
              f"gate (recall >= {RECALL_GATE}, <= {FALSE_ALERT_GATE:g} false per 1,000): "
              f"{'PASS' if report.passed else 'FAIL'}"]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def to_json(report: DrillReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)


# --- the same drill against Elasticsearch ---------------------------------------------------

def drill_es(out_dir: Path, settings: Any, options: DrillOptions = DrillOptions(),
             index_prefix: str = "siem-pack-drill") -> DrillReport:
    """Simulate; ingest into Elasticsearch under `index_prefix` with the ingest runner (which
    normalizes offline where the node lacks our processors, and says so); replay every rule
    with the Elasticsearch runner over the same ticks as the embedded run; score.

    The embedded run is made too: its walk-forward anomaly events are written to the
    prefix's anomalies index (same ids), and the rules' learnt thresholds are the same."""
    from . import templates
    from .backends.indices import ALERTS_INDEX, ANOMALIES_INDEX, EVENTS_PATTERN, EVENTS_TARGET
    from .baselines import jobs
    from .cluster import es_client, translated
    from .detect.alerts import to_doc, write_es
    from .detect.rules import load_exceptions, load_rules
    from .detect.runner_es import ESRuleReader
    from .detect.schedule import evaluate
    from .doctor import probe_cluster
    from .ingest_job import ingest
    from .simulate import simulate

    prefix = index_prefix.rstrip("-") + "-"
    client = es_client(settings)
    sim = simulate(out_dir / "simulation", days=options.days, identities=options.identities, seed=options.seed,
                   warmup_days=options.warmup_days, org=options.org)
    run_dir = out_dir / "run"
    if run_dir.is_dir():
        shutil.rmtree(run_dir)
    embedded = run([sim.logs_dir], run_dir, inventory_dir=sim.inventory_dir, geoip_db=sim.networks_path)
    with translated(settings.require_es()):
        doctor = probe_cluster(settings)
        _delete_indices(client, prefix)
        notes = list(templates.install(client, doctor, prefix=prefix).notes)
        summary = ingest([sim.logs_dir], settings=settings, inventory_dir=sim.inventory_dir, geoip_db=sim.networks_path,
                         index=prefix + EVENTS_TARGET, dead_letter_db=out_dir / "es-dead-letters.duckdb")
        notes.extend(summary.notes)
        with Store(run_dir / DB_NAME, read_only=True) as store:
            anomalies = list(store.search_all("anomalies"))
            span = event_span(store)
        anomalies_index = prefix + ANOMALIES_INDEX
        jobs.write_anomalies(jobs.Source(settings=settings), anomalies, index=anomalies_index)
        client.indices.refresh(index=f"{prefix}*")
        backend = ESRuleReader(client, events_index=prefix + EVENTS_PATTERN,
                               anomalies_index=anomalies_index)
        rules = load_rules(thresholds=embedded.baselines.get("content_thresholds") or None)
        entries = load_exceptions(rule_ids=[r.rule_id for r in rules])
        alerts: list[dict[str, Any]] = []
        if span is not None:
            for rule in sorted(rules, key=lambda r: r.rule_id):
                alerts.extend(evaluate(rule, backend, replay_ticks(span, rule.interval), entries))
        write_es(client, alerts, index=prefix + ALERTS_INDEX)
    docs = [to_doc(a) for a in alerts]
    (out_dir / "alerts-es.ndjson").write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in docs),
                                              encoding="utf-8")
    report = score_run(sim.out_dir, run_dir, backend="elasticsearch", alerts=docs)
    report.notes.extend(notes)
    report.notes.append(f"ingest into Elasticsearch: {summary.total.stored} stored, {summary.total.dead_lettered} "
                        f"dead-lettered of {summary.total.read} read")
    (out_dir / "drill-es.json").write_text(to_json(report) + "\n", encoding="utf-8")
    return report


def _delete_indices(client: Any, prefix: str) -> None:
    """Delete the indices a previous drill left under `prefix`, by name (clusters refuse
    wildcard deletes under action.destructive_requires_name)."""
    found = client.options(ignore_status=[404]).indices.get(index=f"{prefix}*", expand_wildcards="all")
    names = sorted(found.body) if hasattr(found, "body") and isinstance(found.body, dict) else []
    for i in range(0, len(names), 50):
        client.indices.delete(index=",".join(names[i:i + 50]))
