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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cached_property
from statistics import mean
from typing import Any

from ..doc import get_field
from ..times import format_ts, parse_ts, utcnow
from .backend import ResponseStore


@dataclass
class Metric:
    name: str
    value: float | None
    unit: str
    scope: str = "all"
    count: int = 0  # how many items the value is over

    def doc(self, start: datetime | None, end: datetime) -> dict[str, Any]:
        period = {"start": format_ts(start) if start else None, "end": format_ts(end)}
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


ACTION_KINDS = ("actions_executed", "actions_failed", "actions_dry_run", "actions_undone")


def _action_kind(action: Mapping[str, Any]) -> str:
    """Which action count a receipt adds to, or "" for none."""
    if action["dry_run"]:
        return "actions_dry_run"
    if action["result"] == "failed":
        return "actions_failed"
    if action["operation"] == "undo" and action["result"] == "done":
        return "actions_undone"
    return "actions_executed" if action["result"] == "done" else ""


def _receipts(backend: ResponseStore, start: datetime | None, end: datetime) -> tuple[dict[str, datetime], dict[str, int]]:
    """Each alert's first containment (any time) and the period's action counts."""
    contained: dict[str, datetime] = {}
    counts = dict.fromkeys(ACTION_KINDS, 0)
    for r in backend.receipts():
        a = r["siem_pack"]["action"]
        at = parse_ts(r["@timestamp"])
        kind = _action_kind(a) if at is not None and (start is None or at >= start) and at < end else ""
        if kind:
            counts[kind] += 1
        if a["result"] == "done" and not a["dry_run"] and a["operation"] == "execute":
            uid = r["kibana"]["alert"]["uuid"]
            if at is not None:
                contained[uid] = min(at, contained.get(uid, at))
    return contained, counts


@dataclass
class _Period:
    """What the metrics read, fetched once: the period's alerts, every alert's workflow
    history, containments and action counts; verdicts and anomalies on first use."""

    backend: ResponseStore
    start: datetime | None
    end: datetime
    truth: Mapping[str, Any] | None
    event_ids: Mapping[str, str]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    contained: dict[str, datetime] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def fetch(cls, backend: ResponseStore, start: datetime | None, end: datetime, truth: Mapping[str, Any] | None,
              event_ids: Mapping[str, str]) -> _Period:
        period = cls(backend, start, end, truth, event_ids, alerts=backend.alerts(start, end))
        for w in backend.workflow():
            period.history.setdefault(w["kibana"]["alert"]["uuid"], []).append(w)
        period.contained, period.action_counts = _receipts(backend, start, end)
        return period

    @cached_property
    def verdicts(self) -> dict[str, int]:
        return self.backend.verdict_counts(self.start, self.end)

    @cached_property
    def anomalies(self) -> tuple[int, int]:
        """(anomalous windows in the period, how many of them a person investigated)."""
        anomalies = set(self.backend.anomaly_ids(self.start, self.end))
        investigated: set[str] = set()
        for a in self.backend.alerts():
            if any(w["siem_pack"]["workflow"]["actor"] for w in self.history.get(str(a["kibana.alert.uuid"]), [])):
                investigated |= anomalies & {str(x) for x in (a.get("kibana.alert.ancestors") or [])}
        return len(anomalies), len(investigated)

    def status_at(self, alert: Mapping[str, Any], status: str) -> datetime | None:
        """When the alert first moved to `status` in its workflow, if it did."""
        return next((parse_ts(w["@timestamp"]) for w in self.history.get(str(alert["kibana.alert.uuid"]), [])
                     if w["siem_pack"]["workflow"]["to_status"] == status), None)


MetricFn = Callable[[str, _Period], list[Metric]]


def _share(part: int, total: int) -> float | None:
    return round(part / total, 6) if total else None


def _mttd(name: str, p: _Period) -> list[Metric]:
    out = []
    if p.truth is not None:
        from ..drill import score

        drill = score(p.truth, p.alerts, p.event_ids)
        out += [Metric(name, s.time_to_detect_s, "s", f"scenario:{s.id}", int(s.detected)) for s in drill.scenarios]
        value, n = _mean([s.time_to_detect_s for s in drill.scenarios])
        out.append(Metric(name, value, "s", "drill", n))
        missed = [s.id for s in drill.scenarios if not s.detected]
        if missed:
            p.notes.append(f"scenarios not detected (no MTTD): {', '.join(missed)}")
    ancestor_ids = sorted({str(x) for a in p.alerts for x in (a.get("kibana.alert.ancestors") or [])})
    first_seen = {str(get_field(d, "event.id")): parse_ts(get_field(d, "@timestamp"))
                  for d in p.backend.events(ancestor_ids)}
    per_alert = []
    for a in p.alerts:
        known = [t for t in (first_seen.get(str(x)) for x in (a.get("kibana.alert.ancestors") or [])) if t is not None]
        per_alert.append(_secs(min(known), parse_ts(a["@timestamp"])) if known else None)
    value, n = _mean(per_alert)
    return [*out, Metric(name, value, "s", "all", n)]


def _mttr_s(p: _Period, alert: Mapping[str, Any]) -> float | None:
    done = [t for t in (p.contained.get(str(alert["kibana.alert.uuid"])), p.status_at(alert, "closed"))
            if t is not None]
    return _secs(parse_ts(alert["@timestamp"]), min(done)) if done else None


def _open_s(p: _Period, alert: Mapping[str, Any]) -> float | None:
    left = [t for t in (p.status_at(alert, "acknowledged"), p.status_at(alert, "closed")) if t is not None]
    return _secs(parse_ts(alert["@timestamp"]), min(left)) if left else None


def _acknowledged_s(p: _Period, alert: Mapping[str, Any]) -> float | None:
    acked, closed = p.status_at(alert, "acknowledged"), p.status_at(alert, "closed")
    return _secs(acked, closed) if acked and closed and closed >= acked else None


def _alert_mean(per_alert: Callable[[_Period, Mapping[str, Any]], float | None]) -> MetricFn:
    """A metric that is the mean of a per-alert duration over the alerts that have one."""
    def metric(name: str, p: _Period) -> list[Metric]:
        value, n = _mean([per_alert(p, a) for a in p.alerts])
        return [Metric(name, value, "s", "all", n)]
    return metric


def _alerts(name: str, p: _Period) -> list[Metric]:
    return [Metric(name, float(len(p.alerts)), "count", "all", len(p.alerts))]


def _alerts_contained(name: str, p: _Period) -> list[Metric]:
    n = sum(1 for a in p.alerts if str(a["kibana.alert.uuid"]) in p.contained)
    return [Metric(name, float(n), "count", "all", len(p.alerts))]


def _action_count(name: str, p: _Period) -> list[Metric]:
    return [Metric(name, float(p.action_counts[name]), "count", "all", p.action_counts[name])]


def _policy_compliant_rate(name: str, p: _Period) -> list[Metric]:
    judged = p.verdicts.get("compliant", 0) + p.verdicts.get("noncompliant", 0)
    return [Metric(name, _share(p.verdicts.get("compliant", 0), judged), "ratio", "all", judged)]


def _policy_unknown_events(name: str, p: _Period) -> list[Metric]:
    unknown = p.verdicts.get("unknown", 0)
    return [Metric(name, float(unknown), "count", "all", unknown)]


def _anomalies_investigated_share(name: str, p: _Period) -> list[Metric]:
    total, investigated = p.anomalies
    return [Metric(name, _share(investigated, total), "ratio", "all", total)]


def _anomalies_auto_resolved_share(name: str, p: _Period) -> list[Metric]:
    total, investigated = p.anomalies
    return [Metric(name, _share(total - investigated, total), "ratio", "all", total)]


# The registry: metric name → the function that computes it (one or more scoped values), in
# report order.
METRICS: dict[str, MetricFn] = {
    "mttd": _mttd,
    "mttr": _alert_mean(_mttr_s),
    "stage_open": _alert_mean(_open_s),
    "stage_acknowledged": _alert_mean(_acknowledged_s),
    "alerts": _alerts,
    "alerts_contained": _alerts_contained,
    **{kind: _action_count for kind in ACTION_KINDS},
    "policy_compliant_rate": _policy_compliant_rate,
    "policy_unknown_events": _policy_unknown_events,
    "anomalies_investigated_share": _anomalies_investigated_share,
    "anomalies_auto_resolved_share": _anomalies_auto_resolved_share,
}


def compute(backend: ResponseStore, start: datetime | None = None, end: datetime | None = None,
            truth: Mapping[str, Any] | None = None, event_ids: Mapping[str, str] | None = None,
            now: datetime | None = None) -> MetricsReport:
    """All metrics over alerts raised in [start, end). `truth` (a drill's truth.json) with
    `event_ids` (raw record id → event.id) adds per-scenario MTTD."""
    end = end or (now or utcnow()).replace(second=0, microsecond=0)
    report = MetricsReport(format_ts(start) if start else None, format_ts(end))
    period = _Period.fetch(backend, start, end, truth, event_ids or {})
    for name, metric in METRICS.items():
        report.metrics += metric(name, period)
    report.notes += period.notes
    return report


def write(backend: ResponseStore, report: MetricsReport) -> int:
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
