"""Stage 4: the fields each dashboard data source has, from our index templates' mappings
(siem_pack.templates: `schema/fields.yml` for events, `schema/indices/<index>.yml` for our
own indices with the event field groups they compose) plus the data views' runtime fields.
Used by checks.py (every field a panel reads must exist), kibana.py (Lens data types) and
the offline report (KQL → SQL over the table's columns).
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import ContentError
from ..schema import Field, Schema, load_schema
from ..templates import group_of, own_indices
from .spec import INDEXES


@lru_cache(maxsize=16)
def index_schema(index: str) -> Schema:
    """The fields of one `index:` key (events, anomalies, alerts, seals, metrics)."""
    spec = INDEXES[index]
    events = load_schema()
    if index == "events":
        fields = list(events.fields)
    else:
        own = {ix.name: ix for ix in own_indices()}.get(spec.pattern)
        if own is None:
            raise ContentError(f"no index template for {spec.pattern} (schema/indices/{spec.pattern}.yml)",
                               where=f"index {index}")
        composed = [f for f in events.fields if group_of(f.name) in own.compose]
        names = {f.name for f in own.schema.fields}
        fields = list(own.schema.fields) + [f for f in composed if f.name not in names]
    names = {f.name for f in fields}
    fields += [Field(name=rf.name, type=rf.type, description="runtime field of the data view")
               for rf in spec.runtime_fields if rf.name not in names]
    return Schema(tuple(sorted(fields, key=lambda f: f.name)))


def field_types(index: str) -> dict[str, str]:
    """Field name → Elasticsearch type, multi-fields included."""
    schema = index_schema(index)
    out = {f.name: str(f.type) for f in schema.fields}
    for f in schema.fields:
        out.update({f"{f.name}.{sub}": t for sub, t in f.multi_fields})
    return out
