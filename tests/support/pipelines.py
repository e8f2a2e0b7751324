"""Helpers for tests that put our pipelines on a real node under a unique prefix."""

from __future__ import annotations

from typing import Any


def prefix_names(node: Any, prefix: str) -> Any:
    """A pipeline body whose `pipeline` processors call `prefix` + their name, so tests never
    collide on the node."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "pipeline" and isinstance(v, dict) and isinstance(v.get("name"), str):
                v = {**v, "name": prefix + v["name"]}
            out[k] = prefix_names(v, prefix)
        return out
    if isinstance(node, list):
        return [prefix_names(x, prefix) for x in node]
    return node
