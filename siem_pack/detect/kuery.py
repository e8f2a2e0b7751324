"""Stage 3 query languages: KQL (kuery) and a Lucene subset, parsed into one small AST that
compiles to the Elasticsearch query DSL and to DuckDB SQL.

Used by rules.py (parsing and static field checks), eql.py (its conditions share this AST),
runner_es.py (DSL; Lucene goes to Elasticsearch as `query_string`, unchanged) and
runner_duckdb.py (SQL over the `events` table).

The subset, in short (docs/detections.md has the full table):
- kuery: `f: v`, `f: "quoted"`, `f: (a or b)`, `f: *`, `f: pre*`, `f > 1` (`>=`, `<`, `<=`),
  `and`, `or`, `not`, parentheses. Keywords are case-insensitive, as in Kibana.
- lucene: `f:v`, `f:"quoted"`, `f:(a OR b)`, `f:*`, `_exists_:f`, `f:[1 TO *]`, `f:{1 TO 5]`,
  `f:>=1`, `AND`/`&&`, `OR`/`||`, `NOT`/`!`/`-`, parentheses. Mixing AND and OR at one level
  without parentheses, implicit operators and NOT inside an OR are rejected, because the
  classic query parser behind `query_string` does not give them boolean precedence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..backends.duckdb import quote
from ..schema import Schema

Scalar = str | int | float | bool
RangeOp = Literal["gt", "gte", "lt", "lte"]
RANGE_OPS: dict[str, RangeOp] = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}  # comparison token → Range.op
RANGE_SYMBOLS: dict[RangeOp, str] = {op: sym for sym, op in RANGE_OPS.items()}  # Range.op → SQL/SPL symbol


class QuerySyntaxError(ValueError):
    """A query outside the supported subset; the message says where and why."""


# -- the AST -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class Term:
    field: str
    value: Scalar
    phrase: bool = False


@dataclass(frozen=True)
class Wildcard:
    field: str
    pattern: str  # `*` any run, `?` one character


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Range:
    field: str
    op: RangeOp
    value: Scalar


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = MatchAll | Term | Wildcard | Exists | Range | And | Or | Not


def fields_of(node: Node) -> set[str]:
    """Every field a query references."""
    if isinstance(node, (Term, Wildcard, Exists, Range)):
        return {node.field}
    if isinstance(node, (And, Or)):
        out: set[str] = set()
        for item in node.items:
            out |= fields_of(item)
        return out
    if isinstance(node, Not):
        return fields_of(node.item)
    return set()


def conj(*items: Node) -> Node:
    kept = tuple(i for i in items if not isinstance(i, MatchAll))
    if not kept:
        return MatchAll()
    return kept[0] if len(kept) == 1 else And(kept)


# -- tokenizer -----------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|==|!=|&&|\|\||[()<>:\[\]{},=!-])
    | (?P<word>(?:[^\s"()<>:\[\]{},=!\\]|\\.)(?:[^\s"()<>:\[\]{},=\\]|\\.)*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Tok:
    kind: Literal["str", "op", "word", "end"]
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QuerySyntaxError(f"unexpected character at {pos}: {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        assert kind is not None
        toks.append(Tok(kind, m.group(kind), m.start(kind)))  # type: ignore[arg-type]
        pos = m.end()
    toks.append(Tok("end", "", len(text)))
    return toks


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def _literal(field: str, tok: Tok) -> Node:
    if tok.kind == "str":
        return Term(field, _unquote(tok.text), phrase=True)
    raw = tok.text
    if raw == "*":
        return Exists(field)
    if re.search(r"(?<!\\)[*?]", raw):
        # keep escapes of * and ? out of the pattern by marking them; other escapes drop
        pattern = re.sub(r"\\([^*?])", r"\1", raw)
        return Wildcard(field, pattern)
    return Term(field, _number_or_str(re.sub(r"\\(.)", r"\1", raw)))


def _number_or_str(s: str) -> Scalar:
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if re.fullmatch(r"-?\d+\.\d+", s):
        return float(s)
    return s


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, what: str) -> QuerySyntaxError:
        t = self.tok
        shown = t.text or "end of query"
        return QuerySyntaxError(f"{what} at position {t.pos} (found {shown!r})")

    def expect(self, text: str) -> Tok:
        if self.tok.kind == "op" and self.tok.text == text:
            return self.next()
        raise self.fail(f"expected {text!r}")

    def is_op(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def done(self) -> None:
        if self.tok.kind != "end":
            raise self.fail("unexpected input")

    def group(self, inner: Callable[[], Node]) -> Node:
        """`( inner )`, the opening parenthesis being the current token."""
        self.expect("(")
        node = inner()
        self.expect(")")
        return node


# -- KQL -----------------------------------------------------------------------------------
class _Boolean(_Parser):
    """`or` / `and` / `not` over keyword operators, shared by KQL and EQL conditions;
    keywords are case-insensitive words; subclasses say what a primary expression is."""

    def kw(self, word: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() == word

    def primary(self) -> Node:
        raise NotImplementedError

    def chain(self, word: str, combine: type[And] | type[Or], item: Callable[[], Node]) -> Node:
        """`item (word item)*`, one node when there is one item."""
        items = [item()]
        while self.kw(word):
            self.next()
            items.append(item())
        return items[0] if len(items) == 1 else combine(tuple(items))

    def or_(self) -> Node:
        return self.chain("or", Or, self.and_)

    def and_(self) -> Node:
        return self.chain("and", And, self.not_)

    def not_(self) -> Node:
        if self.kw("not"):
            self.next()
            return Not(self.not_())
        return self.primary()


class _Kql(_Boolean):
    def parse(self) -> Node:
        if self.tok.kind == "end":
            return MatchAll()
        node = self.or_()
        self.done()
        return node

    def primary(self) -> Node:
        if self.is_op("("):
            return self.group(self.or_)
        if self.tok.kind != "word":
            raise self.fail("expected a field name")
        field = self.next().text
        if self.is_op(*RANGE_OPS):
            op = RANGE_OPS[self.next().text]
            v = self.next()
            if v.kind not in ("word", "str"):
                raise self.fail("expected a value")
            value = _unquote(v.text) if v.kind == "str" else _number_or_str(v.text)
            return Range(field, op, value)
        if not self.is_op(":"):
            raise self.fail(f"expected ':' after field {field!r} (free-text search is not supported)")
        self.next()
        if self.is_op("("):
            return self.group(lambda: self.v_or(field))
        return self.v_lit(field)

    def v_or(self, field: str) -> Node:
        return self.chain("or", Or, lambda: self.v_and(field))

    def v_and(self, field: str) -> Node:
        return self.chain("and", And, lambda: self.v_not(field))

    def v_not(self, field: str) -> Node:
        if self.kw("not"):
            self.next()
            return Not(self.v_not(field))
        if self.is_op("("):
            return self.group(lambda: self.v_or(field))
        return self.v_lit(field)

    def v_lit(self, field: str) -> Node:
        if self.tok.kind not in ("word", "str"):
            raise self.fail("expected a value")
        return _literal(field, self.next())


def parse_kuery(text: str) -> Node:
    return _Kql(text).parse()


# -- Lucene subset -------------------------------------------------------------------------
class _Lucene(_Parser):
    def is_and(self) -> bool:
        return (self.tok.kind == "word" and self.tok.text == "AND") or self.is_op("&&")

    def is_or(self) -> bool:
        return (self.tok.kind == "word" and self.tok.text == "OR") or self.is_op("||")

    def is_not(self) -> bool:
        return (self.tok.kind == "word" and self.tok.text == "NOT") or self.is_op("!", "-")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            return MatchAll()
        node = self.expr()
        self.done()
        return node

    def expr(self) -> Node:
        items = [self.unary()]
        mode: str | None = None
        while True:
            if self.is_and():
                op = "and"
            elif self.is_or():
                op = "or"
            elif self.tok.kind == "end" or self.is_op(")"):
                break
            else:
                raise self.fail("implicit operator (write AND or OR between clauses)")
            if mode and op != mode:
                raise self.fail("AND and OR mixed without parentheses")
            mode = op
            self.next()
            items.append(self.unary())
        if len(items) == 1:
            return items[0]
        if mode == "or" and any(isinstance(i, Not) for i in items):
            raise QuerySyntaxError("NOT inside an OR list is ambiguous in query_string; use parentheses or kuery")
        return And(tuple(items)) if mode == "and" else Or(tuple(items))

    def unary(self) -> Node:
        if self.is_not():
            self.next()
            return Not(self.unary())
        if self.is_op("("):
            return self.group(self.expr)
        if self.tok.kind != "word":
            raise self.fail("expected a field name")
        field = self.next().text
        self.expect(":")
        if field == "_exists_":
            if self.tok.kind != "word":
                raise self.fail("expected a field name after _exists_:")
            return Exists(self.next().text)
        if self.is_op("("):
            return self.group(lambda: self.values(field))
        if self.is_op("[", "{"):
            return self.range_(field)
        if self.is_op(*RANGE_OPS):
            op = RANGE_OPS[self.next().text]
            v = self.next()
            return Range(field, op, _number_or_str(v.text))
        if self.tok.kind not in ("word", "str"):
            raise self.fail("expected a value")
        return _literal(field, self.next())

    def values(self, field: str) -> Node:
        items: list[Node] = []
        mode: str | None = None
        while True:
            if self.tok.kind not in ("word", "str"):
                raise self.fail("expected a value")
            items.append(_literal(field, self.next()))
            if self.is_op(")"):
                break
            op = "and" if self.is_and() else "or" if self.is_or() else None
            if op is None:
                raise self.fail("implicit operator inside a value group")
            if mode and op != mode:
                raise self.fail("AND and OR mixed in a value group")
            mode = op
            self.next()
        if len(items) == 1:
            return items[0]
        return And(tuple(items)) if mode == "and" else Or(tuple(items))

    def range_(self, field: str) -> Node:
        lo_incl = self.next().text == "["
        lo = self.next()
        if not (self.tok.kind == "word" and self.tok.text == "TO"):
            raise self.fail("expected TO in a range")
        self.next()
        hi = self.next()
        if not self.is_op("]", "}"):
            raise self.fail("expected ] or } closing a range")
        hi_incl = self.next().text == "]"
        parts: list[Node] = []
        if lo.text != "*":
            parts.append(Range(field, "gte" if lo_incl else "gt", _number_or_str(lo.text)))
        if hi.text != "*":
            parts.append(Range(field, "lte" if hi_incl else "lt", _number_or_str(hi.text)))
        if not parts:
            return Exists(field)
        return parts[0] if len(parts) == 1 else And(tuple(parts))


def parse_lucene(text: str) -> Node:
    return _Lucene(text).parse()


# -- compile: query DSL --------------------------------------------------------------------
def to_dsl(node: Node) -> dict[str, Any]:
    """The query DSL Kibana would send for a kuery AST (match / match_phrase / exists /
    range / wildcard in bool clauses)."""
    if isinstance(node, MatchAll):
        return {"match_all": {}}
    if isinstance(node, Term):
        kind = "match_phrase" if node.phrase else "match"
        return {"bool": {"should": [{kind: {node.field: node.value}}], "minimum_should_match": 1}}
    if isinstance(node, Wildcard):
        return {"wildcard": {node.field: {"value": node.pattern}}}
    if isinstance(node, Exists):
        return {"exists": {"field": node.field}}
    if isinstance(node, Range):
        return {"range": {node.field: {node.op: node.value}}}
    if isinstance(node, And):
        return {"bool": {"filter": [to_dsl(i) for i in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [to_dsl(i) for i in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_dsl(node.item)]}}
    raise TypeError(node)


# -- compile: DuckDB SQL -------------------------------------------------------------------
def _sql_value(value: Scalar, ftype: str) -> tuple[bool, Any]:
    """(ok, value cast to the column's type); not ok means the value can never match."""
    if ftype in ("long",):
        try:
            return True, int(value) if not isinstance(value, float) else value
        except (TypeError, ValueError):
            return False, None
    if ftype in ("double", "float"):
        try:
            return True, float(value)
        except (TypeError, ValueError):
            return False, None
    if ftype == "boolean":
        if isinstance(value, bool):
            return True, value
        low = str(value).lower()
        return (low in ("true", "false")), low == "true"
    if isinstance(value, bool):
        return True, "true" if value else "false"
    return True, str(value)


def _like(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\" + nxt if nxt in "%_\\" else nxt)
            i += 2
            continue
        out.append("%" if c == "*" else "_" if c == "?" else "\\" + c if c in "%_" else c)
        i += 1
    return "".join(out)


def to_sql(node: Node, schema: Schema, params: list[Any]) -> str:
    """A WHERE condition over the document tables (one column per schema field); values go
    to `params` as placeholders. Array fields match when any element matches, like ES."""
    if isinstance(node, MatchAll):
        return "TRUE"
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(to_sql(i, schema, params) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT COALESCE({to_sql(node.item, schema, params)}, FALSE))"
    field = schema.resolve(node.field)
    if field is None:
        return "FALSE"  # ES: a query on an unmapped field matches nothing
    col = quote(field.name)
    if isinstance(node, Exists):
        return f"({col} IS NOT NULL AND len({col}) > 0)" if field.array else f"({col} IS NOT NULL)"
    if isinstance(node, Term):
        ok, v = _sql_value(node.value, field.type)
        if not ok:
            return "FALSE"
        params.append(v)
        return f"list_contains({col}, ?)" if field.array else f"({col} = ?)"
    if isinstance(node, Wildcard):
        params.append(_like(node.pattern))
        if field.array:
            return f"(len(list_filter({col}, x -> x LIKE ? ESCAPE '\\')) > 0)"
        return f"(CAST({col} AS VARCHAR) LIKE ? ESCAPE '\\')"
    if isinstance(node, Range):
        ok, v = _sql_value(node.value, field.type)
        if not ok:
            return "FALSE"
        sym = RANGE_SYMBOLS[node.op]
        params.append(v)
        if field.array:
            return f"(len(list_filter({col}, x -> x {sym} ?)) > 0)"
        return f"({col} {sym} ?)"
    raise TypeError(node)

