"""Stage 1 → 2: the conversion processors: convert (Java's number, boolean and ip parsing)
and bytes (`10kb` → 10240).

Neighbours: base.py, paths.py, render.py; dates.py (UNIX dates) and grok.py
(float captures) reuse the number parsing; registry.py lists these.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .base import _MISSING, Build, Conf, IngestDoc, ProcessorFailure, Run
from .paths import set_field, value_for
from .render import java_double, java_str, java_type

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


def convert_processor(c: Conf, b: Build) -> Run:
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


_BYTES = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|tb|t|pb|p)?\s*$", re.I)
_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3,
          "t": 1024 ** 4, "tb": 1024 ** 4, "p": 1024 ** 5, "pb": 1024 ** 5}


def bytes_processor(c: Conf, b: Build) -> Run:
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
