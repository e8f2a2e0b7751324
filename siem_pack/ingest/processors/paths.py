"""Stage 1 → 2: field paths of a document in flight, with IngestDocument's semantics and
messages (`a.b.0`, `_ingest.x`, `_source.x`): read, test, write, append, remove.

Neighbours: base.py (`IngestDoc`, `ProcessorFailure`), render.py (type names, `equals`), the
processor families and siem_pack.ingest.executor (which read and write documents with these).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .base import _MISSING, IngestDoc, ProcessorFailure
from .render import java_equals, java_type


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
