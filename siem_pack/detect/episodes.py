"""Stage 3 → 4: raw alerts → episodes → a ranked queue. Input: the deduplicated alerts of one
rule from schedule.py (each already carrying its suppression terms, set by alerts.py);
output: one alert per episode, then, for `siem-pack alerts list` (siem_pack.respond.workflow),
episodes ordered by an episode risk score.

Episodes follow Kibana's alert suppression (rule field `alert_suppression`): an alert whose
terms (the values of `group_by`, or of a threshold rule's fields) equal those of an episode
whose first alert was raised at most `duration` before it is not written; it updates that
episode instead: `kibana.alert.suppression.docs_count` + 1, `.start` / `.end` widened to its
event time, `kibana.alert.last_detected` moved to its tick. An alert after the window opens
a new episode. Kibana's field names (from `@kbn/rule-data-utils`): `kibana.alert.suppression.
terms` ([{field, value}]), `.start`, `.end`, `.docs_count`, `kibana.alert.instance.id` (the
hash of rule and terms), `kibana.alert.last_detected`.

Both runners get their episodes from `suppress`, so DuckDB and Elasticsearch agree by
construction (the tests compare them anyway). Episodes already stored (a previous run) are
passed as `prior`: later alerts within their window update them in place (`merge`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..times import parse_ts

if TYPE_CHECKING:
    from .rules import Rule

TERMS = "kibana.alert.suppression.terms"
START = "kibana.alert.suppression.start"
END = "kibana.alert.suppression.end"
DOCS_COUNT = "kibana.alert.suppression.docs_count"
INSTANCE_ID = "kibana.alert.instance.id"
LAST_DETECTED = "kibana.alert.last_detected"
SUPPRESSION_FIELDS = (TERMS, START, END, DOCS_COUNT, INSTANCE_ID, LAST_DETECTED)


# --- suppression ----------------------------------------------------------------------------

def terms_of(rule: Rule, group: Mapping[str, Any], doc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The alert's suppression terms: each group_by field's value (from what the rule grouped
    on, else the source event), None when missing."""
    assert rule.suppression is not None
    src = doc or {}
    out = []
    for f in rule.suppression.group_by:
        v = group.get(f, src.get(f))
        out.append({"field": f, "value": None if v is None or isinstance(v, (list, dict)) else v})
    return out


def instance_id(rule_id: str, terms: Sequence[Mapping[str, Any]]) -> str:
    blob = json.dumps([rule_id, [[t["field"], None if t["value"] is None else str(t["value"])] for t in terms]])
    return hashlib.sha256(blob.encode()).hexdigest()


def annotate(rule: Rule, alert: dict[str, Any], group: Mapping[str, Any], doc: Mapping[str, Any] | None) -> None:
    """A raw alert's suppression fields: its terms, an episode of one (docs_count 0, start
    and end its event time, last detected its tick)."""
    if rule.suppression is None:
        return
    terms = terms_of(rule, group, doc)
    alert[TERMS] = terms
    alert[INSTANCE_ID] = instance_id(rule.rule_id, terms)
    alert[START] = alert[END] = alert["kibana.alert.original_time"]
    alert[DOCS_COUNT] = 0
    alert[LAST_DETECTED] = alert["@timestamp"]


def _order(a: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(a["@timestamp"]), str(a["kibana.alert.original_time"]), str(a["kibana.alert.uuid"]))


def _fold(episode: dict[str, Any], alert: Mapping[str, Any]) -> None:
    episode[DOCS_COUNT] = int(episode[DOCS_COUNT]) + 1 + int(alert.get(DOCS_COUNT) or 0)
    episode[START] = min(str(episode[START]), str(alert.get(START, alert["kibana.alert.original_time"])))
    episode[END] = max(str(episode[END]), str(alert.get(END, alert["kibana.alert.original_time"])))
    episode[LAST_DETECTED] = max(str(episode[LAST_DETECTED]), str(alert["@timestamp"]))


def _within(episode: Mapping[str, Any], alert: Mapping[str, Any], window: timedelta) -> bool:
    """Kibana's test: the episode's alert was raised at or after `now - duration`."""
    first, now = parse_ts(episode["@timestamp"]), parse_ts(alert["@timestamp"])
    assert first is not None and now is not None
    return first <= now <= first + window


def suppress(rule: Rule, alerts: Iterable[Mapping[str, Any]],
             prior: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """The rule's episodes: `alerts` (deduplicated, any order) folded per instance id within
    the suppression window. `prior`: the rule's episodes already stored. Alerts falling into
    one extend it, except those up to its `last_detected`, counted when it was written (so a
    re-run changes nothing); such prior episodes come back (same uuid, updated or not), the
    others do not. A rule without `alert_suppression`: the alerts."""
    ordered = sorted((dict(a) for a in alerts), key=_order)
    sup = rule.suppression
    if sup is None:
        return ordered
    open_: dict[str, list[dict[str, Any]]] = defaultdict(list)  # instance id → its episodes, by first alert
    stored: dict[str, str] = {}  # uuid of a prior episode → its last_detected when read
    for p in sorted(prior, key=_order):
        if p.get(INSTANCE_ID) and p.get("kibana.alert.rule.rule_id") == rule.rule_id:
            open_[str(p[INSTANCE_ID])].append(dict(p))
            stored[str(p["kibana.alert.uuid"])] = str(p.get(LAST_DETECTED) or p["@timestamp"])
    out: list[dict[str, Any]] = []
    touched: dict[str, dict[str, Any]] = {}
    for a in ordered:
        if sup.missing == "doNotSuppress" and any(t["value"] is None for t in a.get(TERMS, ())):
            out.append(a)
            continue
        eps = open_[str(a[INSTANCE_ID])]
        i = bisect.bisect_right([str(e["@timestamp"]) for e in eps], str(a["@timestamp"]))
        ep = eps[i - 1] if i else None  # the latest episode opened at or before this alert
        if ep is not None and _within(ep, a, sup.duration):
            uid = str(ep["kibana.alert.uuid"])
            if uid in stored:
                touched[uid] = ep
                if a["kibana.alert.uuid"] == uid or str(a["@timestamp"]) <= stored[uid]:
                    continue  # counted when the episode was stored
            _fold(ep, a)
            continue
        eps.insert(i, a)
        out.append(a)
    return sorted(out + list(touched.values()), key=_order)


def merge(stored: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any] | None:
    """The suppression fields of a stored episode advanced by an incoming copy of it (same
    uuid), or None when nothing changes. Only these fields move; the rest of the alert stays
    as first written. Widening only, so a replay of a shorter period never shrinks one."""
    if INSTANCE_ID not in incoming or INSTANCE_ID not in stored:
        return None
    new = {
        DOCS_COUNT: max(int(stored.get(DOCS_COUNT) or 0), int(incoming.get(DOCS_COUNT) or 0)),
        START: min(str(stored[START]), str(incoming[START])),
        END: max(str(stored[END]), str(incoming[END])),
        LAST_DETECTED: max(str(stored.get(LAST_DETECTED) or stored["@timestamp"]), str(incoming[LAST_DETECTED])),
    }
    return new if any(stored.get(k) != v for k, v in new.items()) else None


# --- ranking ---------------------------------------------------------------------------------

TIER_RAISE = {"restricted": 20, "confidential": 10}
OTHER_RULE_RAISE, OTHER_RULES_MAX = 10, 30  # per other rule with an episode on the identity near this one
SAME_RULE_RAISE, SAME_RULE_MAX = 2, 6  # per other episode of the same rule on the identity near this one
ANOMALY_FLOOR, ANOMALY_MAX = 50.0, 10  # +1 per 5 points of anomaly risk above the floor
CORRELATION_WINDOW = timedelta(hours=24)
RISK_FIELD = "siem_pack.episode.risk_score"
FACTORS_FIELD = "siem_pack.episode.risk_factors"


@dataclass(frozen=True)
class Ranked:
    alert: Mapping[str, Any]
    risk_score: int
    factors: dict[str, int] = field(default_factory=dict)


def _span(a: Mapping[str, Any]) -> tuple[float, float]:
    first = parse_ts(a.get(START) or a.get("kibana.alert.original_time") or a["@timestamp"])
    last = parse_ts(a.get(END) or a.get("kibana.alert.original_time") or a["@timestamp"])
    assert first is not None and last is not None
    return first.timestamp(), last.timestamp()


def episode_risk(alerts: Sequence[Mapping[str, Any]], tier_of: Callable[[Mapping[str, Any]], str] | None = None,
                 window: timedelta = CORRELATION_WINDOW) -> list[Ranked]:
    """Each alert's episode risk score (in the given order): the rule's risk score, raised
    by the model's tier (restricted +20, confidential +10), by the other rules with an
    episode on the same identity within `window` of this one (+10 each, at most +30) and the
    same rule's other episodes there (+2 each, at most +6), and by the identity's highest
    anomaly risk score there (+1 per 5 points above 50, at most +10); at most 100.
    `tier_of` gives an alert's tier when the alert does not carry `siem_pack.model.tier`."""
    w = window.total_seconds()
    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    anomalies: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for a in alerts:
        uid = a.get("user.id")
        if not uid:
            continue
        s, _ = _span(a)
        times[str(uid)][str(a.get("kibana.alert.rule.rule_id"))].append(s)
        score = a.get("siem_pack.anomaly.risk_score")
        if isinstance(score, (int, float)):
            anomalies[str(uid)].append((s, float(score)))
    for per_rule in times.values():
        for ts in per_rule.values():
            ts.sort()
    for lst in anomalies.values():
        lst.sort()
    out = []
    for a in alerts:
        factors = {"rule": int(float(a.get("kibana.alert.risk_score") or 0))}
        tier = str(a.get("siem_pack.model.tier") or (tier_of(a) if tier_of else "") or "")
        if TIER_RAISE.get(tier):
            factors["tier"] = TIER_RAISE[tier]
        uid = a.get("user.id")
        if uid:
            s, e = _span(a)
            lo, hi = s - w, e + w
            rid = str(a.get("kibana.alert.rule.rule_id"))
            others = same = 0
            for r, ts in times[str(uid)].items():
                n = bisect.bisect_right(ts, hi) - bisect.bisect_left(ts, lo)
                if r != rid:
                    others += n > 0
                else:
                    same = max(0, n - 1)  # itself: its start lies in its own window
            if others:
                factors["other_rules"] = min(OTHER_RULES_MAX, OTHER_RULE_RAISE * others)
            if same:
                factors["same_rule"] = min(SAME_RULE_MAX, SAME_RULE_RAISE * same)
            lst = anomalies.get(str(uid), [])
            near = lst[bisect.bisect_left(lst, (lo, -1.0)):bisect.bisect_right(lst, (hi, 101.0))]
            top = max((sc for _, sc in near), default=0.0)
            if top > ANOMALY_FLOOR:
                factors["anomaly"] = min(ANOMALY_MAX, int((top - ANOMALY_FLOOR) // 5))
        out.append(Ranked(a, min(100, sum(factors.values())), factors))
    return out


def ranked(alerts: Sequence[Mapping[str, Any]], tier_of: Callable[[Mapping[str, Any]], str] | None = None,
           window: timedelta = CORRELATION_WINDOW) -> list[Ranked]:
    """Episodes by risk, highest first; ties: the rule's risk score, then the newest."""
    scored = episode_risk(alerts, tier_of, window)
    scored.sort(key=lambda r: str(r.alert.get("@timestamp")), reverse=True)
    scored.sort(key=lambda r: (r.risk_score, r.factors.get("rule", 0)), reverse=True)
    return scored
