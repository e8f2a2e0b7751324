"""Scoring a drill: alerts matched to scenarios by source events or by attacker and time
(an episode by its span), false alerts per 1,000 benign identity-days, per-rule precision,
the gate, and the report's JSON fields."""

from __future__ import annotations

import json
from typing import Any

from siem_pack.drill import FALSE_ALERT_GATE, RECALL_GATE, render, score, to_json

TRUTH: dict[str, Any] = {
    "seed": 1, "days": 10, "identities": 20, "warmup_days": 5,
    "start": "2026-03-02T00:00:00Z", "end": "2026-03-12T00:00:00Z", "evaluation_start": "2026-03-07T00:00:00Z",
    "scenarios": [
        {"id": "a", "title": "A", "atlas": ["AML.T0012"], "owasp": ["LLM02:2025"], "behaviour": "x",
         "attackers": [{"user.id": "u1", "aliases": ["u1@acme.example"]}],
         "start": "2026-03-08T10:00:00Z", "end": "2026-03-08T10:10:00Z",
         "events": [{"format": "f", "record_id": "r1", "file": "f", "line": 1}]},
        {"id": "b", "title": "B", "atlas": ["AML.T0040"], "owasp": ["LLM10:2025"], "behaviour": "y",
         "attackers": [{"user.id": "u2", "aliases": []}],
         "start": "2026-03-09T10:00:00Z", "end": "2026-03-09T10:10:00Z",
         "events": [{"format": "f", "record_id": "r2", "file": "f", "line": 2}]},
    ],
}


def _alert(rule: str, ran: str, ancestors: list[str], user: str | None = None, orig: str | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"@timestamp": ran, "kibana": {"alert": {
        "rule": {"rule_id": rule, "name": rule}, "ancestors": ancestors, "original_time": orig or ran}}}
    if user:
        a["user"] = {"id": user}
    return a


def test_matches_by_ancestor_and_by_attacker_in_span() -> None:
    alerts = [
        _alert("r-new-model", "2026-03-08T10:15:00Z", ["e1"]),  # ancestor of scenario a
        _alert("r-anomaly", "2026-03-09T11:00:00Z", ["anomaly-1"], user="u2", orig="2026-03-09T10:00:00Z"),
        _alert("r-noisy", "2026-03-10T12:00:00Z", ["e9"], user="u7"),  # false
        _alert("r-noisy", "2026-03-03T12:00:00Z", ["e8"], user="u7"),  # warm-up, not scored
    ]
    rep = score(TRUTH, alerts, {"r1": "e1", "r2": "e2"})
    by = {s.id: s for s in rep.scenarios}
    assert by["a"].detected and by["a"].time_to_detect_s == 15 * 60 and by["a"].rules == ["r-new-model"]
    assert by["b"].detected and by["b"].rules == ["r-anomaly"]
    assert rep.recall == 1.0
    assert rep.false_alerts == 1 and rep.warmup_alerts == 1
    # 20 identities x 5 scored days, less the attackers' two attack days
    assert rep.benign_identity_days == 98
    assert abs(rep.false_alerts_per_1000 - 1000 / 98) < 1e-9
    assert not rep.passed  # 10.2 false alerts per 1,000 > 5
    err = rep.gate_error()
    assert err is not None and "false alerts per 1,000 identity-days > 5" in str(err)
    assert "r-noisy" in render(rep)


def test_attacker_outside_span_is_a_false_alert() -> None:
    alerts = [_alert("r", "2026-03-10T12:00:00Z", ["zz"], user="u1", orig="2026-03-10T12:00:00Z")]
    rep = score(TRUTH, alerts, {"r1": "e1"})
    assert rep.recall == 0.0 and rep.false_alerts == 1
    err = rep.gate_error()
    assert err is not None and str(err).startswith("drill: drill below its gate: recall 0.00 < 0.95 (missed: a, b)")


def _episode(rule: str, ran: str, ancestors: list[str], user: str, start: str, end: str, folded: int) -> dict[str, Any]:
    a = _alert(rule, ran, ancestors, user=user, orig=start)
    a["kibana"]["alert"]["suppression"] = {"start": start, "end": end, "docs_count": folded,
                                           "terms": [{"field": "user.id", "value": user}]}
    return a


def test_an_episode_is_matched_by_its_span() -> None:
    """An episode opened by u1 before the attack and absorbing its alerts catches it: its
    span (suppression start to end) meets the attack's."""
    ep = _episode("r-burst", "2026-03-08T07:05:00Z", ["e0"], "u1", "2026-03-08T07:00:00Z", "2026-03-08T10:05:00Z", 6)
    rep = score(TRUTH, [ep], {"r1": "e1"})
    assert {s.id: s.detected for s in rep.scenarios} == {"a": True, "b": False}
    assert rep.suppressed_alerts == 6 and rep.rules[0].suppressed_alerts == 6


def test_per_rule_precision_and_report_fields() -> None:
    alerts = [
        _alert("r-good", "2026-03-08T10:15:00Z", ["e1"]),
        _alert("r-mixed", "2026-03-09T10:05:00Z", ["e2"]),
        _alert("r-mixed", "2026-03-10T12:00:00Z", ["e9"], user="u7"),
        _alert("r-mixed", "2026-03-10T13:00:00Z", ["e10"], user="u8"),
        _alert("r-warm", "2026-03-03T12:00:00Z", ["e8"], user="u7"),  # warm-up only: nothing scored
    ]
    rep = score(TRUTH, alerts, {"r1": "e1", "r2": "e2"})
    by = {r.rule_id: r for r in rep.rules}
    assert by["r-good"].precision == 1.0 and by["r-good"].false_alerts_per_1000 == 0.0
    assert by["r-mixed"].precision == 1 / 3 and abs(by["r-mixed"].false_alerts_per_1000 - 2000 / 98) < 1e-9
    assert by["r-warm"].precision is None
    assert rep.precision == 2 / 4 and rep.recall == 1.0
    data = json.loads(to_json(rep))
    assert data["gate"] == {"recall": RECALL_GATE, "false_alerts_per_1000": FALSE_ALERT_GATE} == \
        {"recall": 0.95, "false_alerts_per_1000": 5.0}
    for key in ("recall", "false_alerts_per_1000", "precision", "suppressed_alerts", "alerts_total", "passed"):
        assert key in data, key
    assert {"precision", "false_alerts_per_1000", "suppressed_alerts", "true_alerts", "false_alerts"} <= \
        set(data["rules"][0])
    text = render(rep)
    assert "precision" in text and "false/1k" in text and "0.33" in text
