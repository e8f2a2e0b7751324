"""Stage 5: governance metrics for leadership and the "Detections and response" dashboard.

- MTTD, mean time to detect: first malicious event → first alert. With a drill's ground
  truth (siem_pack.drill.score: scenario start = its first attack event, to the first
  matching alert's @timestamp) per scenario; without one, per alert: its earliest source
  event (`kibana.alert.ancestors`) → the alert's `@timestamp`.
- MTTR, mean time to respond: the alert's `@timestamp` → its first containment (a receipt
  with result `done`, not a dry run) or its closure (workflow), whichever comes first.
- Policy-compliant access rate: events with `siem_pack.policy.verdict` compliant /
  (compliant + noncompliant); `unknown` verdicts are counted apart, not in the rate.
- Anomalies investigated vs auto-resolved: anomalous windows (`siem_pack.anomaly.is_anomalous`)
  that are the source of an alert a person acknowledged or closed, versus the rest.
- Time in each investigation stage: open (alert → first acknowledgement or closure) and
  acknowledged (acknowledgement → closure), means over alerts that left the stage.
- Actions in the period (receipts by their time): executed, failed, dry runs, undone.

Written to the `metrics` table / `siem-pack-metrics` index, one document per (metric,
scope, period) with a deterministic id, so a re-run replaces rather than duplicates.
Neighbours: backend.py (reads and writes), workflow.py, respond.py (receipts), drill.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from statistics import mean
from typing import Any

from ..detect.alerts import iso_ms
from ..store import get_field, parse_ts
from .backend import Backend


@dataclass
class Metric:
    name: str
    value: float | None
    unit: str
    scope: str = "all"
    count: int = 0  # how many items the value is over

    def doc(self, start: datetime | None, end: datetime) -> dict[str, Any]:
        period = {"start": iso_ms(start) if start else None, "end": iso_ms(end)}
        mid = hashlib.sha256(f"{self.name}|{self.scope}|{period['start']}|{period['end']}".encode()).hexdigest()[:32]
        return {"@timestamp": period["end"], "siem_pack": {"metric": {
            "id": mid, "name": self.name, "value": self.value, "unit": self.unit, "scope": self.scope,
            "count": self.count, "period": period}}}


@dataclass
class MetricsReport:
    start: str | None
    end: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def value(self, name: str, scope: str = "all") -> float | None:
        return next((m.value for m in self.metrics if m.name == name and m.scope == scope), None)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "metrics": [asdict(m) for m in self.metrics],
                "notes": self.notes}


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else max(0.0, (b - a).total_seconds())


def _mean(values: Sequence[float | None]) -> tuple[float | None, int]:
    vals = [v for v in values if v is not None]
    return (round(mean(vals), 3) if vals else None), len(vals)


def compute(backend: Backend, start: datetime | None = None, end: datetime | None = None,
            truth: Mapping[str, Any] | None = None, event_ids: Mapping[str, str] | None = None,
            now: datetime | None = None) -> MetricsReport:
    """All metrics over alerts raised in [start, end). `truth` (a drill's truth.json) with
    `event_ids` (raw record id → event.id) adds per-scenario MTTD."""
    from ..detect.alerts import now_utc

    end = end or (now or now_utc()).replace(second=0, microsecond=0)
    report = MetricsReport(iso_ms(start) if start else None, iso_ms(end))
    alerts = backend.alerts(start, end)
    history: dict[str, list[dict[str, Any]]] = {}
    for w in backend.workflow():
        history.setdefault(w["kibana"]["alert"]["uuid"], []).append(w)
    contained: dict[str, datetime] = {}
    action_counts = {"actions_executed": 0, "actions_failed": 0, "actions_dry_run": 0, "actions_undone": 0}
    for r in backend.receipts():
        a = r["siem_pack"]["action"]
        at = parse_ts(r["@timestamp"])
        if at is not None and (start is None or at >= start) and at < end:
            kind = ("actions_dry_run" if a["dry_run"] else "actions_failed" if a["result"] == "failed"
                    else "actions_undone" if a["operation"] == "undo" and a["result"] == "done"
                    else "actions_executed" if a["result"] == "done" else "")
            if kind:
                action_counts[kind] += 1
        if a["result"] == "done" and not a["dry_run"] and a["operation"] == "execute":
            uid = r["kibana"]["alert"]["uuid"]
            if at is not None and (uid not in contained or at < contained[uid]):
                contained[uid] = at

    # MTTD
    if truth is not None:
        from ..drill import score

        drill = score(truth, alerts, event_ids or {})
        for s in drill.scenarios:
            report.metrics.append(Metric("mttd", s.time_to_detect_s, "s", f"scenario:{s.id}", int(s.detected)))
        value, n = _mean([s.time_to_detect_s for s in drill.scenarios])
        report.metrics.append(Metric("mttd", value, "s", "drill", n))
        missed = [s.id for s in drill.scenarios if not s.detected]
        if missed:
            report.notes.append(f"scenarios not detected (no MTTD): {', '.join(missed)}")
    ancestor_ids = sorted({str(x) for a in alerts for x in (a.get("kibana.alert.ancestors") or [])})
    first_seen = {str(get_field(d, "event.id")): parse_ts(get_field(d, "@timestamp")) for d in backend.events(ancestor_ids)}
    per_alert = []
    for a in alerts:
        times = [first_seen.get(str(x)) for x in (a.get("kibana.alert.ancestors") or [])]
        known = [t for t in times if t is not None]
        per_alert.append(_secs(min(known), parse_ts(a["@timestamp"])) if known else None)
    value, n = _mean(per_alert)
    report.metrics.append(Metric("mttd", value, "s", "all", n))

    # MTTR and stages
    mttr, open_s, ack_s = [], [], []
    for a in alerts:
        uid, raised = str(a["kibana.alert.uuid"]), parse_ts(a["@timestamp"])
        hist = history.get(uid, [])
        closed = next((parse_ts(w["@timestamp"]) for w in hist if w["siem_pack"]["workflow"]["to_status"] == "closed"),
                      None)
        acked = next((parse_ts(w["@timestamp"]) for w in hist
                      if w["siem_pack"]["workflow"]["to_status"] == "acknowledged"), None)
        done = [t for t in (contained.get(uid), closed) if t is not None]
        mttr.append(_secs(raised, min(done)) if done else None)
        left_open = [t for t in (acked, closed) if t is not None]
        open_s.append(_secs(raised, min(left_open)) if left_open else None)
        ack_s.append(_secs(acked, closed) if acked and closed and closed >= acked else None)
    for name, values in (("mttr", mttr), ("stage_open", open_s), ("stage_acknowledged", ack_s)):
        value, n = _mean(values)
        report.metrics.append(Metric(name, value, "s", "all", n))
    report.metrics.append(Metric("alerts", float(len(alerts)), "count", "all", len(alerts)))
    report.metrics.append(Metric("alerts_contained", float(sum(1 for a in alerts if str(a["kibana.alert.uuid"]) in
                                                               contained)), "count", "all", len(alerts)))

    for name, n in action_counts.items():
        report.metrics.append(Metric(name, float(n), "count", "all", n))

    # policy compliance
    counts = backend.verdict_counts(start, end)
    judged = counts.get("compliant", 0) + counts.get("noncompliant", 0)
    report.metrics.append(Metric("policy_compliant_rate", round(counts.get("compliant", 0) / judged, 6) if judged
                                 else None, "ratio", "all", judged))
    report.metrics.append(Metric("policy_unknown_events", float(counts.get("unknown", 0)), "count", "all",
                                 counts.get("unknown", 0)))

    # anomalies investigated vs auto-resolved
    anomalies = set(backend.anomaly_ids(start, end))
    investigated = set()
    for a in backend.alerts():
        if any(w["siem_pack"]["workflow"]["actor"] for w in history.get(str(a["kibana.alert.uuid"]), [])):
            investigated |= anomalies & {str(x) for x in (a.get("kibana.alert.ancestors") or [])}
    total = len(anomalies)
    report.metrics.append(Metric("anomalies_investigated_share", round(len(investigated) / total, 6) if total else None,
                                 "ratio", "all", total))
    report.metrics.append(Metric("anomalies_auto_resolved_share",
                                 round((total - len(investigated)) / total, 6) if total else None, "ratio", "all",
                                 total))
    return report


def write(backend: Backend, report: MetricsReport) -> int:
    start = parse_ts(report.start) if report.start else None
    end = parse_ts(report.end)
    assert end is not None
    return backend.write_metrics([m.doc(start, end) for m in report.metrics])


def render(report: MetricsReport) -> str:
    lines = [f"metrics {report.start or 'beginning'} → {report.end}"]
    for m in report.metrics:
        if m.value is None:
            shown = "n/a"
        elif m.unit == "s":
            shown = f"{m.value:.0f} s ({m.value / 60:.1f} min)"
        elif m.unit == "ratio":
            shown = f"{m.value:.1%}"
        else:
            shown = f"{m.value:g}"
        lines.append(f"  {m.name:<30} {m.scope:<24} {shown}  (n={m.count})")
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines)
