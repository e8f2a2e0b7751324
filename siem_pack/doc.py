"""Cross-cutting (shared): dotted field paths over ECS documents.

A document is nested (`{"user": {"id": "u1"}}`, as ingest writes it and Elasticsearch keeps
it) or flat (`{"user.id": "u1"}`, as the DuckDB store, the runners and alerts use it).
`flatten` and `unflatten` turn one into the other; `get_field` reads one dotted field of
either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}`; lists and scalars are leaves."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` → `{"a": {"b": 1}}`."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def get_field(doc: Mapping[str, Any], name: str) -> Any:
    """A dotted field of a nested document (or of a flat one); None when absent."""
    if name in doc:
        return doc[name]
    node: Any = doc
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
