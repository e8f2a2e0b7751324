"""Stage 3: the EQL subset our rules use (sequences), parsed into steps whose conditions
share the query AST of kuery.py, and the ordered per-entity sequence scan both runners use
(the test node has no EQL, and neither has DuckDB).

Grammar:
    sequence [by f1, f2] [with maxspan=10m]
      [<category|any> where <cond>] [with runs=N]
      [<category|any> where <cond>] ...
    cond: f == "v" | f != "v" | f : "v*" | f in ("a", "b") | f > 1 (>=, <, <=)
          | cond and cond | cond or cond | not cond | (cond) | true

Semantics (ES's EQL sequence matcher, restated): per join key, events in time order; an
event matching step 1 starts a new partial sequence (replacing an older one still at step
1); an event matching step i > 1 advances the partial sequence waiting at step i-1
(replacing one already at step i); a sequence whose span exceeds maxspan is dropped; a
completed sequence is emitted and its events are consumed. One event may match several
steps; later steps are tried first, as ES does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..times import DurationError, parse_duration
from .kuery import (
    RANGE_OPS,
    And,
    Exists,
    MatchAll,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Range,
    Term,
    Wildcard,
    _Boolean,
    _unquote,
    conj,
)


@dataclass(frozen=True)
class Step:
    category: str
    condition: Node  # includes the category filter


@dataclass(frozen=True)
class SequenceQuery:
    by: tuple[str, ...]
    maxspan: timedelta | None
    steps: tuple[Step, ...]


def _maxspan(text: str) -> timedelta:
    """`maxspan=<duration>`; a bad one is a query error like any other."""
    try:
        return parse_duration(text, ms=True, message="bad duration {text!r} (use e.g. 30s, 10m, 2h, 1d)")
    except DurationError as exc:
        raise QuerySyntaxError(exc.message) from exc


class _Eql(_Boolean):
    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise self.fail(f"expected {word!r}")
        self.next()

    def parse(self) -> SequenceQuery:
        self.expect_kw("sequence")
        by: list[str] = []
        maxspan: timedelta | None = None
        if self.kw("by"):
            self.next()
            by.append(self.next().text)
            while self.is_op(","):
                self.next()
                by.append(self.next().text)
        if self.kw("with"):
            self.next()
            self.expect_kw("maxspan")
            self.expect("=")
            maxspan = _maxspan(self.next().text)
        steps: list[Step] = []
        while self.is_op("["):
            self.next()
            cat = self.next().text
            self.expect_kw("where")
            cond = self.or_()
            self.expect("]")
            runs = 1
            if self.kw("with"):
                self.next()
                self.expect_kw("runs")
                self.expect("=")
                runs = int(self.next().text)
            cat_node: Node = MatchAll() if cat.lower() == "any" else Term("event.category", cat, phrase=True)
            steps += [Step(cat, conj(cat_node, cond))] * runs
        self.done()
        if len(steps) < 2:
            raise QuerySyntaxError("a sequence needs at least two steps")
        return SequenceQuery(tuple(by), maxspan, tuple(steps))

    def primary(self) -> Node:
        return self.cmp()

    def value(self) -> Any:
        t = self.next()
        if t.kind == "str":
            return _unquote(t.text)
        if t.kind == "word":
            if t.text in ("true", "false"):
                return t.text == "true"
            try:
                return int(t.text)
            except ValueError:
                try:
                    return float(t.text)
                except ValueError:
                    pass
        raise QuerySyntaxError(f"expected a literal at position {t.pos} (found {t.text!r})")

    def cmp(self) -> Node:
        if self.is_op("("):
            return self.group(self.or_)
        if self.kw("true"):
            self.next()
            return MatchAll()
        if self.tok.kind != "word":
            raise self.fail("expected a field name")
        field = self.next().text
        if self.kw("in"):
            self.next()
            self.expect("(")
            values = [self.value()]
            while self.is_op(","):
                self.next()
                values.append(self.value())
            self.expect(")")
            items = tuple(Term(field, v, phrase=True) for v in values)
            return items[0] if len(items) == 1 else Or(items)
        if self.is_op("=="):
            self.next()
            return Term(field, self.value(), phrase=True)
        if self.is_op("!="):
            self.next()
            return And((Exists(field), Not(Term(field, self.value(), phrase=True))))
        if self.is_op(":"):
            self.next()
            v = self.value()
            if isinstance(v, str) and "*" in v:
                return Wildcard(field, v)
            return Term(field, v, phrase=True)
        if self.is_op(*RANGE_OPS):
            return Range(field, RANGE_OPS[self.next().text], self.value())
        raise self.fail("expected a comparison")


def parse_eql(text: str) -> SequenceQuery:
    return _Eql(text).parse()


@dataclass(frozen=True)
class Hit:
    """One event as the scan sees it: its id, time, join-key values and matched steps."""

    id: str
    ts: datetime
    key: tuple[Any, ...]
    steps: frozenset[int]
    doc: dict[str, Any]


def scan_sequences(seq: SequenceQuery, hits: Sequence[Hit]) -> list[list[Hit]]:
    """Completed sequences over hits sorted by (time, id), per join key."""
    n = len(seq.steps)
    # key -> stage index -> partial sequence (list of hits)
    state: dict[tuple[Any, ...], dict[int, list[Hit]]] = {}
    done: list[list[Hit]] = []
    for hit in hits:
        if any(v is None for v in hit.key):
            continue
        stages = state.setdefault(hit.key, {})
        if seq.maxspan is not None:
            for st in list(stages):
                if hit.ts - stages[st][0].ts > seq.maxspan:
                    del stages[st]
        for i in sorted(hit.steps, reverse=True):
            if i == 0:
                stages[0] = [hit]
                break
            prev = stages.get(i - 1)
            if prev is None:
                continue
            del stages[i - 1]
            seq_hits = prev + [hit]
            if i == n - 1:
                done.append(seq_hits)
            else:
                stages[i] = seq_hits
            break
    return done
