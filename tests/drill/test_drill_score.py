"""Scoring a drill: alerts matched to scenarios by source events or by attacker and time,
false alerts per 1,000 benign identity-days, the gate, and the CLI's exit code."""

from __future__ import annotations

from typing import Any

from siem_pack.drill import render, score

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
    assert err is not None and str(err).startswith("drill: drill below its gate: recall 0.00 < 0.9 (missed: a, b)")
