"""Stage 1 → 2: the parsing processors: json, dissect, kv, csv (grok is
grok.py, for its pattern bank; date is dates.py).

Neighbours: base.py, paths.py, regex.py (kv's splits); registry.py lists these.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ...errors import ContentError
from .base import _MISSING, Build, Conf, IngestDoc, ProcessorFailure, Run
from .paths import append_field, get_field, has_field, set_field, string_value, value_for
from .regex import java_regex, java_split
from .render import java_type


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


def json_processor(c: Conf, b: Build) -> Run:
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


def _dissect_split(v: str, lead: str, keys: list[tuple[_DKey, str]]) -> list[tuple[_DKey, str]] | None:
    """Each key's text in `v` (delimiters matched left to right; a `->` key skips repeats of
    its delimiter), or None when the pattern does not match the whole of `v`."""
    if not v.startswith(lead):
        return None
    pos = len(lead)
    values: list[tuple[_DKey, str]] = []
    for i, (key, delim) in enumerate(keys):
        if i == len(keys) - 1 and delim == "":
            val, pos = v[pos:], len(v)
        else:
            idx = v.find(delim, pos)
            if idx < 0:
                return None
            val = v[pos:idx]
            pos = idx + len(delim)
            if key.pad:
                while delim and v.startswith(delim, pos):
                    pos += len(delim)
        values.append((key, val))
    return values if pos == len(v) else None


def _dissect_fields(values: list[tuple[_DKey, str]], appends: bool, append_sep: str) -> dict[str, str]:
    """Field name → value from the keys' texts: skipped (`?`, unnamed) keys dropped, `+`
    keys appended in their order, `*`/`&` pairs naming a field by another key's text."""
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
    return results


def dissect_processor(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    pattern = c.str("pattern", required=True)
    append_sep = c.str("append_separator", "")
    ignore_missing = c.bool("ignore_missing")
    c.done()
    lead, keys = _dissect_compile(pattern, c.where)
    appends = any(k.modifier == "+" for k, _ in keys)

    def run(doc: IngestDoc) -> None:
        v = string_value(doc, field, ignore_missing)
        if v is None:
            return
        values = _dissect_split(v, lead, keys)
        if values is None:
            raise ProcessorFailure(f"Unable to find match for dissect pattern: {pattern} against source: {v}")
        for name, val in _dissect_fields(values, appends, append_sep).items():
            set_field(doc, name, val)
    return run


def kv_processor(c: Conf, b: Build) -> Run:
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


def csv_processor(c: Conf, b: Build) -> Run:
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
