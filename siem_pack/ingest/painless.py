"""Stage 1 → 2 helper: the documented subset of Painless that `if` conditions may use.

Parsed once when a pipeline loads (siem_pack.ingest.pipeline) into a small AST, then
compiled into a Python closure the executor (siem_pack.ingest.executor) calls per document.
Anything outside the subset is a load-time `ContentError` naming what is supported.

Supported (see docs/ingest.md):
  ctx.a.b, ctx.a?.b, ctx['a-b'], ctx.a?.['b']       field access (null-safe with ?.)
  == != < <= > >=   && || !   ( )                     comparisons and logic
  'str' "str" 12 1.5 true false null ['a', 'b']       literals
  x.contains(y) x.startsWith(y) x.endsWith(y) x.equals(y) x.equalsIgnoreCase(y)
  x.isEmpty() x.size() x.length() x.toLowerCase() x.toUpperCase() x.trim() x.containsKey(y)
  x.compareTo(y)  (String: Java's code-unit difference, e.g. ISO timestamps in order; Number: -1/0/1)
  x instanceof String|List|Map|Number|Boolean|Integer|Long|Double
Painless semantics kept: `==` is value equality (numbers compare by value, never with
booleans); `<`/`>` need numbers; `ctx.a.b` on a null `a` is an error
(a NullPointerException in Painless), which fails the processor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ContentError

SUPPORTED = (
    "ctx field access (ctx.a.b, null-safe ctx.a?.b, ctx['k']), literals (strings, numbers, true, false, null, "
    "['a','b']), == != < <= > >=, &&, ||, !, parentheses, instanceof String|List|Map|Number|Boolean|Integer|Long|Double, "
    "methods " + ", ".join(
        ("contains", "startsWith", "endsWith", "equals", "equalsIgnoreCase", "isEmpty", "size", "length",
         "toLowerCase", "toUpperCase", "trim", "containsKey", "compareTo"))
)

Cond = Callable[[dict[str, Any]], Any]


class PainlessError(Exception):
    """A runtime error while evaluating a condition (the processor then fails)."""


class _Unsupported(Exception):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d+|\d+)[LlDdFf]?
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>\?\.|==|!=|<=|>=|&&|\|\||[<>!().,\[\]])
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
""", re.VERBOSE)

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _tokenize(src: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise _Unsupported(f"unexpected character {src[pos]!r} at offset {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        text = m.group(kind) if kind != "num" else m.group("num")
        out.append((kind, text))
    out.append(("end", ""))
    return out


# ---- AST ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    pass


@dataclass(frozen=True)
class Lit(Node):
    value: Any


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Ctx(Node):
    pass


@dataclass(frozen=True)
class Field(Node):
    target: Node
    name: str
    null_safe: bool


@dataclass(frozen=True)
class Call(Node):
    target: Node
    method: str
    args: tuple[Node, ...]
    null_safe: bool


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class InstanceOf(Node):
    operand: Node
    type_name: str


METHODS = {"contains": 1, "startsWith": 1, "endsWith": 1, "equals": 1, "equalsIgnoreCase": 1, "isEmpty": 0,
           "size": 0, "length": 0, "toLowerCase": 0, "toUpperCase": 0, "trim": 0, "containsKey": 1, "compareTo": 1}
TYPES = ("String", "List", "Map", "Number", "Boolean", "Integer", "Long", "Double")


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if text is not None and tok[1] != text:
            raise _Unsupported(f"expected {text!r}, found {tok[1] or 'end of condition'!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.or_()
        if self.peek()[0] != "end":
            raise _Unsupported(f"unexpected {self.peek()[1]!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            node = Binary("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.eq()
        while self.peek() == ("op", "&&"):
            self.take()
            node = Binary("&&", node, self.eq())
        return node

    def eq(self) -> Node:
        node = self.rel()
        while self.peek()[1] in ("==", "!=") and self.peek()[0] == "op":
            op = self.take()[1]
            node = Binary(op, node, self.rel())
        return node

    def rel(self) -> Node:
        node = self.unary()
        while True:
            kind, text = self.peek()
            if kind == "op" and text in ("<", "<=", ">", ">="):
                self.take()
                node = Binary(text, node, self.unary())
            elif kind == "name" and text == "instanceof":
                self.take()
                tname = self.take()[1]
                if tname not in TYPES:
                    raise _Unsupported(f"instanceof {tname}")
                node = InstanceOf(node, tname)
            else:
                return node

    def unary(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            return Unary("!", self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Lit(float(text) if "." in text else int(text))
        if kind == "str":
            body = text[1:-1]
            return Lit(re.sub(r"\\(.)", lambda m: _ESC.get(m.group(1), m.group(1)), body))
        if kind == "name":
            if text == "true":
                return Lit(True)
            if text == "false":
                return Lit(False)
            if text == "null":
                return Lit(None)
            if text == "ctx":
                return Ctx()
            raise _Unsupported(f"identifier {text!r} (only ctx and literals)")
        if text == "(":
            node = self.or_()
            self.take(")")
            return node
        if text == "[":
            items: list[Node] = []
            while self.peek()[1] != "]":
                items.append(self.or_())
                if self.peek()[1] == ",":
                    self.take()
                elif self.peek()[1] != "]":
                    raise _Unsupported(f"expected ',' or ']' in list, found {self.peek()[1]!r}")
            self.take("]")
            return ListLit(tuple(items))
        raise _Unsupported(f"unexpected {text or 'end of condition'!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            kind, text = self.peek()
            if kind != "op" or text not in (".", "?.", "["):
                return node
            self.take()
            null_safe = text == "?."
            if text == "[" or (null_safe and self.peek()[1] == "["):
                if null_safe:
                    self.take("[")
                key = self.take()
                if key[0] != "str":
                    raise _Unsupported("only string keys in [...] access")
                self.take("]")
                node = Field(node, key[1][1:-1], null_safe)
                continue
            name = self.take()
            if name[0] != "name":
                raise _Unsupported(f"expected a name after {text!r}")
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                while self.peek()[1] != ")":
                    args.append(self.or_())
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                if name[1] not in METHODS:
                    raise _Unsupported(f"method {name[1]}()")
                if METHODS[name[1]] != len(args):
                    raise _Unsupported(f"{name[1]}() takes {METHODS[name[1]]} argument(s)")
                node = Call(node, name[1], tuple(args), null_safe)
            else:
                node = Field(node, name[1], null_safe)


def parse(source: str, where: str = "") -> Node:
    """Parse a condition; a `ContentError` names what is unsupported and what is."""
    try:
        return _Parser(source).parse()
    except _Unsupported as exc:
        raise ContentError(f"unsupported `if` condition {source!r}: {exc}; supported: {SUPPORTED}", where=where) from None


# ---- evaluation ---------------------------------------------------------------------
def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    return {str: "java.lang.String", bool: "java.lang.Boolean", int: "java.lang.Integer", float: "java.lang.Double",
            list: "java.util.ArrayList", dict: "java.util.HashMap"}.get(type(v), type(v).__name__)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equals(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


# the engine's messages (OpenSearch 3.x Painless), as `_ingest.on_failure_message` shows them
# (the engine's wording of a null access varies with its call-site state; this is the usual one)
_NULL_ACCESS = 'Cannot invoke "Object.getClass()" because "receiver" is null'


def _field(target: Any, name: str) -> Any:
    if isinstance(target, dict):
        return target.get(name)
    if target is None:
        raise PainlessError(_NULL_ACCESS)
    if isinstance(target, list):
        raise PainlessError(f"Illegal list shortcut value [{name}].")
    raise PainlessError(f"dynamic getter [{_jtype(target)}, {name}] not found")


def _method(target: Any, method: str, args: list[Any]) -> Any:
    if target is None:
        raise PainlessError(f"cannot invoke {method}() on null")
    if method == "contains":
        if isinstance(target, str):
            if not isinstance(args[0], str):
                raise PainlessError(f"String.contains() needs a String, got {_jtype(args[0])}")
            return args[0] in target
        if isinstance(target, list):
            return any(_equals(x, args[0]) for x in target)
    elif method == "containsKey" and isinstance(target, dict):
        return args[0] in target
    elif method in ("startsWith", "endsWith") and isinstance(target, str):
        if not isinstance(args[0], str):
            raise PainlessError(f"String.{method}() needs a String, got {_jtype(args[0])}")
        return target.startswith(args[0]) if method == "startsWith" else target.endswith(args[0])
    elif method == "compareTo":
        other = args[0]
        if isinstance(target, str) and isinstance(other, str):
            a, b = target.encode("utf-16-le"), other.encode("utf-16-le")
            for i in range(0, min(len(a), len(b)), 2):
                ca, cb = int.from_bytes(a[i:i + 2], "little"), int.from_bytes(b[i:i + 2], "little")
                if ca != cb:
                    return ca - cb
            return (len(a) - len(b)) // 2
        if _is_num(target) and _is_num(other):
            return (target > other) - (target < other)
        if other is None:
            raise PainlessError("cannot invoke compareTo() with null")
    elif method == "equals":
        return _equals(target, args[0])
    elif method == "equalsIgnoreCase" and isinstance(target, str):
        return isinstance(args[0], str) and target.lower() == args[0].lower()
    elif method == "isEmpty" and isinstance(target, (str, list, dict)):
        return len(target) == 0
    elif method == "size" and isinstance(target, (list, dict)):
        return len(target)
    elif method == "length" and isinstance(target, str):
        return len(target)
    elif method in ("toLowerCase", "toUpperCase", "trim") and isinstance(target, str):
        if method == "trim":
            return target.strip("".join(chr(c) for c in range(33)))
        return target.lower() if method == "toLowerCase" else target.upper()
    raise PainlessError(f"dynamic method [{_jtype(target)}, {method}/{len(args)}] not found")


def _instanceof(v: Any, t: str) -> bool:
    if t == "String":
        return isinstance(v, str)
    if t == "List":
        return isinstance(v, list)
    if t == "Map":
        return isinstance(v, dict)
    if t == "Boolean":
        return isinstance(v, bool)
    if t == "Number":
        return _is_num(v)
    if t in ("Integer", "Long"):
        if not isinstance(v, int) or isinstance(v, bool):
            return False
        small = -(2 ** 31) <= v < 2 ** 31
        return small if t == "Integer" else not small
    return isinstance(v, float)  # Double


def _compare(op: str, a: Any, b: Any) -> bool:
    if not (_is_num(a) and _is_num(b)):
        raise PainlessError(f"Cannot apply [{op}] operation to types [{_jtype(a)}] and [{_jtype(b)}].")
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _ctx_chain(node: Node) -> list[tuple[str, bool]] | None:
    """`ctx.a?.b.c` → [("a", False), ("b", True), ("c", False)]; None when not rooted at ctx."""
    steps: list[tuple[str, bool]] = []
    while isinstance(node, Field):
        steps.append((node.name, node.null_safe))
        node = node.target
    if not isinstance(node, Ctx):
        return None
    return steps[::-1]


def _compile_chain(chain: list[tuple[str, bool]]) -> Cond:
    first = chain[0][0]
    rest = tuple(chain[1:])
    if all(safe for _, safe in rest):
        keys = tuple(k for k, _ in rest)

        def safe_chain(ctx: dict[str, Any]) -> Any:
            node = ctx.get(first)
            for k in keys:
                if node is None:
                    return None
                if type(node) is dict:
                    node = node.get(k)
                else:
                    return _field(node, k)  # raises: field access on a non-map
            return node
        return safe_chain

    def chain_fn(ctx: dict[str, Any]) -> Any:
        node = ctx.get(first)
        for k, safe in rest:
            if node is None:
                if safe:
                    continue
                raise PainlessError(_NULL_ACCESS)
            node = node.get(k) if type(node) is dict else _field(node, k)
        return node
    return chain_fn


def _const_strings(node: Node) -> frozenset[str] | None:
    if isinstance(node, ListLit) and all(isinstance(i, Lit) and isinstance(i.value, str) for i in node.items):
        return frozenset(i.value for i in node.items if isinstance(i, Lit))
    return None


def compile_node(node: Node) -> Cond:
    """The AST as a closure over the document source (`ctx`)."""
    if isinstance(node, Lit):
        value = node.value
        return lambda ctx: value
    if isinstance(node, ListLit):
        items = [compile_node(n) for n in node.items]
        return lambda ctx: [f(ctx) for f in items]
    if isinstance(node, Ctx):
        return lambda ctx: ctx
    if isinstance(node, Field):
        chain = _ctx_chain(node)
        if chain is not None:
            return _compile_chain(chain)
        target, name = compile_node(node.target), node.name
        if node.null_safe:
            def safe_field(ctx: dict[str, Any]) -> Any:
                t = target(ctx)
                return None if t is None else _field(t, name)
            return safe_field
        return lambda ctx: _field(target(ctx), name)
    if isinstance(node, Call):
        consts = _const_strings(node.target)
        if consts is not None and node.method == "contains":
            (arg,) = (compile_node(a) for a in node.args)

            def in_consts(ctx: dict[str, Any]) -> bool:
                v = arg(ctx)
                return type(v) is str and v in consts
            return in_consts
        target, method = compile_node(node.target), node.method
        args = [compile_node(a) for a in node.args]
        null_safe = node.null_safe
        if (method in ("contains", "startsWith", "endsWith") and len(node.args) == 1
                and isinstance(node.args[0], Lit) and isinstance(node.args[0].value, str)):
            # `x.contains('lit')` on a String: the common shape, answered without the generic call
            lit_arg = node.args[0].value
            str_op = {"contains": str.__contains__, "startsWith": str.startswith, "endsWith": str.endswith}[method]

            def str_call(ctx: dict[str, Any]) -> Any:
                t = target(ctx)
                if type(t) is str:
                    return str_op(t, lit_arg)
                if t is None and null_safe:
                    return None
                return _method(t, method, [lit_arg])
            return str_call

        def call(ctx: dict[str, Any]) -> Any:
            t = target(ctx)
            if t is None and null_safe:
                return None
            return _method(t, method, [a(ctx) for a in args])
        return call
    if isinstance(node, Unary):
        operand = compile_node(node.operand)

        def not_(ctx: dict[str, Any]) -> bool:
            v = operand(ctx)
            if not isinstance(v, bool):
                raise PainlessError(f"cannot apply [!] to {_jtype(v)}")
            return not v
        return not_
    if isinstance(node, InstanceOf):
        operand, tname = compile_node(node.operand), node.type_name
        simple = {"String": str, "List": list, "Map": dict}.get(tname)
        if simple is not None:  # the common checks, without the general helper
            return lambda ctx: isinstance(operand(ctx), simple)
        return lambda ctx: _instanceof(operand(ctx), tname)
    if isinstance(node, Binary):
        op = node.op
        if op in ("&&", "||"):
            return _compile_logic(op, _operands(node, op))
        left, right = compile_node(node.left), compile_node(node.right)
        lit = node.right if isinstance(node.right, Lit) else None
        if op in ("==", "!=") and lit is not None and (lit.value is None or isinstance(lit.value, str)):
            # the common shapes `x == null`, `x == 'literal'`: exact and fast
            v = lit.value
            if v is None:
                return (lambda ctx: left(ctx) is None) if op == "==" else (lambda ctx: left(ctx) is not None)
            return (lambda ctx: left(ctx) == v) if op == "==" else (lambda ctx: left(ctx) != v)
        if op == "==":
            return lambda ctx: _equals(left(ctx), right(ctx))
        if op == "!=":
            return lambda ctx: not _equals(left(ctx), right(ctx))
        return lambda ctx: _compare(op, left(ctx), right(ctx))
    raise TypeError(node)


def _operands(node: Node, op: str) -> list[Node]:
    """The operands of a flat chain `a && b && c` (any association), in evaluation order."""
    if isinstance(node, Binary) and node.op == op:
        return [*_operands(node.left, op), *_operands(node.right, op)]
    return [node]


def _compile_logic(op: str, operands: list[Node]) -> Cond:
    """`&&` / `||` over operands as one loop, not nested closures."""
    fns = tuple(compile_node(n) for n in operands)
    stop = op == "||"  # || stops at the first true, && at the first false
    if len(fns) == 2:  # the commonest shape, without the loop
        first, second = fns
        early: bool = stop  # the value that ends the chain early

        def logic2(ctx: dict[str, Any]) -> bool:
            v = first(ctx)
            if v is stop:
                return early
            if v is not (not stop):
                raise PainlessError(f"cannot apply [{op}] to {_jtype(v)}")
            w = second(ctx)
            if w is True:
                return True
            if w is False:
                return False
            raise PainlessError(f"cannot apply [{op}] to {_jtype(w)}")
        return logic2

    def logic(ctx: dict[str, Any]) -> bool:
        for f in fns:
            v = f(ctx)
            if v is stop:
                return bool(v)
            if v is not (not stop):
                raise PainlessError(f"cannot apply [{op}] to {_jtype(v)}")
        return not stop
    return logic


@dataclass(frozen=True)
class DispatchKey:
    """A condition of the shape `ctx.a.b == LIT [&& rest...]` with LIT a string or null:
    `read` reads the path (failing as the condition would), `rest` is the remainder of the
    `&&` chain, evaluated only when the comparison holds (None: nothing remains)."""

    path: tuple[tuple[str, bool], ...]
    literal: str | None
    read: Cond
    rest: Cond | None


def _equality(node: Node) -> tuple[list[tuple[str, bool]], str | None] | None:
    if not (isinstance(node, Binary) and node.op == "==" and isinstance(node.right, Lit)
            and (node.right.value is None or isinstance(node.right.value, str))):
        return None
    chain = _ctx_chain(node.left)
    return (chain, node.right.value) if chain else None


def dispatch_key(node: Node) -> DispatchKey | None:
    """The DispatchKey of a condition, or None. Exact: `A && rest` evaluates rest only when
    A is true, with the same `&&` loop (same errors) as the whole condition."""
    operands = _operands(node, "&&")
    eq = _equality(operands[0])
    if eq is None:
        return None
    chain, literal = eq
    rest = _compile_logic("&&", operands[1:]) if len(operands) > 1 else None
    return DispatchKey(tuple(chain), literal, _compile_chain(chain), rest)


def compile_condition(source: str, where: str = "") -> Cond:
    """Parse and compile; the closure returns the condition's value for a document source.
    The executor requires a boolean (as Elasticsearch does)."""
    return compile_node(parse(source, where))
