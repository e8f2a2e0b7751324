"""Stage 1 → 2: the engine's values as Java holds them, for the offline executor's
processors: `Double.toString`, `Object.toString`, the class names its messages print, and
`equals`.

Neighbours: base.py (option errors), paths.py, mustache.py and the processor families (which
render and compare values with these), siem_pack.ingest.painless (`==` in conditions).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any


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
