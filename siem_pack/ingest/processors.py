"""Stage 1 → 2: the ingest processors the offline executor runs, with Elasticsearch's
(and OpenSearch's, our reference engine's) semantics, messages included.

`PROCESSORS` is the registry: processor name → factory. A factory takes the processor's
options (a `Conf`, from which it pops what it knows) and a `Build` context, validates them at
load time, and returns a closure `run(doc)` that mutates an `IngestDoc`. Only processors both
Elasticsearch and OpenSearch share are here. The `geoip` processor is registered by
siem_pack.ingest.geoip (see `register`), imported lazily by siem_pack.ingest.pipeline.

Neighbours: siem_pack.ingest.pipeline (loads and validates files), siem_pack.ingest.executor
(calls each closure from generated code that applies `if`, `ignore_failure`, `on_failure`,
and runs pipelines),
siem_pack.ingest.painless (conditions).
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ContentError

Run = Callable[["IngestDoc"], None]
_MISSING = object()


class ProcessorFailure(Exception):
    """A processor failed on a document. `processor_type`/`tag`/`pipeline` name the innermost
    failing processor (as Elasticsearch reports it in `_ingest.on_failure_*`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.processor_type: str | None = None
        self.tag: str | None = None
        self.pipeline: str | None = None


class Dropped(Exception):  # noqa: N818 - a signal, not an error
    """The `drop` processor ran: the document is discarded on purpose. `reason` is the drop
    processor's description or tag (the pipeline's reason, reported in the ingest summary)."""

    def __init__(self) -> None:
        super().__init__("dropped")
        self.reason: str | None = None


class IngestDoc:
    """A document in flight: its `_source` and its `_ingest` metadata."""

    __slots__ = ("src", "ingest", "stack")

    def __init__(self, src: dict[str, Any], timestamp: str) -> None:
        self.src = src
        self.ingest: dict[str, Any] = {"timestamp": timestamp}
        self.stack: list[str] = []  # pipelines being run, for cycle detection


# ---- Java-flavoured value rendering ---------------------------------------------------
def java_double(x: float) -> str:
    """`Double.toString(x)` (JDK 19+: shortest repr)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    a = abs(x)
    r = repr(x)
    if len(Decimal(r).normalize().as_tuple().digits) == 1:
        # one digit is the shortest: Java picks, among the decimals of 1 or 2 digits that round
        # to x, the one closest to x (4.9E-324 for Double.MIN_VALUE, not 5.0E-324)
        two = Context(prec=2, rounding=ROUND_HALF_EVEN).plus(Decimal(x))
        if float(two) == x:
            r = str(two.normalize())
    if 1e-3 <= a < 1e7:
        if "e" in r or "E" in r:
            r = format(Decimal(r), "f")
        return r if "." in r else r + ".0"
    mant, exp = format(Decimal(r).normalize(), "E").split("E")
    if "." not in mant:
        mant += ".0"
    return f"{mant}E{int(exp)}"


def java_str(v: Any) -> str:
    """`Object.toString()` of a JSON value as Java holds it."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return java_double(v)
    if isinstance(v, list):
        return "[" + ", ".join(java_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={java_str(x)}" for k, x in v.items()) + "}"
    return str(v)


def java_type(v: Any) -> str:
    return {str: "java.lang.String", bool: "java.lang.Boolean", float: "java.lang.Double",
            list: "java.util.ArrayList", dict: "java.util.HashMap"}.get(
        type(v), ("java.lang.Integer" if -(2 ** 31) <= v < 2 ** 31 else "java.lang.Long") if isinstance(v, int) else
        type(v).__name__)


# ---- field paths (IngestDocument semantics) ---------------------------------------------
@lru_cache(maxsize=8192)
def _split(path: str) -> tuple[bool, tuple[str, ...]]:
    """(is_ingest_metadata, keys); cached, as paths are few and used per document."""
    if path.startswith("_ingest."):
        return True, tuple(path[8:].split("."))
    if path.startswith("_source."):
        path = path[8:]
    return False, tuple(path.split("."))


def _resolve(node: Any, key: str, path: str) -> Any:
    if isinstance(node, dict):
        if key not in node:
            raise ProcessorFailure(f"field [{key}] not present as part of path [{path}]")
        return node[key]
    if isinstance(node, list):
        try:
            i = int(key)
        except ValueError:
            raise ProcessorFailure(f"[{key}] is not an integer, cannot be used as an index as part of path [{path}]") from None
        if i < 0 or i >= len(node):
            raise ProcessorFailure(f"[{i}] is out of bounds for array with length [{len(node)}] as part of path [{path}]")
        return node[i]
    if node is None:
        raise ProcessorFailure(f"cannot resolve [{key}] from null as part of path [{path}]")
    raise ProcessorFailure(f"cannot resolve [{key}] from object of type [{java_type(node)}] as part of path [{path}]")


def get_field(doc: IngestDoc, path: str) -> Any:
    meta, keys = _split(path)
    node: Any = doc.ingest if meta else doc.src
    for key in keys:
        if type(node) is dict and key in node:  # the common case, without a call
            node = node[key]
        else:
            node = _resolve(node, key, path)
    return node


def peek_field(doc: IngestDoc, path: str) -> Any:
    """The field's value, or `MISSING` when a map on the way lacks a key; without raising
    (an absent field is common, an exception is not cheap). Anything but maps on the way
    takes the general path (get_field), which may raise."""
    meta, keys = _split(path)
    node: Any = doc.ingest if meta else doc.src
    for key in keys:
        if type(node) is not dict:
            return get_field(doc, path)
        node = node.get(key, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def has_field(doc: IngestDoc, path: str) -> bool:
    try:
        return peek_field(doc, path) is not _MISSING
    except ProcessorFailure:
        return False


def _parent(doc: IngestDoc, path: str) -> tuple[Any, str]:
    meta, keys = _split(path)
    node: Any = doc.ingest if meta else doc.src
    for key in keys[:-1]:  # as IngestDocument.setFieldValue walks (a null leaf parent is the caller's)
        if node is None:
            raise ProcessorFailure(f"cannot resolve [{key}] from null as part of path [{path}]")
        if isinstance(node, dict):
            if key in node:
                node = node[key]
            else:
                node[key] = {}
                node = node[key]
        elif isinstance(node, list):
            node = node[_list_index(node, key, path)]
        else:
            raise ProcessorFailure(f"cannot resolve [{key}] from object of type [{java_type(node)}] as part of path [{path}]")
    return node, keys[-1]


def _list_index(node: list[Any], key: str, path: str) -> int:
    """A path key used as an index of a list on the way of a write (set, append)."""
    try:
        i = int(key)
    except ValueError:
        raise ProcessorFailure(f'For input string: "{key}"') from None
    if i < 0 or i >= len(node):
        raise ProcessorFailure(f"[{i}] is out of bounds for array with length [{len(node)}] as part of path [{path}]")
    return i


def set_field(doc: IngestDoc, path: str, value: Any) -> None:
    meta, keys = _split(path)
    node: Any = doc.ingest if meta else doc.src
    for key in keys[:-1]:  # the common case (maps all along, created when absent), no call
        nxt = node.get(key)
        if type(nxt) is dict:
            node = nxt
        elif nxt is None and key not in node:
            node[key] = node = {}
        else:
            break  # a null, a list or a scalar on the way: the general path below
    else:
        node[keys[-1]] = value
        return
    node, leaf = _parent(doc, path)
    if isinstance(node, dict):
        node[leaf] = value
    elif isinstance(node, list):
        node[_list_index(node, leaf, path)] = value
    elif node is None:
        raise ProcessorFailure(f"cannot set [{leaf}] with null parent as part of path [{path}]")
    else:
        raise ProcessorFailure(f"cannot set [{leaf}] with parent object of type [{java_type(node)}] as part of path [{path}]")


def java_equals(a: Any, b: Any) -> bool:
    """`a.equals(b)` of the engine's values: Integer, Long, Double and Boolean never equal one
    another (1, 1.0 and true are three values), lists and maps by content."""
    if a is None or b is None:
        return a is b
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is int:
        return bool(a == b)  # equal values have the same box (Integer or Long by size)
    if ta is float:  # Double.equals compares the bits: NaN equals NaN, 0.0 is not -0.0
        return repr(a) == repr(b) if a == 0 or a != a else a == b
    if ta is list:
        return len(a) == len(b) and all(java_equals(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict:
        return a.keys() == b.keys() and all(java_equals(v, b[k]) for k, v in a.items())
    return bool(a == b)


def append_field(doc: IngestDoc, path: str, value: Any, allow_duplicates: bool = True) -> None:
    node, leaf = _parent(doc, path)
    if isinstance(node, list):  # an element of a list: appended to as a field would be
        i = _list_index(node, leaf, path)
        node[i] = _appended(node[i], value, allow_duplicates)
        return
    if not isinstance(node, dict):
        set_field(doc, path, value)  # raises the right message for scalars
        return
    if leaf in node:
        node[leaf] = _appended(node[leaf], value, allow_duplicates)
    else:
        node[leaf] = list(value) if isinstance(value, list) else [value]


def _appended(cur: Any, value: Any, allow_duplicates: bool) -> list[Any]:
    lst = cur if isinstance(cur, list) else [cur]
    for v in value if isinstance(value, list) else [value]:
        if allow_duplicates or not any(java_equals(v, x) for x in lst):
            lst.append(v)
    return lst


def remove_field(doc: IngestDoc, path: str) -> None:
    meta, keys = _split(path)
    node: Any = doc.ingest if meta else doc.src
    for key in keys[:-1]:
        node = _resolve(node, key, path)
    leaf = keys[-1]
    if isinstance(node, dict):
        if leaf not in node:
            raise ProcessorFailure(f"field [{leaf}] not present as part of path [{path}]")
        del node[leaf]
    elif isinstance(node, list):
        _resolve(node, leaf, path)
        del node[int(leaf)]
    elif node is None:
        raise ProcessorFailure(f"cannot remove [{leaf}] from null as part of path [{path}]")
    else:
        raise ProcessorFailure(f"cannot remove [{leaf}] from object of type [{java_type(node)}] as part of path [{path}]")


def value_for(doc: IngestDoc, field: str, ignore_missing: bool) -> Any:
    """The field's value; `_MISSING` when absent (or null) and ignore_missing is set."""
    try:
        v = peek_field(doc, field)
        if v is _MISSING:
            if ignore_missing:
                return _MISSING
            v = get_field(doc, field)  # raises the engine's message
    except ProcessorFailure:
        if ignore_missing:
            return _MISSING
        raise
    if v is None and ignore_missing:
        return _MISSING
    return v


def string_value(doc: IngestDoc, field: str, ignore_missing: bool, action: str = "process it") -> str | None:
    """The field's string value for processors that need one; None when the processor is to
    be skipped (missing or null with ignore_missing). Null and non-strings fail with the
    engines' messages (`field [f] is null, cannot <action>.`)."""
    v = value_for(doc, field, ignore_missing)
    if v is _MISSING:
        return None
    if v is None:
        raise ProcessorFailure(f"field [{field}] is null, cannot {action}.")
    if not isinstance(v, str):
        raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.lang.String]")
    return v


# ---- mustache templates (Elasticsearch ingest: JSON-escaped {{x}}, raw {{{x}}}) --------
_MUSTACHE = re.compile(r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{\s*([^{}]*?)\s*\}\}")
_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_CTRL = re.compile(r'["\\\x00-\x1f]')


def _json_escape(s: str) -> str:
    return _CTRL.sub(lambda m: _JSON_ESC.get(m.group(0), f"\\u{ord(m.group(0)):04x}"), s)


def _mustache_str(v: Any) -> str:
    if isinstance(v, list):  # mustache.java renders an iterable as its index map
        return "{" + ", ".join(f"{i}={java_str(x)}" for i, x in enumerate(v)) + "}"
    return java_str(v)


def _lookup(doc: IngestDoc, name: str) -> Any:
    if name == ".":
        return None
    keys = name.split(".")
    node: Any = doc.ingest if keys[0] == "_ingest" else doc.src
    for key in keys[1:] if keys[0] == "_ingest" else keys:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit():
            if int(key) >= len(node):
                raise ProcessorFailure(key)  # mustache.java's IndexOutOfBoundsException message
            node = node[int(key)]
        else:
            return None
    return node


Template = Callable[[IngestDoc], str]


def compile_template(text: str, where: str = "") -> Template:
    """A string with `{{a.b}}` (JSON-escaped) or `{{{a.b}}}` (raw) variables → renderer.
    Sections, partials and comments are a load-time error."""
    if "{{" not in text:
        return lambda doc: text
    parts: list[tuple[bool, str]] = []  # (is_var_escaped/raw, text or name)
    pos = 0
    kinds: list[int] = []  # 0 literal, 1 escaped, 2 raw
    for m in _MUSTACHE.finditer(text):
        if m.start() > pos:
            parts.append((False, text[pos:m.start()]))
            kinds.append(0)
        name = m.group(1) if m.group(1) is not None else m.group(2)
        if not name or name[0] in "#^/>!&=":
            raise ContentError(f"unsupported mustache tag {m.group(0)!r} in {text!r}: only {{{{field}}}} and "
                               "{{{field}}} variables", where=where)
        parts.append((True, name))
        kinds.append(2 if m.group(1) is not None else 1)
        pos = m.end()
    if pos < len(text):
        parts.append((False, text[pos:]))
        kinds.append(0)
    if "{{" in "".join(p for (v, p) in parts if not v):
        raise ContentError(f"malformed mustache template {text!r}", where=where)
    plan = [(k, p) for k, (_, p) in zip(kinds, parts, strict=True)]
    if len(plan) == 1 and plan[0][0] != 0:  # `{{{a.b}}}` or `{{a.b}}` alone: the commonest template
        kind, name = plan[0]

        def render_one(doc: IngestDoc) -> str:
            v = _lookup(doc, name)
            if v is None:
                return ""
            s = v if type(v) is str else _mustache_str(v)
            return _json_escape(s) if kind == 1 else s
        return render_one

    def render(doc: IngestDoc) -> str:
        out = []
        for kind, p in plan:
            if kind == 0:
                out.append(p)
                continue
            v = _lookup(doc, p)
            if v is None:
                continue
            s = _mustache_str(v)
            out.append(_json_escape(s) if kind == 1 else s)
        return "".join(out)
    return render


def compile_value(value: Any, where: str) -> Callable[[IngestDoc], Any]:
    """A `value` option: strings are templates; lists and maps are rendered element-wise."""
    if isinstance(value, str):
        return compile_template(value, where)
    if isinstance(value, list):
        items = [compile_value(v, where) for v in value]
        return lambda doc: [f(doc) for f in items]
    if isinstance(value, dict):
        kv = [(k, compile_value(v, where)) for k, v in value.items()]
        return lambda doc: {k: f(doc) for k, f in kv}
    return lambda doc: value


# ---- options --------------------------------------------------------------------------
class Conf:
    """A processor's options; factories pop what they know, `done()` rejects the rest."""

    def __init__(self, ptype: builtins.str, body: dict[builtins.str, Any], where: builtins.str) -> None:
        self.ptype, self.body, self.where = ptype, dict(body), where
        self.known: list[str] = []

    def _take(self, key: builtins.str, default: Any, required: builtins.bool) -> Any:
        self.known.append(key)
        if self.body.get(key) is None:  # an explicit null is missing too, as the engines read options
            if required:
                raise ContentError(f"[{key}] required property is missing", where=self.where)
            self.body.pop(key, None)
            return default
        return self.body.pop(key)

    def str(self, key: builtins.str, default: builtins.str | None = None, required: builtins.bool = False) -> Any:
        v = self._take(key, default, required and default is None)
        if v is not None and not isinstance(v, str):
            raise ContentError(f"[{key}] property isn't a string, but of type [{java_type(v)}]", where=self.where)
        return v

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        v = self._take(key, default, False)
        if isinstance(v, str) and v in ("true", "false"):
            return v == "true"
        if not isinstance(v, bool):
            raise ContentError(f"[{key}] property isn't a boolean", where=self.where)
        return v

    def any(self, key: builtins.str, default: Any = None, required: builtins.bool = False) -> Any:
        return self._take(key, default, required)

    def str_list(self, key: builtins.str, required: builtins.bool = False, default: list[builtins.str] | None = None) -> list[builtins.str]:
        v = self._take(key, default, required)
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ContentError(f"[{key}] property isn't a list of strings", where=self.where)
        return list(v)

    def error(self, msg: builtins.str) -> ContentError:
        return ContentError(msg, where=self.where)

    def done(self) -> None:
        if self.body:
            raise ContentError(
                f"processor [{self.ptype}] doesn't support one or more provided configuration parameters "
                f"[{', '.join(sorted(self.body))}]; supported here (options both Elasticsearch and OpenSearch "
                f"share): {', '.join(sorted(self.known))}", where=self.where)


@dataclass
class Build:
    """Load-time context handed to factories."""

    where: str
    compile_processors: Callable[[list[Any], str], Run]  # nested processors (foreach)
    run_pipeline: Callable[[str, IngestDoc], None]  # the `pipeline` processor
    pipeline_exists: Callable[[str], bool]
    geoip_db: Any = None  # the folder of MaxMind databases for `geoip` (None: SIEM_PACK_GEOIP_DB)


Factory = Callable[[Conf, Build], Run]
PROCESSORS: dict[str, Factory] = {}


def processor(name: str) -> Callable[[Factory], Factory]:
    def deco(fn: Factory) -> Factory:
        PROCESSORS[name] = fn
        return fn
    return deco


def register(name: str, factory: Factory) -> None:
    """For processors defined elsewhere (siem_pack.ingest.geoip registers `geoip`)."""
    PROCESSORS[name] = factory


def _field_template(c: Conf, key: str = "field", required: bool = True) -> Callable[[IngestDoc], str]:
    f = c.str(key, required=required)
    return compile_template(f, c.where) if f is not None else (lambda doc: "")


# ---- the processors ---------------------------------------------------------------------
class SetPath:
    """A `set` of a fixed document path (override on, no ignore_empty_value): callable like any
    processor's run, and described (`keys`, `value`, `const`: a 1-tuple holding a constant
    value, else None) so the executor's generated code writes the path inline, calling this
    only for what the inline walk does not cover (a list or a scalar on the way)."""

    __slots__ = ("path", "keys", "value", "const")

    def __init__(self, path: str, keys: tuple[str, ...], value: Callable[[IngestDoc], Any],
                 const: tuple[Any] | None) -> None:
        self.path, self.keys, self.value, self.const = path, keys, value, const

    def __call__(self, doc: IngestDoc) -> None:
        set_field(doc, self.path, self.value(doc))


@processor("set")
def _set(c: Conf, b: Build) -> Run:
    const_field = c.body.get("field")
    field = _field_template(c)
    raw = c.any("value", required=True)
    value = compile_value(raw, c.where)
    override = c.bool("override", True)
    # as in OpenSearch, only a templated value can be "empty"
    ignore_empty = c.bool("ignore_empty_value", False) and isinstance(raw, str) and "{{" in raw
    c.done()

    if isinstance(const_field, str) and "{{" not in const_field and override and not ignore_empty:
        # the common `set` of a fixed field: no template call for the field name
        meta, keys = _split(const_field)
        if not meta and all(keys):  # a path of the document: the executor writes it inline
            const = isinstance(raw, (int, float, bool)) or (isinstance(raw, str) and "{{" not in raw)
            return SetPath(const_field, keys, value, (raw,) if const else None)

        def run_const(doc: IngestDoc) -> None:
            set_field(doc, const_field, value(doc))
        return run_const

    def run(doc: IngestDoc) -> None:
        path = field(doc)
        v = value(doc)
        if ignore_empty and (v is None or v == ""):
            return
        if not override:
            try:
                cur = peek_field(doc, path)
            except ProcessorFailure:
                cur = None
            if cur is not None and cur is not _MISSING:
                return
        set_field(doc, path, v)
    return run


@processor("rename")
def _rename(c: Conf, b: Build) -> Run:
    field, target = _field_template(c), _field_template(c, "target_field")
    ignore_missing = c.bool("ignore_missing")
    c.done()

    def run(doc: IngestDoc) -> None:
        path = field(doc)
        if not has_field(doc, path):
            if ignore_missing:
                return
            raise ProcessorFailure(f"field [{path}] doesn't exist")
        tpath = target(doc)
        if has_field(doc, tpath):
            raise ProcessorFailure(f"field [{tpath}] already exists")
        v = get_field(doc, path)
        remove_field(doc, path)
        try:
            set_field(doc, tpath, v)
        except ProcessorFailure:
            set_field(doc, path, v)  # restore, as Elasticsearch does
            raise
    return run


@processor("remove")
def _remove(c: Conf, b: Build) -> Run:
    raw = c.any("field", required=True)
    fields = [compile_template(f, c.where) for f in (raw if isinstance(raw, list) else [raw])]
    ignore_missing = c.bool("ignore_missing")
    c.done()

    def run(doc: IngestDoc) -> None:
        for f in fields:
            path = f(doc)
            if not has_field(doc, path):
                if ignore_missing:
                    continue
                raise ProcessorFailure(f"field [{path}] doesn't exist")
            remove_field(doc, path)
    return run


@processor("append")
def _append(c: Conf, b: Build) -> Run:
    field = _field_template(c)
    value = compile_value(c.any("value", required=True), c.where)
    allow_dups = c.bool("allow_duplicates", True)
    c.done()
    return lambda doc: append_field(doc, field(doc), value(doc), allow_dups)


# -- convert
_JAVA_FLOAT = re.compile(r"^[\x00-\x20]*[+-]?(NaN|Infinity|((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[fFdD]?)[\x00-\x20]*$")
_JAVA_INT = re.compile(r"^[+-]?\d+$")


def _parse_int(s: str, bits: int) -> int:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
    t = s
    if t.startswith(("0x", "-0x", "0X", "-0X", "#", "-#")):  # Integer.decode / Long.decode
        neg = t.startswith("-")
        body = t.lstrip("-").lstrip("0xX#") if not t.lstrip("-").startswith("#") else t.lstrip("-")[1:]
        body = t.lstrip("-")[2:] if t.lstrip("-")[:2].lower() == "0x" else body
        try:
            v = int(body, 16) * (-1 if neg else 1)
        except ValueError:
            raise ProcessorFailure(f'For input string: "{body}"') from None
    elif _JAVA_INT.match(t):
        v = int(t)
    else:
        raise ProcessorFailure(f'For input string: "{s}"' + ("" if bits == 32 else ""))
    if not lo <= v < hi:
        raise ProcessorFailure(f'For input string: "{s}"')
    return v


def _parse_double(s: str) -> float:
    m = _JAVA_FLOAT.match(s)
    if not m:
        raise ProcessorFailure("empty String" if s.strip() == "" else f'For input string: "{s}"')
    core = s.strip("".join(chr(i) for i in range(33))).rstrip("fFdD")
    return float(core.replace("Infinity", "inf"))


def _finite(x: float) -> Any:
    """Non-finite doubles reach the document as Jackson writes them: "NaN", "Infinity"."""
    if x != x or x in (float("inf"), float("-inf")):
        return java_double(x)
    return x


def _float32(x: float) -> Any:
    import numpy as np

    with np.errstate(over="ignore"):
        return _finite(float(str(np.float32(x)).replace("inf", "Infinity").replace("nan", "NaN")
                             .replace("Infinity", "inf").replace("NaN", "nan")))


def _to_bool(s: str) -> bool:
    if s.lower() == "true":
        return True
    if s.lower() == "false":
        return False
    raise ProcessorFailure(f"[{s}] is not a boolean value, cannot convert to boolean")


def _convert_one(v: Any, ctype: str) -> Any:
    if ctype == "string":
        return java_str(v)
    if ctype == "auto":
        if not isinstance(v, str):
            return v
        for fn in (lambda s: _parse_int(s, 64), lambda s: _float32(_parse_double(s)), _to_bool):
            try:
                return fn(v)
            except ProcessorFailure:
                continue
        return v
    s = java_str(v)
    if ctype == "integer":
        return _parse_int(s, 32)
    if ctype == "long":
        return _parse_int(s, 64)
    if ctype == "float":
        return _float32(_parse_double(s))
    if ctype == "double":
        return _finite(_parse_double(s))
    if ctype == "boolean":
        return _to_bool(s)
    if ctype == "ip":
        try:
            ipaddress.ip_address(s)
        except ValueError:
            raise ProcessorFailure(f"[{s}] is not a valid ipv4/ipv6 address") from None
        return s
    raise AssertionError(ctype)


@processor("convert")
def _convert(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field") or field
    ctype = c.str("type", required=True)
    types = ("integer", "long", "float", "double", "string", "boolean", "ip", "auto")
    if ctype not in types:
        raise c.error(f"[type] type [{ctype}] not supported, cannot convert field; known: {', '.join(types)}")
    ignore_missing = c.bool("ignore_missing")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = value_for(doc, field, ignore_missing)
        if v is _MISSING:
            return
        if v is None:
            raise ProcessorFailure(f"Field [{field}] is null, cannot be converted to type [{ctype}]")
        out = [_convert_one(x, ctype) for x in v] if isinstance(v, list) else _convert_one(v, ctype)
        set_field(doc, target, out)
    return run


# -- date
def _tz(name: str) -> tzinfo:
    if name in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProcessorFailure(f"Unknown time-zone ID: {name}") from None


def _offset(text: str) -> tzinfo:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    h, mnt = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=h, minutes=mnt))


_ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                  r"(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?")
DateParser = Callable[[str, tzinfo], datetime]


def _mk(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, tz: tzinfo, text: str) -> datetime:
    if not 0 <= h <= 23:
        raise ProcessorFailure(f"Invalid value for HourOfDay (valid values 0 - 23): {h}")
    if not 0 <= mi <= 59:
        raise ProcessorFailure(f"Invalid value for MinuteOfHour (valid values 0 - 59): {mi}")
    if not 0 <= s <= 59:
        raise ProcessorFailure(f"Invalid value for SecondOfMinute (valid values 0 - 59): {s}")
    if not 1 <= mo <= 12:
        raise ProcessorFailure(f"Invalid value for MonthOfYear (valid values 1 - 12): {mo}")
    us = int((frac or "0")[:3].ljust(3, "0")) * 1000  # Elasticsearch keeps milliseconds
    try:
        return datetime(y, mo, d, h, mi, s, us, tzinfo=tz)
    except ValueError:
        raise ProcessorFailure(f"Text '{text}' could not be parsed: Invalid date") from None


def _iso8601(text: str, tz: tzinfo) -> datetime:
    m = _ISO.fullmatch(text)
    if not m:
        raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
    y, mo, d, h, mi, s, frac, off = m.groups()
    return _mk(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0), frac,
               _offset(off) if off else tz, text)


def _unix(text: str, tz: tzinfo) -> datetime:
    ms = int(_parse_double(text) * 1000)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _unix_ms(text: str, tz: tzinfo) -> datetime:
    if not _JAVA_INT.match(text):
        raise ProcessorFailure(f'For input string: "{text}"')
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_PAT_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|.", re.S)


def _java_pattern(pattern: str, where: str) -> DateParser:
    """A java.time pattern (yyyy MM MMM dd HH hh mm ss SSS a EEE XXX Z VV 'lit') → parser."""
    rx: list[str] = []
    groups: list[str] = []
    for m in _PAT_TOKEN.finditer(pattern):
        tok = m.group(0)
        ch, n = tok[0], len(tok)
        if tok.startswith("'"):
            rx.append(re.escape(tok[1:-1]) if n > 2 else "'")
            continue
        if not ch.isalpha():
            rx.append(re.escape(tok))
            continue
        if ch in "yu":
            rx.append(r"(\d{2})" if n == 2 else r"([+-]?\d{4,9})" if n >= 4 else r"(\d{1,9})")
            groups.append("yy" if n == 2 else "y")
        elif ch in "ML":
            if n >= 3:
                rx.append(r"([A-Za-z]{3,9})" if n > 3 else r"([A-Za-z]{3})")
                groups.append("Mtext")
            else:
                rx.append(r"(\d{2})" if n == 2 else r"(\d{1,2})")
                groups.append("M")
        elif ch in "dHhms":
            rx.append(r"(\d{2})" if n == 2 else r"(\d{1,2})")
            groups.append(ch)
        elif ch == "S":
            rx.append(rf"(\d{{{n}}})")
            groups.append("S")
        elif ch == "a":
            rx.append(r"(AM|PM|am|pm)")
            groups.append("a")
        elif ch == "E":
            rx.append(r"([A-Za-z]{3,9})")
            groups.append("E")
        elif ch in "XZx":
            if ch == "X":
                rx.append(r"(Z|[+-]\d{2}(?::?\d{2})?)")
            else:
                rx.append(r"([+-]\d{2}:?\d{2}|Z)")
            groups.append("off")
        elif ch == "V" and n == 2:
            rx.append(r"([A-Za-z_]+(?:/[A-Za-z_]+)*|[+-]\d{2}:\d{2}|Z|UTC)")
            groups.append("zone")
        else:
            raise ContentError(f"date format {pattern!r}: pattern letter {tok!r} is not supported by the offline "
                               "executor; supported: y u M L d H h m s S a E X x Z VV and 'quoted text'", where=where)
    regex = re.compile("".join(rx))

    def parse(text: str, tz: tzinfo) -> datetime:
        m = regex.fullmatch(text)
        if not m:
            raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
        vals: dict[str, Any] = {}
        for g, v in zip(groups, m.groups(), strict=True):
            vals[g] = v
        if "yy" in vals:
            year = 2000 + int(vals["yy"])
        elif "y" in vals:
            year = int(vals["y"])
        else:
            year = datetime.now(UTC).year
        if "Mtext" in vals:
            name = vals["Mtext"].lower()
            idx = [i for i, mn in enumerate(_MONTHS) if mn == name or mn[:3] == name]
            if not idx:
                raise ProcessorFailure(f"Text '{text}' could not be parsed at index 0")
            month = idx[0] + 1
        else:
            month = int(vals.get("M", 1))
        hour = int(vals.get("H", vals.get("h", 0)))
        if "h" in vals and not 1 <= hour <= 12:
            raise ProcessorFailure(f"Text '{text}' could not be parsed: Invalid value for ClockHourOfAmPm "
                                   f"(valid values 1 - 12): {hour}")
        if "a" in vals:
            hour = hour % 12 + (12 if vals["a"].lower() == "pm" else 0)
        zone = tz
        if vals.get("off"):
            zone = _offset(vals["off"])
        elif vals.get("zone"):
            zone = _tz(vals["zone"])
        return _mk(year, month, int(vals.get("d", 1)), hour, int(vals.get("m", 0)), int(vals.get("s", 0)),
                   vals.get("S"), zone, text)
    return parse


def date_parser(fmt: str, where: str) -> DateParser:
    if fmt == "ISO8601":
        return _iso8601
    if fmt == "UNIX":
        return _unix
    if fmt == "UNIX_MS":
        return _unix_ms
    if fmt in ("TAI64N",):
        raise ContentError(f"date format {fmt} is not supported by the offline executor; "
                           "supported: ISO8601, UNIX, UNIX_MS and java.time patterns", where=where)
    return _java_pattern(fmt, where)


def format_date(dt: datetime) -> str:
    """Elasticsearch's default date output: yyyy-MM-dd'T'HH:mm:ss.SSSXXX."""
    off = dt.utcoffset() or timedelta(0)
    if not off.seconds % 60 and not off.microseconds:  # whole minutes: isoformat says the same, faster
        text = dt.isoformat(timespec="milliseconds")
        return text[:-6] + "Z" if not off else text
    base = f"{dt.year:04d}-" + dt.strftime("%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"  # %Y: no padding
    if not off:
        return base + "Z"
    secs = int(off.total_seconds())
    sign = "+" if secs >= 0 else "-"
    secs = abs(secs)
    return f"{base}{sign}{secs // 3600:02d}:{secs % 3600 // 60:02d}"


@processor("date")
def _date(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field", "@timestamp")
    formats = c.str_list("formats", required=True)
    if not formats:
        raise c.error("[formats] property isn't a list, but of type [null]")
    parsers = [date_parser(f, c.where) for f in formats]
    tzname = c.str("timezone")
    tz_t = compile_template(tzname, c.where) if tzname else None
    locale = c.str("locale")
    if locale not in (None, "en", "ENGLISH", "en_US", "ROOT"):
        raise c.error(f"locale {locale!r} is not supported by the offline executor; supported: en, ENGLISH, ROOT")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = get_field(doc, field)
        tz = _tz(tz_t(doc)) if tz_t else UTC
        text = java_str(v)
        err: ProcessorFailure | None = None
        for p in parsers:
            try:
                dt = p(text, tz)
                break
            except (ProcessorFailure, ValueError, OverflowError) as exc:
                err = exc if isinstance(exc, ProcessorFailure) else ProcessorFailure(f"unable to parse date [{text}]")
        else:
            raise err or ProcessorFailure(f"unable to parse date [{text}]")
        set_field(doc, target, format_date(dt.astimezone(tz)))
    return run


# -- json
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members; a key twice fails, as the engines' parser (strict duplicate detection)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ProcessorFailure(f'Duplicate Object property "{k}"')
            seen.add(k)
    return out


def _no_constant(name: str) -> Any:
    raise ProcessorFailure(f"Non-standard token '{name}'")


_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _json_loads(text: str) -> Any:
    """The `json` processor's parse, as OpenSearch's: the first JSON value of the text (what
    follows it is ignored), null for a blank text, duplicate keys and NaN/Infinity refused."""
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        return None
    try:
        return _JSON.raw_decode(text, start)[0]
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProcessorFailure(f"Unrecognized token or malformed JSON: {exc}") from None


@processor("json")
def _json(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field")
    add_to_root = c.bool("add_to_root")
    if add_to_root and target:
        raise c.error("Cannot set a target field while also setting `add_to_root` to true")
    c.done()
    dest = target or field

    def run(doc: IngestDoc) -> None:
        v = get_field(doc, field)
        if v is None:
            parsed: Any = None
        elif isinstance(v, str):
            parsed = _json_loads(v)
        else:
            parsed = _json_loads(json.dumps(v)) if isinstance(v, (int, float, bool)) else v
        if add_to_root:
            if not isinstance(parsed, dict):
                raise ProcessorFailure("cannot add non-map fields to root of document")
            doc.src.update(parsed)
        else:
            set_field(doc, dest, parsed)
    return run


# -- string processors
def _string_proc(name: str, make: Callable[[Conf], Callable[[str], str]]) -> Factory:
    """A processor that maps a string field (or each string of a list) to a string: `make`
    reads its own options and returns the mapping (lowercase, trim, gsub, ...)."""
    def factory(c: Conf, b: Build) -> Run:
        field = c.str("field", required=True)
        target = c.str("target_field") or field
        ignore_missing = c.bool("ignore_missing")
        fn = make(c)
        c.done()
        same_field = target == field

        def one(v: Any) -> str:
            if not isinstance(v, str):
                raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.lang.String]")
            return fn(v)

        def run(doc: IngestDoc) -> None:
            v = value_for(doc, field, ignore_missing)
            if v is _MISSING:
                return
            if v is None:
                raise ProcessorFailure(f"field [{field}] is null, cannot process it.")
            if type(v) is str:
                out = fn(v)
                if out is v and same_field:
                    return  # unchanged: writing the same string back changes nothing
                set_field(doc, target, out)
                return
            set_field(doc, target, [one(x) for x in v] if isinstance(v, list) else one(v))
        return run
    PROCESSORS[name] = factory
    return factory


_JTRIM = "".join(chr(i) for i in range(33))
_string_proc("lowercase", lambda c: str.lower)
_string_proc("uppercase", lambda c: str.upper)
_string_proc("trim", lambda c: lambda s: s.strip(_JTRIM))
_string_proc("urldecode", lambda c: lambda s: urllib.parse.unquote_plus(s, errors="strict"))


def java_regex(pattern: str, where: str) -> re.Pattern[str]:
    """A Java regex (the subset Python shares: named groups `(?<n>...)` are translated).
    Compiled with re.ASCII: Java's \\w, \\d, \\b and (?i) are ASCII-only by default."""
    py = re.sub(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", r"(?P<\1>", pattern)
    py = py.replace(r"\p{Alpha}", "[A-Za-z]").replace(r"\p{Digit}", "[0-9]").replace(r"\p{Alnum}", "[A-Za-z0-9]")
    try:
        return re.compile(py, re.ASCII)
    except re.error as exc:
        raise ContentError(f"invalid or unsupported regex {pattern!r}: {exc}", where=where) from None


def required_literals(rx: re.Pattern[str]) -> tuple[tuple[str, ...], bool] | None:
    """Literals one of which every match must start with (after zero-width assertions such
    as \\b), and whether they compare case-insensitively; None when there are none. Used to
    skip a regex over text that cannot match: `x in text` is far cheaper than a scan."""
    try:
        from re import _parser as sre  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        return None
    try:
        tree = sre.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001
        return None
    icase = bool(tree.state.flags & re.IGNORECASE)
    items = list(tree)
    while items and str(items[0][0]) == "AT":
        items.pop(0)

    def literal_run(seq: list[Any]) -> str:
        out = []
        for op, av in seq:
            if str(op) != "LITERAL":
                break
            out.append(chr(av))
        return "".join(out)
    if not items:
        return None  # only zero-width assertions
    op, av = items[0]
    if str(op) == "BRANCH":  # a non-capturing alternation is inlined
        items = [(sre.SUBPATTERN, (None, 0, 0, sre.SubPattern(tree.state, [items[0]])))]
        op, av = items[0]
    if str(op) == "LITERAL":
        lit = literal_run(items)
        return ((lit.lower() if icase else lit,), icase) if len(lit) >= 2 else _prefix_set(tree, sre)
    if str(op) == "SUBPATTERN":
        add_flags = av[1]
        sub = list(av[-1])
        if add_flags & re.IGNORECASE:
            icase = True
        if len(sub) == 1 and str(sub[0][0]) == "BRANCH":
            lits = []
            for branch in sub[0][1][1]:
                lit = literal_run(list(branch))
                if len(lit) < 2:
                    return _prefix_set(tree, sre)
                lits.append(lit.lower() if icase else lit)
            return tuple(lits), icase
        lit = literal_run(sub)
        return ((lit.lower() if icase else lit,), icase) if len(lit) >= 2 else _prefix_set(tree, sre)
    return _prefix_set(tree, sre)


def _prefix_set(tree: Any, sre: Any) -> tuple[tuple[str, ...], bool] | None:
    """The fallback of required_literals: a small set of strings one of which every match
    starts with, walking literals, small literal classes (`[KS]`) and alternations
    (`(?:AKIA|ASIA)`, which the parser factors into `A[KS]IA`). Case-insensitive when any
    part is (a weaker check, still exact as a prefilter)."""
    icase = bool(tree.state.flags & re.IGNORECASE)

    def walk(items: list[Any]) -> tuple[set[str], bool] | None:
        nonlocal icase
        out = {""}
        for op, av in items:
            name = str(op)
            if name == "AT" and out == {""}:
                continue  # \b, ^ before anything: zero-width
            if name == "LITERAL":
                out = {p + chr(av) for p in out}
                continue
            if name == "IN" and all(str(o) == "LITERAL" for o, _ in av) and len(out) * len(av) <= 64:
                out = {p + chr(c) for p in out for _, c in av}
                continue
            if name in ("BRANCH", "SUBPATTERN"):
                if name == "SUBPATTERN":
                    if av[1] & re.IGNORECASE:
                        icase = True
                    alts = [list(av[-1])]
                else:
                    alts = [list(b) for b in av[1]]
                union: set[str] = set()
                for alt in alts:
                    sub = walk(alt)
                    if sub is None:
                        return None
                    union |= sub[0]
                if len(out) * len(union) > 64:
                    break
                out = {p + a for p in out for a in union}
            break  # anything else ends the known prefix (what was collected stays required)
        return out, icase

    found = walk(list(tree))
    if found is None or min((len(x) for x in found[0]), default=0) < 2:
        return None
    lits = tuple(sorted(x.lower() if icase else x for x in found[0]))
    return lits, icase


def gsub_prefilter(conf: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """For an unconditional in-place `gsub` whose regex has required literals (see
    prefiltered_sub): (field, case-sensitive literals, lower-cased case-insensitive ones).
    When none is in the field's string, the processor changes nothing: a run of such gsubs on
    one field (the secret detectors) is skipped with one check (executor._gsub_runs)."""
    if not isinstance(conf, dict) or set(conf) - {"field", "pattern", "replacement", "ignore_missing", "tag",
                                                  "description", "ignore_failure"}:
        return None
    field, pattern = conf.get("field"), conf.get("pattern")
    if not isinstance(field, str) or not isinstance(pattern, str) or not isinstance(conf.get("replacement"), str):
        return None
    try:
        req = required_literals(java_regex(pattern, ""))
    except ContentError:
        return None
    if req is None:
        return None
    lits, icase = req
    return (field, (), lits) if icase else (field, lits, ())


_LOWERED: list[str] = ["", ""]  # the last text lowercased, and its lowercase


def lowered(text: str) -> str:
    """`text.lower()`, remembered for the last text: consecutive gsubs (the secret
    detectors) scan the same string. Keyed by identity, and the text is held, so exact."""
    if _LOWERED[0] is not text:
        _LOWERED[0], _LOWERED[1] = text, text.lower()
    return _LOWERED[1]


def prefiltered_sub(rx: re.Pattern[str], rep: Any) -> Callable[[str], str]:
    """`rx.sub(rep, text)`, skipping the scan when a required literal is absent."""
    req = required_literals(rx)
    if req is None:
        return lambda text: rx.sub(rep, text)
    lits, icase = req

    def sub(text: str) -> str:
        hay = lowered(text) if icase else text
        for lit in lits:
            if lit in hay:
                return rx.sub(rep, text)
        return text
    return sub


def java_replacement(rep: str) -> Callable[[re.Match[str]], str]:
    parts: list[tuple[int, str]] = []  # (0 literal | 1 group), text
    i = 0
    while i < len(rep):
        ch = rep[i]
        if ch == "\\" and i + 1 < len(rep):
            parts.append((0, rep[i + 1]))
            i += 2
        elif ch == "$" and i + 1 < len(rep) and rep[i + 1] == "{":
            end = rep.index("}", i)
            parts.append((1, rep[i + 2:end]))
            i = end + 1
        elif ch == "$" and i + 1 < len(rep) and rep[i + 1].isdigit():
            j = i + 1
            while j < len(rep) and rep[j].isdigit():
                j += 1
            parts.append((1, rep[i + 1:j]))
            i = j
        else:
            parts.append((0, ch))
            i += 1

    def fn(m: re.Match[str]) -> str:
        out = []
        for kind, text in parts:
            if kind == 0:
                out.append(text)
            else:
                g = m.group(int(text) if text.isdigit() else text)
                out.append(g or "")
        return "".join(out)
    return fn


def _gsub(c: Conf) -> Callable[[str], str]:
    rx = java_regex(c.str("pattern", required=True), c.where)
    return prefiltered_sub(rx, java_replacement(c.str("replacement", required=True)))


_string_proc("gsub", _gsub)


def java_split(rx: re.Pattern[str], s: str, preserve_trailing: bool) -> list[str]:
    """`String.split(regex, 0 or -1)`."""
    if s == "":
        return [""]
    parts: list[str] = []
    pos = 0
    for m in rx.finditer(s):
        if m.end() == 0:  # a zero-width match at the start yields no leading empty string
            continue
        if m.start() == m.end() and m.start() >= len(s):
            break
        parts.append(s[pos:m.start()])
        pos = m.end()
    parts.append(s[pos:])
    if not preserve_trailing:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


@processor("split")
def _split_proc(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field") or field
    rx = java_regex(c.str("separator", required=True), c.where)
    ignore_missing = c.bool("ignore_missing")
    preserve = c.bool("preserve_trailing")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = string_value(doc, field, ignore_missing, "split")
        if v is None:
            return
        set_field(doc, target, java_split(rx, v, preserve))
    return run


@processor("join")
def _join(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    sep = c.str("separator", required=True)
    target = c.str("target_field") or field
    c.done()

    def run(doc: IngestDoc) -> None:
        v = get_field(doc, field)
        if not isinstance(v, list):
            raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.util.List]")
        set_field(doc, target, sep.join(java_str(x) for x in v))
    return run


# -- dissect
@dataclass(frozen=True)
class _DKey:
    name: str
    modifier: str  # "", "+", "?", "*", "&"
    pad: bool
    order: int


_DISSECT = re.compile(r"%\{([^}]*)\}")


def _dissect_compile(pattern: str, where: str) -> tuple[str, list[tuple[_DKey, str]]]:
    """(leading delimiter, [(key, delimiter after it)])."""
    matches = list(_DISSECT.finditer(pattern))
    if not matches:
        raise ContentError(f"Unable to parse pattern: {pattern}", where=where)
    lead = pattern[:matches[0].start()]
    out: list[tuple[_DKey, str]] = []
    for i, m in enumerate(matches):
        raw = m.group(1)
        pad = raw.endswith("->")
        if pad:
            raw = raw[:-2]
        mod = ""
        if raw and raw[0] in "+?*&":
            mod, raw = raw[0], raw[1:]
        order = 0
        if mod == "+" and "/" in raw:
            raw, o = raw.rsplit("/", 1)
            order = int(o)
        delim = pattern[m.end():matches[i + 1].start()] if i + 1 < len(matches) else pattern[m.end():]
        if i + 1 < len(matches) and delim == "":
            raise ContentError(f"Unable to parse pattern: {pattern} (two keys with no delimiter between)", where=where)
        out.append((_DKey(raw, mod, pad, order), delim))
    return lead, out


@processor("dissect")
def _dissect(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    pattern = c.str("pattern", required=True)
    append_sep = c.str("append_separator", "")
    ignore_missing = c.bool("ignore_missing")
    c.done()
    lead, keys = _dissect_compile(pattern, c.where)
    appends = any(k.modifier == "+" for k, _ in keys)

    def fail(v: str) -> ProcessorFailure:
        return ProcessorFailure(f"Unable to find match for dissect pattern: {pattern} against source: {v}")

    def run(doc: IngestDoc) -> None:
        v = string_value(doc, field, ignore_missing)
        if v is None:
            return
        if not v.startswith(lead):
            raise fail(v)
        pos = len(lead)
        values: list[tuple[_DKey, str]] = []
        for i, (key, delim) in enumerate(keys):
            last = i == len(keys) - 1
            if last and delim == "":
                val, pos = v[pos:], len(v)
            else:
                idx = v.find(delim, pos)
                if idx < 0:
                    raise fail(v)
                val = v[pos:idx]
                pos = idx + len(delim)
                if key.pad:
                    while delim and v.startswith(delim, pos):
                        pos += len(delim)
            values.append((key, val))
        if pos != len(v):
            raise fail(v)
        results: dict[str, str] = {}
        refs: dict[str, str] = {}
        ref_vals: dict[str, str] = {}
        app: dict[str, list[tuple[int, int, str]]] = {}
        for n, (key, val) in enumerate(values):
            if key.modifier == "?" or key.name == "":
                continue
            if key.modifier == "*":
                refs[key.name] = val
            elif key.modifier == "&":
                ref_vals[key.name] = val
            elif key.modifier == "+" or (appends and key.name in app):
                app.setdefault(key.name, []).append((key.order, n, val))
            else:
                results[key.name] = val
                if appends:
                    app.setdefault(key.name, []).append((0, n, val))
        for name, parts in app.items():
            results[name] = append_sep.join(p for _, _, p in sorted(parts))
        for name, keyname in refs.items():
            if name in ref_vals:
                results[keyname] = ref_vals[name]
        for name, val in results.items():
            set_field(doc, name, val)
    return run


# -- kv
@processor("kv")
def _kv(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field")
    fsplit = java_regex(c.str("field_split", required=True), c.where)
    vsplit = java_regex(c.str("value_split", required=True), c.where)
    include = set(c.str_list("include_keys")) or None
    exclude = set(c.str_list("exclude_keys"))
    ignore_missing = c.bool("ignore_missing")
    prefix = c.str("prefix", "")
    trim_key = c.str("trim_key")
    trim_value = c.str("trim_value")
    strip_brackets = c.bool("strip_brackets")
    c.done()
    tk = re.compile(f"^[{re.escape(trim_key)}]+|[{re.escape(trim_key)}]+$") if trim_key else None
    tv = re.compile(f"^[{re.escape(trim_value)}]+|[{re.escape(trim_value)}]+$") if trim_value else None
    brackets = re.compile(r"^[\[(<\"']|[\])>\"']$")

    def run(doc: IngestDoc) -> None:
        v = string_value(doc, field, ignore_missing, "extract key-value pairs")
        if v is None:
            return
        for pair in java_split(fsplit, v, False):
            kvp = vsplit.split(pair, maxsplit=1)
            if len(kvp) != 2:
                raise ProcessorFailure(f"field [{field}] does not contain value_split [{vsplit.pattern}]")
            key, val = kvp
            if tk:
                key = tk.sub("", key)
            if tv:
                val = tv.sub("", val)
            if strip_brackets:
                val = brackets.sub("", val)
            if (include is not None and key not in include) or key in exclude:
                continue
            path = f"{target}.{prefix}{key}" if target else f"{prefix}{key}"
            append_field(doc, path, val) if has_field(doc, path) else set_field(doc, path, val)
    return run


# -- dot_expander
@processor("dot_expander")
def _dot_expander(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    path = c.str("path")
    if "." not in field:
        raise c.error("[field] field does not contain a dot")
    c.done()

    def run(doc: IngestDoc) -> None:
        node: Any = get_field(doc, path) if path else doc.src
        if not isinstance(node, dict) or field not in node:
            return
        value = node.pop(field)
        full = f"{path}.{field}" if path else field
        if has_field(doc, full):
            append_field(doc, full, value)
        else:
            set_field(doc, full, value)
    return run


# -- foreach, pipeline, drop, fail
@processor("foreach")
def _foreach(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    ignore_missing = c.bool("ignore_missing")
    inner = c.any("processor", required=True)
    if not isinstance(inner, dict) or len(inner) != 1:
        raise c.error("[processor] must be one processor")
    run_inner = b.compile_processors([inner], c.where + "/processor")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = value_for(doc, field, ignore_missing)
        if v is _MISSING:
            return
        if v is None:
            raise ProcessorFailure(f"field [{field}] is null, cannot loop over its elements.")
        if not isinstance(v, list):
            raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.util.List]")
        had = "_value" in doc.ingest
        prev = doc.ingest.get("_value")
        out = []
        for item in v:
            doc.ingest["_value"] = item
            run_inner(doc)
            out.append(doc.ingest.get("_value"))
        set_field(doc, field, out)
        if had:
            doc.ingest["_value"] = prev
        else:
            doc.ingest.pop("_value", None)
    return run


@processor("pipeline")
def _pipeline(c: Conf, b: Build) -> Run:
    name_raw = c.str("name", required=True)
    c.done()
    if "{{" not in name_raw and not b.pipeline_exists(name_raw):
        raise c.error(f"Pipeline processor configured for non-existent pipeline [{name_raw}]")
    name = compile_template(name_raw, c.where)
    return lambda doc: b.run_pipeline(name(doc), doc)


@processor("drop")
def _drop(c: Conf, b: Build) -> Run:
    c.done()

    def run(doc: IngestDoc) -> None:
        raise Dropped()
    return run


@processor("fail")
def _fail(c: Conf, b: Build) -> Run:
    msg = compile_template(c.str("message", required=True), c.where)
    c.done()

    def run(doc: IngestDoc) -> None:
        raise ProcessorFailure(msg(doc))
    return run


# -- bytes, csv
_BYTES = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|tb|t|pb|p)?\s*$", re.I)
_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3,
          "t": 1024 ** 4, "tb": 1024 ** 4, "p": 1024 ** 5, "pb": 1024 ** 5}


@processor("bytes")
def _bytes(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    target = c.str("target_field") or field
    ignore_missing = c.bool("ignore_missing")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = value_for(doc, field, ignore_missing)
        if v is _MISSING:
            return
        if not isinstance(v, str):
            raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.lang.String]")
        m = _BYTES.match(v)
        if not m or "." in m.group(1) or (m.group(2) is None and m.group(1) not in ("0", "-1")):
            raise ProcessorFailure(f"failed to parse setting [Ingest Field] with value [{v}] as a size in bytes: "
                                   "unit is missing or unrecognized")
        num, unit = m.group(1), (m.group(2) or "b").lower()
        set_field(doc, target, int(num) * _UNITS[unit])
    return run


@processor("csv")
def _csv(c: Conf, b: Build) -> Run:
    import csv
    import io

    field = c.str("field", required=True)
    targets = c.str_list("target_fields", required=True)
    sep = c.str("separator", ",")
    quote = c.str("quote", '"')
    trim = c.bool("trim")
    empty = c.any("empty_value", _MISSING)
    ignore_missing = c.bool("ignore_missing")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = value_for(doc, field, ignore_missing)
        if v is _MISSING:
            return
        if not isinstance(v, str):
            raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.lang.String]")
        row = next(csv.reader(io.StringIO(v), delimiter=sep, quotechar=quote), [])
        for t, val in zip(targets, row, strict=False):
            if trim:
                val = val.strip()
            if val == "":
                if empty is not _MISSING:
                    set_field(doc, t, empty)
                continue
            set_field(doc, t, val)
    return run


# grok lives in its own module (the pattern bank is content-sized); it registers itself.
from . import grok as _grok  # noqa: E402,F401  (registers "grok")
