"""Stage 1 → 2: the string processors: lowercase, uppercase, trim, urldecode, gsub (a string
field, or each string of a list, mapped to a string), split and join.

Neighbours: base.py, paths.py, regex.py (Java regexes, the gsub prefilter), render.py;
registry.py lists these.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from .base import _MISSING, Build, Conf, Factory, IngestDoc, ProcessorFailure, Run
from .paths import get_field, set_field, string_value, value_for
from .regex import java_regex, java_replacement, java_split, prefiltered_sub
from .render import java_str, java_type


def _string_proc(make: Callable[[Conf], Callable[[str], str]]) -> Factory:
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
    return factory


_JTRIM = "".join(chr(i) for i in range(33))
lowercase_processor = _string_proc(lambda c: str.lower)
uppercase_processor = _string_proc(lambda c: str.upper)
trim_processor = _string_proc(lambda c: lambda s: s.strip(_JTRIM))
urldecode_processor = _string_proc(lambda c: lambda s: urllib.parse.unquote_plus(s, errors="strict"))


def _gsub(c: Conf) -> Callable[[str], str]:
    rx = java_regex(c.str("pattern", required=True), c.where)
    return prefiltered_sub(rx, java_replacement(c.str("replacement", required=True)))


gsub_processor = _string_proc(_gsub)


def split_processor(c: Conf, b: Build) -> Run:
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


def join_processor(c: Conf, b: Build) -> Run:
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
