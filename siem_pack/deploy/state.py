"""Cross-cutting (deploy): what the cluster has now, for each object of the bundle (read-only).

Elasticsearch objects through the client; Kibana objects through `KibanaClient`. Each
reader returns the installed body (or None when absent), in the same shape as the bundle's,
with every key the cluster holds (plan tells what the server adds from a hand-added key).
`data_targets` finds the data the pack owns (events of any namespace, its own indices).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from ..backends.indices import EVENTS_PATTERN
from ..templates import MANAGED_BY, own_indices
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
    res = client.indices.get(index=name, features=["aliases", "settings"]).body
    if not res:
        return None
    only = next(iter(res.values()))
    return {"aliases": only.get("aliases", {}), "settings": only.get("settings", {})}


def _role(client: Elasticsearch, name: str) -> dict[str, Any] | None:
    res = client.security.get_role(name=name).body.get(name)
    return dict(res) if isinstance(res, dict) else None


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


def data_targets(client: Elasticsearch, prefix: str = "") -> list[tuple[str, str]]:
    """The data the pack owns on the cluster, as (kind, name), kind `data_stream` or `index`:
    every `<prefix>logs-siem_pack.*-*` data stream or index (any format, any namespace, the
    `-000001` indices behind write aliases included) and our own indices by their exact names
    (`schema/indices/*.yml`: alerts, anomalies, seals, approvals, dead letters, ...). Nothing
    else: a name that merely looks alike (`logs-other-default`, another --prefix) is not ours."""
    patterns = [f"{prefix}{EVENTS_PATTERN}-*", *(f"{prefix}{own.name}" for own in own_indices())]
    res = client.indices.resolve_index(name=patterns, expand_wildcards="all", ignore_unavailable=True).body

    def ours(name: str) -> bool:  # by its own name, never through an alias that happens to match
        return any(fnmatchcase(name, p) for p in patterns)

    streams = sorted(d["name"] for d in res.get("data_streams", []) if ours(d["name"]))
    indices = sorted(i["name"] for i in res.get("indices", []) if not i.get("data_stream") and ours(i["name"]))
    return [("data_stream", n) for n in streams] + [("index", n) for n in indices]
