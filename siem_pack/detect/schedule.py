"""Stage 3 execution: a rule's schedule replayed over a period, and each rule type's
semantics on top of a backend (runner_duckdb.py or runner_es.py) that answers a few
batched questions. Alerts come out in the shape of alerts.py.

A tick `t` (every `interval` from the period start) evaluates the window
`[t - lookback, t)`. `evaluate` asks the backend once per question for all ticks (many
windows, few queries); `evaluate_tick_by_tick` asks per tick. Both dedupe alerts by their
deterministic uuid, keeping the earliest tick, then fold them into episodes where the rule
declares `alert_suppression` (episodes.suppress), and a test proves they agree.

Semantics per type (docs/detections.md says where they differ from Kibana):
- query: one alert per matching event;
- threshold: per window, groups on `threshold.field` with count >= value (and distinct
  `cardinality.field` >= its value);
- new_terms: per window, combinations of `new_terms_fields` present in the window and absent
  from `[t - history, t - lookback)`; one alert on the combination's first event;
- eql: the sequence scan of eql.py over the window's hits;
- esql (silence shape): per value of the field, the newest event in the window, older than
  `quiet` at the tick.
Exceptions (allow-list entries) active at the tick are excluded from every rule's input.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..times import parse_ts
from .alerts import MAX_ANCESTORS, make_alert
from .episodes import suppress
from .eql import Hit, scan_sequences
from .kuery import And, Node, Term
from .rules import AllowEntry, Query, Rule, exceptions_for

Window = tuple[datetime, datetime]
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Where:
    """The input filter of a rule: queries that must match, allow-list entries that must not."""

    must: tuple[Query, ...] = ()
    must_not: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Group:
    key: Key
    count: int
    cardinality: int | None
    last_ts: datetime


@dataclass(frozen=True)
class DocRequest:
    """Events of one group in one window: the first `size` by (time, id), or the newest."""

    window: Window
    fields: tuple[str, ...]
    key: Key
    newest: bool = False
    size: int = 1


class Backend(Protocol):
    name: str

    def hits(self, table: str, where: Where, start: datetime, end: datetime,
             named: dict[str, Node]) -> list[tuple[dict[str, Any], frozenset[str]]]:
        """Matching events as flat docs, sorted by (@timestamp, event.id), each with the names
        of the `named` conditions it matches (a doc must match at least one when given)."""
        ...

    def groups(self, table: str, where: Where, windows: Sequence[Window], fields: Sequence[str],
               min_count: int, cardinality_field: str | None) -> list[list[Group]]:
        """Per window, groups on `fields` with count >= min_count."""
        ...

    def terms(self, table: str, where: Where, windows: Sequence[Window],
              fields: Sequence[str]) -> list[dict[Key, datetime]]:
        """Per window, the combinations of `fields` present, each with its newest time."""
        ...

    def docs(self, table: str, where: Where, requests: Sequence[DocRequest]) -> list[list[dict[str, Any]]]:
        """Flat documents per request (asked only for the few groups that alert)."""
        ...


def ticks(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """Ticks of a schedule over [start, end]: start + interval, start + 2·interval, ..."""
    out = []
    t = start + interval
    while t <= end:
        out.append(t)
        t += interval
    return out


def where_for(rule: Rule, entries: Iterable[AllowEntry]) -> Where:
    must = (rule.query,) if rule.query is not None else ()
    nots: list[Node] = []
    for e in entries:
        terms = tuple(Term(f, v, phrase=True) for f, v in e.match)
        nots.append(terms[0] if len(terms) == 1 else And(terms))
    return Where(must, tuple(nots))


def _segments(rule: Rule, tks: Sequence[datetime], entries: Sequence[AllowEntry]) -> list[tuple[list[datetime], Where]]:
    """Consecutive ticks sharing the same active exceptions (expiry splits a period)."""
    mine = exceptions_for(rule, entries)
    out: list[tuple[list[datetime], Where]] = []
    last: tuple[str, ...] | None = None
    for t in tks:
        active = tuple(e.item_id for e in mine if e.active(t))
        if active != last:
            out.append(([], where_for(rule, [e for e in mine if e.item_id in active])))
            last = active
        out[-1][0].append(t)
    return out


def evaluate(rule: Rule, backend: Backend, tks: Sequence[datetime], entries: Sequence[AllowEntry] = (),
             prior: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """All alerts of a rule over its ticks, in few backend calls; deduped by uuid, then one
    per episode when the rule suppresses (`prior`: its episodes stored by an earlier run,
    returned updated when extended)."""
    return suppress(rule, raw_alerts(rule, backend, tks, entries), prior)


def raw_alerts(rule: Rule, backend: Backend, tks: Sequence[datetime],
               entries: Sequence[AllowEntry] = ()) -> list[dict[str, Any]]:
    """Every alert the ticks raise, deduped by uuid, before suppression."""
    alerts: list[dict[str, Any]] = []
    for seg, where in _segments(rule, sorted(tks), entries):
        for part in _hit_chunks(rule, seg):
            alerts.extend(_evaluate(rule, backend, part, where))
    return dedupe(alerts)


HITS_SPAN = timedelta(hours=2)  # eql: whole events are fetched for at most this span of ticks at a time


def _hit_chunks(rule: Rule, tks: list[datetime]) -> list[list[datetime]]:
    """An eql rule's ticks in runs spanning at most HITS_SPAN: its hits are whole events
    (a step such as `any where event.outcome == "success"` matches most of them), so memory
    follows one run's events, not the period's. Each tick still sees its own whole window,
    so the alerts are the same; the other types ask aggregate questions of all ticks at once."""
    if rule.type != "eql":
        return [tks]
    out: list[list[datetime]] = []
    for t in tks:
        if not out or t - out[-1][0] >= HITS_SPAN:
            out.append([])
        out[-1].append(t)
    return out


def evaluate_tick_by_tick(rule: Rule, backend: Backend, tks: Sequence[datetime], entries: Sequence[AllowEntry] = (),
                          prior: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for t in sorted(tks):
        alerts.extend(raw_alerts(rule, backend, [t], entries))
    return suppress(rule, dedupe(alerts), prior)


def dedupe(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for a in alerts:
        u = a["kibana.alert.uuid"]
        if u not in best or a["@timestamp"] < best[u]["@timestamp"]:
            best[u] = a
    return sorted(best.values(), key=lambda a: (a["@timestamp"], a["kibana.alert.original_time"], a["kibana.alert.uuid"]))


def _eval_query(rule: Rule, backend: Backend, tks: list[datetime], windows: list[Window],
                where: Where) -> list[dict[str, Any]]:
    """One alert per matching event per tick."""
    rows = backend.hits(rule.table, where, windows[0][0], windows[-1][1], {})
    times = [_ts(d) for d, _ in rows]
    return [make_alert(rule, t, {}, [d["event.id"]], d["@timestamp"], d)
            for t, (s, e) in zip(tks, windows, strict=True)
            for d, _ in rows[bisect.bisect_left(times, s):bisect.bisect_left(times, e)]]


def _eval_threshold(rule: Rule, backend: Backend, tks: list[datetime], windows: list[Window],
                    where: Where) -> list[dict[str, Any]]:
    thr = rule.threshold
    assert thr is not None
    passing = [(t, w, g) for t, w, groups in
               zip(tks, windows, backend.groups(rule.table, where, windows, thr.fields, thr.value,
                                                thr.cardinality_field), strict=True)
               for g in groups if thr.cardinality_value is None or (g.cardinality or 0) >= thr.cardinality_value]
    ancestors = backend.docs(rule.table, where, [DocRequest(w, thr.fields, g.key, False, MAX_ANCESTORS)
                                                 for _, w, g in passing])
    out = []
    for (t, _, g), docs in zip(passing, ancestors, strict=True):
        extra: dict[str, Any] = {"kibana.alert.threshold_result.count": g.count}
        if g.cardinality is not None:
            extra["kibana.alert.threshold_result.cardinality"] = g.cardinality
        out.append(make_alert(rule, t, dict(zip(thr.fields, g.key, strict=True)), [d["event.id"] for d in docs],
                              g.last_ts, None, extra))
    return out


def _eval_new_terms(rule: Rule, backend: Backend, tks: list[datetime], windows: list[Window],
                    where: Where) -> list[dict[str, Any]]:
    nt = rule.new_terms
    assert nt is not None
    history = [(t - nt.history, t - rule.lookback) for t in tks]
    present = backend.terms(rule.table, where, windows, nt.fields)
    before = backend.terms(rule.table, where, history, nt.fields)
    new = [(t, w, key) for t, w, now_terms, old_terms in zip(tks, windows, present, before, strict=True)
           for key in sorted(now_terms, key=str) if key not in old_terms]
    firsts = backend.docs(rule.table, where, [DocRequest(w, nt.fields, key) for _, w, key in new])
    return [make_alert(rule, t, dict(zip(nt.fields, key, strict=True)), [docs[0]["event.id"]],
                       docs[0]["@timestamp"], docs[0])
            for (t, _, key), docs in zip(new, firsts, strict=True)]


def _eval_eql(rule: Rule, backend: Backend, tks: list[datetime], windows: list[Window],
              where: Where) -> list[dict[str, Any]]:
    seq = rule.sequence
    assert seq is not None
    named = {f"step{i}": s.condition for i, s in enumerate(seq.steps)}
    raw = backend.hits(rule.table, where, windows[0][0], windows[-1][1], named)
    hits = [Hit(d["event.id"], _ts(d), tuple(d.get(f) for f in seq.by),
                frozenset(int(n[4:]) for n in names), d) for d, names in raw]
    times = [h.ts for h in hits]
    out = []
    for t, (s, e) in zip(tks, windows, strict=True):
        window_hits = hits[bisect.bisect_left(times, s):bisect.bisect_left(times, e)]
        for found in scan_sequences(seq, window_hits):
            group = dict(zip(seq.by, found[0].key, strict=True))
            out.append(make_alert(rule, t, group, [h.id for h in found], found[0].ts, found[-1].doc,
                                  {"kibana.alert.group_size": len(found)}))
    return out


def _eval_esql(rule: Rule, backend: Backend, tks: list[datetime], windows: list[Window],
               where: Where) -> list[dict[str, Any]]:
    sil = rule.silence
    assert sil is not None
    silent = [(t, w, key, last_ts) for t, w, terms in
              zip(tks, windows, backend.terms(rule.table, where, windows, (sil.field,)), strict=True)
              for key, last_ts in sorted(terms.items(), key=lambda kv: str(kv[0])) if last_ts < t - sil.quiet]
    lasts = backend.docs(rule.table, where, [DocRequest(w, (sil.field,), key, True) for _, w, key, _ in silent])
    return [make_alert(rule, t, {sil.field: key[0]}, [docs[0]["event.id"]], last_ts, None,
                       {"kibana.alert.silent_for_seconds": int((t - last_ts).total_seconds())})
            for (t, _, key, last_ts), docs in zip(silent, lasts, strict=True)]


# The registry: a rule's type → how its ticks are evaluated against a backend.
EVALUATORS: dict[str, Callable[[Rule, Backend, list[datetime], list[Window], Where], list[dict[str, Any]]]] = {
    "query": _eval_query,
    "threshold": _eval_threshold,
    "new_terms": _eval_new_terms,
    "eql": _eval_eql,
    "esql": _eval_esql,
}


def _evaluate(rule: Rule, backend: Backend, tks: list[datetime], where: Where) -> list[dict[str, Any]]:
    evaluate_type = EVALUATORS.get(rule.type)
    return evaluate_type(rule, backend, tks, [(t - rule.lookback, t) for t in tks], where) if evaluate_type else []


def _ts(doc: dict[str, Any]) -> datetime:
    ts = parse_ts(doc["@timestamp"])
    assert ts is not None
    return ts
