"""Cross-cutting (integrity): the canonical byte form of an event, the input of every seal.

Input: a whole ECS document, as stored in DuckDB `events.doc` or as an Elasticsearch
`_source`. Output: bytes hashed by merkle.py. The same event gives the same bytes from both
backends:

- dotted keys are expanded into nested objects (`{"event.id": x}` == `{"event": {"id": x}}`);
- the ingest-time field `event.ingested` is EXCLUDED: it records when one backend stored the
  event, differs between backends and re-ingests, and says nothing about what happened;
  every other field (including `event.original`) is covered;
- JSON with keys sorted, no insignificant whitespace (`,` and `:` separators), non-ASCII kept
  as UTF-8 (not `\\u` escapes), NaN/Infinity refused; lists keep their order;
- numbers as Python's shortest round-trip form (what both stores hand back for what we wrote).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..doc import get_field
from ..errors import InputError
from ..times import parse_ts

# ingest-time fields left out of the canonical form (dotted names)
EXCLUDED_FIELDS: tuple[str, ...] = ("event.ingested",)


def nested(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with dotted keys expanded, at every level of objects."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, Mapping):
            value = nested(value)
        parts = key.split(".") if "." in key else [key]
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(f"field {key!r} conflicts with a value at {part!r}", where=str(doc.get("event.id", "")))
            node = child
        _put(node, parts[-1], value, key)
    return out


def _put(node: dict[str, Any], key: str, value: Any, name: str) -> None:
    """Set `node[key]`, merging objects; a leaf given twice (dotted and nested) is refused."""
    if key not in node:
        node[key] = value
    elif isinstance(node[key], dict) and isinstance(value, dict):
        for k, v in value.items():
            _put(node[key], k, v, f"{name}.{k}")
    else:
        raise InputError(f"field {name!r} is given twice (dotted and nested)", where=name)


def _has_dots(doc: Mapping[str, Any]) -> bool:
    stack = [doc]
    while stack:
        for key, value in stack.pop().items():
            if "." in key:
                return True
            if type(value) is dict:
                stack.append(value)
    return False


def normalised(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Nested form without the excluded ingest-time fields (the input is not changed)."""
    out: dict[str, Any] = nested(doc) if _has_dots(doc) else dict(doc)
    for name in EXCLUDED_FIELDS:
        out = _without(out, name.split("."))
    return out


def _without(node: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    head = parts[0]
    if len(parts) == 1:
        return {k: v for k, v in node.items() if k != head} if head in node else node
    child = node.get(head)
    if not isinstance(child, dict):
        return node
    new = _without(child, parts[1:])
    return node if new is child else {**node, head: new}


def canonical_bytes(doc: Mapping[str, Any]) -> bytes:
    """The bytes every hash is computed over (see the module docstring)."""
    try:
        text = json.dumps(normalised(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"event cannot be put in canonical form: {exc}", where=str(event_id(doc))) from exc
    return text.encode("utf-8")


def _get(doc: Mapping[str, Any], name: str) -> Any:
    value = get_field(doc, name)
    # else a partly dotted document ({"event": {"id": ..}} or {"event.id": ..} at any level)
    return value if value is not None else _get_dotted(doc, name)


def _get_dotted(doc: Mapping[str, Any], name: str) -> Any:
    for key, value in doc.items():
        if name == key:
            return value
        if name.startswith(key + ".") and isinstance(value, Mapping):
            found = _get_dotted(value, name[len(key) + 1:])
            if found is not None:
                return found
    return None


def event_id(doc: Mapping[str, Any]) -> str | None:
    value = _get(doc, "event.id")
    return None if value is None else str(value)


def event_dataset(doc: Mapping[str, Any]) -> str | None:
    value = _get(doc, "event.dataset")
    return None if value is None else str(value)


def event_time(doc: Mapping[str, Any]) -> datetime | None:
    """`@timestamp` as a naive UTC datetime (None when missing or unreadable)."""
    value = doc.get("@timestamp")
    if type(value) is str:
        try:
            if value.endswith("Z"):  # the usual form: already UTC
                return datetime.fromisoformat(value[:-1])
            dt = datetime.fromisoformat(value)  # Python 3.11 reads any ISO-8601 form
        except ValueError:
            return None
        offset = dt.utcoffset()
        return dt if offset is None else (dt - offset).replace(tzinfo=None)
    try:
        return parse_ts(_get(doc, "@timestamp"))
    except (TypeError, ValueError):
        return None

