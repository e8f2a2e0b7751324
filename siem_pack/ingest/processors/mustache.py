"""Stage 1 → 2: mustache templates of processor options, as Elasticsearch ingest renders them
(`{{x}}` JSON-escaped, `{{{x}}}` raw; no sections), compiled once at load.

Neighbours: base.py (`IngestDoc`), render.py (how values print), the processor families that
take templated options (fields.py, dates.py, flow.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...errors import ContentError
from .base import IngestDoc, ProcessorFailure
from .render import java_str

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
