"""Stage 1 → 2: the field processors: set, rename, remove, append, dot_expander.

Neighbours: base.py, paths.py, mustache.py (templated field names and values); registry.py
lists these; siem_pack.ingest.executor inlines `SetPath`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import _MISSING, Build, Conf, IngestDoc, ProcessorFailure, Run
from .mustache import compile_template, compile_value
from .paths import _split, append_field, get_field, has_field, peek_field, remove_field, set_field


def _field_template(c: Conf, key: str = "field", required: bool = True) -> Callable[[IngestDoc], str]:
    f = c.str(key, required=required)
    return compile_template(f, c.where) if f is not None else (lambda doc: "")


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


def set_processor(c: Conf, b: Build) -> Run:
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


def rename_processor(c: Conf, b: Build) -> Run:
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


def remove_processor(c: Conf, b: Build) -> Run:
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


def append_processor(c: Conf, b: Build) -> Run:
    field = _field_template(c)
    value = compile_value(c.any("value", required=True), c.where)
    allow_dups = c.bool("allow_duplicates", True)
    c.done()
    return lambda doc: append_field(doc, field(doc), value(doc), allow_dups)


def dot_expander_processor(c: Conf, b: Build) -> Run:
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
