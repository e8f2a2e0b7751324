"""Helpers for tests on a real Elasticsearch node."""

from __future__ import annotations

from typing import Any


def cleanup_prefix(es: Any, prefix: str) -> None:
    """Delete every index, index template and component template whose name has `prefix`."""
    quiet = es.options(ignore_status=[404])
    names = quiet.indices.get(index=f"*{prefix}*", expand_wildcards="all").body or {}
    for name in sorted(names):  # wildcard deletes are refused (action.destructive_requires_name)
        quiet.indices.delete(index=name)
    for tmpl in quiet.indices.get_index_template(name=f"*{prefix}*").body.get("index_templates", []):
        quiet.indices.delete_index_template(name=tmpl["name"])
    for comp in quiet.cluster.get_component_template(name=f"*{prefix}*").body.get("component_templates", []):
        quiet.cluster.delete_component_template(name=comp["name"])
