"""Stage 2: the event schema as data (`schema/fields.yml`), loaded once into frozen dataclasses.

Consumers: the index templates (siem_pack.templates), the DuckDB `events` table
(siem_pack.backends.duckdb), and the static checks over rules and dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from .errors import ContentError
from .paths import content_dir

FieldType = Literal[
    "keyword", "match_only_text", "text", "wildcard", "constant_keyword", "flattened",
    "long", "double", "float", "boolean", "date", "ip", "geo_point",
]
FIELD_TYPES: frozenset[str] = frozenset(FieldType.__args__)  # type: ignore[attr-defined]

DUCKDB_TYPES: dict[str, str] = {
    "keyword": "VARCHAR", "match_only_text": "VARCHAR", "text": "VARCHAR", "wildcard": "VARCHAR",
    "constant_keyword": "VARCHAR", "flattened": "JSON", "long": "BIGINT", "double": "DOUBLE",
    "float": "DOUBLE", "boolean": "BOOLEAN", "date": "TIMESTAMP", "ip": "VARCHAR", "geo_point": "VARCHAR",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    array: bool = False
    index: bool = True
    fallback: FieldType | None = None
    multi_fields: tuple[tuple[str, str], ...] = ()

    @property
    def duckdb_type(self) -> str:
        base = DUCKDB_TYPES[self.type]
        return f"{base}[]" if self.array else base


@dataclass(frozen=True)
class Schema:
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    def get(self, name: str) -> Field | None:
        return cast("dict[str, Field]", self._by_name).get(name)  # type: ignore[attr-defined]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def resolve(self, name: str) -> Field | None:
        """A field by name, also through a multi-field (`gen_ai.request.model.id`)."""
        f = self.get(name)
        if f is not None:
            return f
        parent, _, sub = name.rpartition(".")
        pf = self.get(parent)
        if pf is not None and any(m == sub for m, _ in pf.multi_fields):
            return pf
        return None

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def es_properties(self, unsupported: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The Elasticsearch `mappings.properties` for every field, nested by dots.

        `unsupported` names mapper types the cluster lacks (from `siem-pack doctor`); those
        fields use their `fallback` core type instead.
        """
        props: dict[str, Any] = {}
        for f in self.fields:
            ftype = f.fallback if f.type in unsupported and f.fallback else f.type
            mapping: dict[str, Any] = {"type": ftype}
            if not f.index:
                mapping["index"] = False
                if ftype == "keyword":
                    mapping["doc_values"] = False
            if ftype == "keyword" and f.index:
                mapping["ignore_above"] = 1024
            if f.multi_fields:
                mapping["fields"] = {sub: {"type": t} for sub, t in f.multi_fields}
            node = props
            parts = f.name.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {"properties": {}})["properties"]
            node[parts[-1]] = mapping
        return props


def load_schema(path: Path | None = None) -> Schema:
    return _load(str(path or content_dir("schema") / "fields.yml"))


@lru_cache(maxsize=4)
def _load(path: str) -> Schema:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read the field schema: {exc}", where=path) from exc
    fields = []
    for name, spec in sorted((raw or {}).get("fields", {}).items()):
        ftype = spec.get("type")
        if ftype not in FIELD_TYPES:
            raise ContentError(f"field {name!r}: unknown type {ftype!r}; known: {', '.join(sorted(FIELD_TYPES))}", where=path)
        fields.append(
            Field(
                name=name,
                type=ftype,
                description=str(spec.get("description", "")),
                array=bool(spec.get("array", False)),
                index=bool(spec.get("index", True)),
                fallback=spec.get("fallback"),
                multi_fields=tuple(sorted((spec.get("multi_fields") or {}).items())),
            )
        )
    return Schema(tuple(fields))
