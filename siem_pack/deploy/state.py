"""What the cluster has now, for each object of the bundle (read-only).

Elasticsearch objects through the client; Kibana objects through `KibanaClient`. Each
reader returns the installed body (or None when absent), in the same shape as the bundle's.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, Elasticsearch

from ..templates import MANAGED_BY
from .bundle import DeployObject
from .kibana import KibanaClient


def read(client: Elasticsearch, obj: DeployObject, kibana: KibanaClient | None) -> dict[str, Any] | None:
    if obj.system == "kibana":
        if kibana is None:
            return None
        return kibana.get(obj.kind, obj.name)
    try:
        return _READERS[obj.kind](client, obj.name)
    except ApiError as exc:
        if exc.meta.status == 404:
            return None
        raise


def _component(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.cluster.get_component_template(name=name).body["component_templates"]
    return res[0]["component_template"] if res else None


def _index_template(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.indices.get_index_template(name=name).body["index_templates"]
    return res[0]["index_template"] if res else None


def _ilm(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.ilm.get_lifecycle(name=name).body
    policy = res.get(name, {}).get("policy")
    if policy is None:
        return None
    meta = policy.pop("_meta", None)
    return {"policy": policy, **({"_meta": meta} if meta else {})}


def _pipeline(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.ingest.get_pipeline(id=name).body.get(name)
    return dict(res) if isinstance(res, dict) else None


def _index(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.indices.get(index=name, features=["aliases"]).body
    if not res:
        return None
    only = next(iter(res.values()))
    return {"aliases": only.get("aliases", {})}


def _role(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.security.get_role(name=name).body.get(name)
    if res is None:
        return None
    body = {k: res[k] for k in ("cluster", "indices", "description", "metadata") if k in res}
    for idx in body.get("indices", []):
        idx.pop("allow_restricted_indices", None)
    return body


def our_api_keys(client: Elasticsearch, name: str) -> list[dict[str, Any]]:
    """The active API keys called `name` that carry our metadata."""
    keys = client.security.get_api_key(name=name, active_only=True).body.get("api_keys", [])
    return [k for k in keys if (k.get("metadata") or {}).get("managed_by") == MANAGED_BY]


def _api_key(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    ours = our_api_keys(client, name)
    if not ours:
        return None
    newest = max(ours, key=lambda k: k.get("creation", 0))
    return {"id": newest["id"], "metadata": newest.get("metadata", {}), "count": len(ours)}


_READERS = {
    "component_template": _component,
    "index_template": _index_template,
    "ilm_policy": _ilm,
    "ingest_pipeline": _pipeline,
    "index": _index,
    "role": _role,
    "api_key": _api_key,
}
