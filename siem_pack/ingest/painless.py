"""Stage 1 → 2 helper: the documented subset of Painless that `if` conditions may use.

Parsed once when a pipeline loads (siem_pack.ingest.pipeline) into a small AST, then
compiled into one generated Python function the executor (siem_pack.ingest.executor) calls per document.
Anything outside the subset is a load-time `ContentError` naming what is supported.

Supported (see docs/ingest.md):
  ctx.a.b, ctx.a?.b, ctx['a-b']                     field access (null-safe with ?.; not ?.[, which the engines refuse)
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

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ContentError
from .processors import java_equals

SUPPORTED = (
    "ctx field access (ctx.a.b, null-safe ctx.a?.b, ctx['k']; not ?.[), literals (strings, numbers, true, false, null, "
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
            if null_safe and self.peek()[1] == "[":
                raise _Unsupported("`?.[` (the engines' Painless refuses it: write ctx.a?.b, or ctx.a['k'] "
                                   "after a null check)")
            if text == "[":
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
class _JList(list):  # type: ignore[type-arg]
    """A list literal of the condition: a java.util.ArrayList, whose `equals` compares the
    elements. A map or list read from ctx is not: OpenSearch hands the condition a fresh
    unmodifiable view at every access (ConditionalProcessor.UnmodifiableIngestData/List), whose
    `equals` is identity, so it equals nothing (not even `ctx.a == ctx.a`)."""

    __slots__ = ()


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    return {str: "java.lang.String", bool: "java.lang.Boolean", int: "java.lang.Integer", float: "java.lang.Double",
            list: "java.util.ArrayList", _JList: "java.util.ArrayList", dict: "java.util.HashMap"}.get(type(v), type(v).__name__)


_WIDENS = {"java.lang.Integer": 0, "java.lang.Long": 1, "java.lang.Double": 2}


def _boxed(v: Any) -> str:
    """The Java class a JSON value has in the engine (Integer or Long by size)."""
    if type(v) is int:
        return "java.lang.Integer" if -(2 ** 31) <= v < 2 ** 31 else "java.lang.Long"
    return _jtype(v)


def _jequals(a: Any, b: Any) -> bool:
    """Java's `a.equals(b)` (a not null), values as a condition sees them: type-strict for
    numbers (Integer 1 is not Long 1 nor Double 1.0), element-wise for a list literal (against
    the raw elements), identity (so false) for a map or list of the document."""
    ta = type(a)
    if ta is _JList:
        return isinstance(b, list) and len(a) == len(b) and all(
            y is None if x is None else _jequals(x, y) for x, y in zip(a, b, strict=True))
    if ta is list or ta is dict or type(b) is list or type(b) is dict:
        return False
    return java_equals(a, b)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equals(a: Any, b: Any) -> bool:
    """Painless `==`: numbers by value (with promotion), anything else by `equals`."""
    if a is None or b is None:
        return a is b
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    return _jequals(a, b)


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


_NO_METHOD = object()  # a method handler's answer when the receiver has no such method
MethodImpl = Callable[[Any, str, list[Any]], Any]


def _m_contains(target: Any, method: str, args: list[Any]) -> Any:
    if isinstance(target, str):
        if not isinstance(args[0], str):
            raise PainlessError(f"String.contains() needs a String, got {_jtype(args[0])}")
        return args[0] in target
    if isinstance(target, list):  # ArrayList.indexOf: arg.equals(element)
        arg = args[0]
        return any(x is None for x in target) if arg is None else any(_jequals(arg, x) for x in target)
    return _NO_METHOD


def _m_contains_key(target: Any, method: str, args: list[Any]) -> Any:
    if not isinstance(target, dict):
        return _NO_METHOD
    return type(args[0]) is str and args[0] in target  # keys are strings; a map key's hash is its identity


def _m_starts_ends(target: Any, method: str, args: list[Any]) -> Any:
    if not isinstance(target, str):
        return _NO_METHOD
    if not isinstance(args[0], str):
        raise PainlessError(f"String.{method}() needs a String, got {_jtype(args[0])}")
    return target.startswith(args[0]) if method == "startsWith" else target.endswith(args[0])


def _compare_strings(target: str, other: str) -> int:
    """String.compareTo: the difference of the first unequal UTF-16 code units, else of the lengths."""
    if target == other:
        return 0
    if target.isascii() and other.isascii():  # one UTF-16 code unit per character
        for x, y in zip(target, other):  # noqa: B905 - unequal lengths on purpose
            if x != y:
                return ord(x) - ord(y)
        return len(target) - len(other)
    a, b = target.encode("utf-16-le"), other.encode("utf-16-le")
    for i in range(0, min(len(a), len(b)), 2):
        ca, cb = int.from_bytes(a[i:i + 2], "little"), int.from_bytes(b[i:i + 2], "little")
        if ca != cb:
            return ca - cb
    return (len(a) - len(b)) // 2


def _m_compare_to(target: Any, method: str, args: list[Any]) -> Any:
    other = args[0]
    if isinstance(target, str) and isinstance(other, str):
        return _compare_strings(target, other)
    if other is None:
        raise PainlessError("cannot invoke compareTo() with null")
    if type(target) not in (int, float, bool):
        return _NO_METHOD
    # Integer.compareTo(Integer) ...: the argument is cast to the receiver's class, widening
    # only (Integer → Long → Double); Boolean to Boolean
    tb, ob = _boxed(target), _boxed(other)
    if tb != ob and _WIDENS.get(ob, 9) > _WIDENS.get(tb, -1):
        raise PainlessError(f"cannot implicitly cast def [{ob}] to {tb}")
    return (target > other) - (target < other)


def _m_equals(target: Any, method: str, args: list[Any]) -> Any:
    return _jequals(target, args[0])


def _m_equals_ignore_case(target: Any, method: str, args: list[Any]) -> Any:
    if not isinstance(target, str):
        return _NO_METHOD
    if args[0] is not None and not isinstance(args[0], str):
        raise PainlessError(f"Cannot cast {_boxed(args[0])} to java.lang.String")
    return args[0] is not None and target.lower() == args[0].lower()


def _m_is_empty(target: Any, method: str, args: list[Any]) -> Any:
    return len(target) == 0 if isinstance(target, (str, list, dict)) else _NO_METHOD


def _m_size(target: Any, method: str, args: list[Any]) -> Any:
    return len(target) if isinstance(target, (list, dict)) else _NO_METHOD


def _m_length(target: Any, method: str, args: list[Any]) -> Any:
    if not isinstance(target, str):
        return _NO_METHOD
    # UTF-16 code units, as Java counts
    return len(target) if target.isascii() else len(target.encode("utf-16-le", "surrogatepass")) // 2


def _m_case(target: Any, method: str, args: list[Any]) -> Any:
    if not isinstance(target, str):
        return _NO_METHOD
    return target.lower() if method == "toLowerCase" else target.upper()


def _m_trim(target: Any, method: str, args: list[Any]) -> Any:
    return target.strip("".join(chr(c) for c in range(33))) if isinstance(target, str) else _NO_METHOD


# The registry: a method name in a script (METHODS: its arity) → its implementation on the
# receiver's Java type.
METHOD_IMPLS: dict[str, MethodImpl] = {
    "contains": _m_contains,
    "containsKey": _m_contains_key,
    "startsWith": _m_starts_ends,
    "endsWith": _m_starts_ends,
    "compareTo": _m_compare_to,
    "equals": _m_equals,
    "equalsIgnoreCase": _m_equals_ignore_case,
    "isEmpty": _m_is_empty,
    "size": _m_size,
    "length": _m_length,
    "toLowerCase": _m_case,
    "toUpperCase": _m_case,
    "trim": _m_trim,
}


def _method(target: Any, method: str, args: list[Any]) -> Any:
    if target is None:
        raise PainlessError(f"cannot invoke {method}() on null")
    impl = METHOD_IMPLS.get(method)
    out = impl(target, method, args) if impl is not None else _NO_METHOD
    if out is _NO_METHOD:
        raise PainlessError(f"dynamic method [{_jtype(target)}, {method}/{len(args)}] not found")
    return out


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


def _bad_bool(op: str, v: Any) -> bool:
    raise PainlessError(f"cannot apply [{op}] to {_jtype(v)}")


def _str_call(t: Any, method: str, lit: str, null_safe: bool) -> Any:
    """`x.contains('lit')` (startsWith, endsWith) when x is not a String."""
    if t is None and null_safe:
        return None
    return _method(t, method, [lit])


def _const_strings(node: Node) -> frozenset[str] | None:
    if isinstance(node, ListLit) and all(isinstance(i, Lit) and isinstance(i.value, str) for i in node.items):
        return frozenset(i.value for i in node.items if isinstance(i, Lit))
    return None


def _operands(node: Node, op: str) -> list[Node]:
    """The operands of a flat chain `a && b && c` (any association), in evaluation order."""
    if isinstance(node, Binary) and node.op == op:
        return [*_operands(node.left, op), *_operands(node.right, op)]
    return [node]


class Emitter:
    """Python source for a condition's AST: one expression with the exact semantics of the
    Painless subset (the helpers above raise the engine's errors), so a condition costs one
    call and no nested closures. Constants the source cannot spell are named `_k<n>`; `_t`,
    `_b`, `_v`, `_m` are temporaries (each is read right after it is assigned, before any
    other assignment to it can happen, so nesting is safe)."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {
            "_field": _field, "_method": _method, "_equals": _equals, "_compare": _compare, "_JList": _JList,
            "_instanceof": _instanceof, "_bad_bool": _bad_bool, "_str_call": _str_call,
        }

    def const(self, value: Any) -> str:
        if value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
            return repr(value)  # (repr of inf and nan is no Python expression: those are named below)
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def chain(self, chain: list[tuple[str, bool]]) -> str:
        src = f"ctx.get({chain[0][0]!r})"
        for k, safe in chain[1:]:
            step = f"(_t.get({k!r}) if type(_t) is dict else _field(_t, {k!r}))"
            src = f"(None if (_t := {src}) is None else {step})" if safe else \
                f"(_t.get({k!r}) if type(_t := {src}) is dict else _field(_t, {k!r}))"
        return src

    def logic(self, op: str, operands: list[Node]) -> str:
        parts = [f"(_b if ((_b := {self.expr(n)}) is True or _b is False) else _bad_bool({op!r}, _b))"
                 for n in operands]
        return "(" + (" and " if op == "&&" else " or ").join(parts) + ")"

    def expr(self, node: Node) -> str:
        emit = _EMITTERS.get(type(node))
        if emit is None:
            raise TypeError(node)
        return emit(self, node)

    def _emit_lit(self, node: Lit) -> str:
        return self.const(node.value)

    def _emit_list(self, node: ListLit) -> str:
        return "_JList([" + ", ".join(self.expr(n) for n in node.items) + "])"

    def _emit_ctx(self, node: Ctx) -> str:
        return "ctx"

    def _emit_field(self, node: Field) -> str:
        chain = _ctx_chain(node)
        if chain is not None:
            return self.chain(chain)
        target = self.expr(node.target)
        if node.null_safe:
            return f"(None if (_t := {target}) is None else _field(_t, {node.name!r}))"
        return f"_field({target}, {node.name!r})"

    def _emit_call(self, node: Call) -> str:
        consts = _const_strings(node.target)
        if consts is not None and node.method == "contains":
            return f"(type(_v := {self.expr(node.args[0])}) is str and _v in {self.const(consts)})"
        target, method = self.expr(node.target), node.method
        if (method in ("contains", "startsWith", "endsWith") and len(node.args) == 1
                and isinstance(node.args[0], Lit) and isinstance(node.args[0].value, str)):
            # `x.contains('lit')` on a String: the common shape, without the generic call
            word = repr(node.args[0].value)
            fast = {"contains": f"{word} in _m", "startsWith": f"_m.startswith({word})",
                    "endsWith": f"_m.endswith({word})"}[method]
            return f"(({fast}) if type(_m := {target}) is str else _str_call(_m, {method!r}, {word}, {node.null_safe}))"
        args = ", ".join(self.expr(a) for a in node.args)
        if node.null_safe:
            return f"(None if (_m := {target}) is None else _method(_m, {method!r}, [{args}]))"
        return f"_method({target}, {method!r}, [{args}])"

    def _emit_unary(self, node: Unary) -> str:
        return (f"(False if (_b := {self.expr(node.operand)}) is True else "
                f"(True if _b is False else _bad_bool('!', _b)))")

    def _emit_instanceof(self, node: InstanceOf) -> str:
        simple = {"String": "str", "List": "list", "Map": "dict"}.get(node.type_name)
        if simple is not None:
            return f"isinstance({self.expr(node.operand)}, {simple})"
        return f"_instanceof({self.expr(node.operand)}, {node.type_name!r})"

    def _emit_binary(self, node: Binary) -> str:
        op = node.op
        if op in ("&&", "||"):
            return self.logic(op, _operands(node, op))
        left, right = self.expr(node.left), self.expr(node.right)
        lit = node.right if isinstance(node.right, Lit) else None
        if op in ("==", "!=") and lit is not None and (lit.value is None or isinstance(lit.value, str)):
            # the common shapes `x == null`, `x == 'literal'`: exact and fast
            if lit.value is None:
                return f"({left} is None)" if op == "==" else f"({left} is not None)"
            return f"({left} {op} {right})"
        if op == "==":
            return f"_equals({left}, {right})"
        if op == "!=":
            return f"(not _equals({left}, {right}))"
        return f"_compare({op!r}, {left}, {right})"

    def function(self, source: str, name: str = "cond") -> Cond:
        code = f"def {name}(ctx):\n    return {source}\n"
        exec(compile(code, f"<painless {name}>", "exec"), self.names)  # noqa: S102 - our own generated source
        fn: Cond = self.names[name]
        return fn


# The registry: an AST node's class → the Emitter method that writes its Python source.
_EMITTERS: dict[type[Node], Callable[[Emitter, Any], str]] = {
    Lit: Emitter._emit_lit, ListLit: Emitter._emit_list, Ctx: Emitter._emit_ctx, Field: Emitter._emit_field,
    Call: Emitter._emit_call, Unary: Emitter._emit_unary, InstanceOf: Emitter._emit_instanceof,
    Binary: Emitter._emit_binary,
}


@dataclass(frozen=True)
class DispatchKey:
    """A condition of the shape `ctx.a.b == LIT [&& rest...]` with LIT a string or null:
    `read` reads the path (failing as the condition would), `rest` is the remainder of the
    `&&` chain, evaluated only when the comparison holds (None: nothing remains)."""

    path: tuple[tuple[str, bool], ...]
    literal: str | None
    read: Cond
    rest: Node | None


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
    em = Emitter()
    rest: Node | None = None
    if len(operands) > 1:  # the remaining `&&` chain, evaluated (and failing) as the whole one would be:
        rest = Lit(True)   # led by `true &&` so that one operand too is checked as an `&&` operand
        for operand in operands[1:]:
            rest = Binary("&&", rest, operand)
    return DispatchKey(tuple(chain), literal, em.function(em.chain(chain), "read"), rest)


def compile_condition(source: str, where: str = "") -> Cond:
    """Parse and compile one condition alone (the executor inlines conditions into its
    generated code instead); the function returns the condition's value for a document
    source. The executor requires a boolean (as Elasticsearch does)."""
    em = Emitter()
    return em.function(em.expr(parse(source, where)))
