"""Stage 4: the KQL filters of dashboard specs, through the detections' parser and SQL
compiler (siem_pack.detect.kuery), so a filter means the same in a rule, in Kibana and in
the offline report. This module only adapts errors (a syntax error becomes a ContentError
naming the panel) and the empty filter.
"""

from __future__ import annotations

from typing import Any

from ..detect import kuery
from ..errors import ContentError
from ..schema import Schema

Node = kuery.Node


def parse(text: str | None, where: str = "filter") -> Node | None:
    """The filter's tree, or None for an empty filter."""
    if not text or not text.strip():
        return None
    try:
        return kuery.parse_kuery(text)
    except (kuery.QuerySyntaxError, ValueError) as exc:
        raise ContentError(f"KQL {text!r}: {exc}", where=where) from exc


def fields(node: Node | None) -> list[str]:
    return sorted(kuery.fields_of(node)) if node is not None else []


def to_sql(node: Node | None, schema: Schema, params: list[Any]) -> str:
    """A DuckDB WHERE condition over a table with one column per schema field."""
    return "TRUE" if node is None else kuery.to_sql(node, schema, params)
