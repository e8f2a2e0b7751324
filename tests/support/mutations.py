"""Single-point mutations of a JSON document, for the conformance differentials: every
mutation Kibana's published contract rejects must be rejected by our own schema too
(tests/detect/test_kibana.py, tests/dashboards/test_dashboards.py).

Each mutation changes one place: a key removed; a value replaced by one of another JSON
type (or null); a number set to 0, -1, 10**9 and 1.5; a string emptied; a list emptied or
filled to six items; an object replaced by a string or a list; an unknown key added to an
object (the root too). Lists are entered at their first item. The label names the place:
`threshold/cardinality/0/value: 0`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

UNKNOWN_KEY = "siem_pack_unknown"
Path = tuple[str | int, ...]


def mutations(doc: dict[str, Any], skip: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, mutated copy) for every single-point mutation of `doc`; places whose label
    path is in `skip`, or under one, are left alone."""
    for path, value in _walk(doc, ()):
        label = "/".join(str(p) for p in path)
        if any(label == s or label.startswith(s + "/") for s in skip):
            continue
        if path:
            if isinstance(path[-1], str):
                yield f"{label}: removed", _removed(doc, path)
            for name, other in _replacements(value):
                yield f"{label}: {name}", _replaced(doc, path, other)
        if isinstance(value, dict):
            yield f"{label or '(root)'}: unknown key", _replaced(doc, (*path, UNKNOWN_KEY), 1)


def _walk(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list) and value:
        yield from _walk(value[0], (*path, 0))


def _replacements(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, bool):
        return [("a string", str(value).lower())]
    if isinstance(value, int | float):
        return [("a string", str(value)), ("0", 0), ("-1", -1), ("10**9", 10**9), ("a fraction", 1.5)]
    if isinstance(value, str):
        return [("a number", 12345), ("empty", ""), ("null", None)]
    if isinstance(value, list):
        longer = [(value * 6)[:6]] if value else []
        return [("a string", "x"), ("empty", [])] + [("six items", v) for v in longer]
    if isinstance(value, dict):
        return [("a string", "x"), ("a list", [value])]
    return []


def _parent(doc: dict[str, Any], path: Path) -> tuple[dict[str, Any], Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for p in path[:-1]:
        node = node[p]
    return out, node


def _removed(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    out, node = _parent(doc, path)
    del node[path[-1]]
    return out


def _replaced(doc: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out, node = _parent(doc, path)
    node[path[-1]] = copy.deepcopy(value)
    return out
