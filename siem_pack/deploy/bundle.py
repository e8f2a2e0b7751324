"""Cross-cutting (deploy), the bundle: every object siem-pack owns on a cluster, in dependency
order.

Each object carries its content hash (SHA-256 of its canonical body without our marker) and
our bundle version (`siem_pack.templates.marker`): in `_meta` on Elasticsearch objects,
`metadata` on roles and API keys, `meta.siem_pack` on rules. Kibana saved objects, data
views and exception lists have no free metadata field: plan compares them by content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from ..backends.indices import APPROVALS_INDEX
from ..doctor import DoctorReport
from ..errors import ContentError
from ..paths import content_dir
from ..templates import MANAGED_BY, content_hash, has_processors, marker, strip_marker, template_bodies
from ..templates import notes as template_notes

Kind = Literal["component_template", "ilm_policy", "ingest_pipeline", "index_template", "index", "data_stream", "role",
               "api_key", "data_view", "saved_object", "rule", "exception_list"]
# apply order (uninstall: the reverse); data streams are never deployed, only removed with --delete-data
ORDER: tuple[Kind, ...] = ("component_template", "ilm_policy", "ingest_pipeline", "index_template", "index", "data_stream",
                           "role", "api_key", "data_view", "saved_object", "rule", "exception_list")
KIBANA_KINDS = frozenset({"data_view", "saved_object", "rule", "exception_list"})


@dataclass(frozen=True)
class DeployObject:
    kind: Kind
    name: str
    body: dict[str, Any] = field(repr=False)

    @property
    def system(self) -> str:
        return "kibana" if self.kind in KIBANA_KINDS else "elasticsearch"

    @property
    def hash(self) -> str:
        return content_hash(self.body)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class JobRole:
    job: str
    description: str
    read: tuple[str, ...]
    write: tuple[tuple[str, str], ...]


@dataclass
class Bundle:
    objects: list[DeployObject]
    notes: list[str]

    def by_kind(self, kind: str) -> list[DeployObject]:
        return [o for o in self.objects if o.kind == kind]


def load_roles(path: Path | None = None) -> list[JobRole]:
    return list(_load_roles(str(path or content_dir("schema") / "roles.yml")))


@lru_cache(maxsize=4)
def _load_roles(where: str) -> tuple[JobRole, ...]:
    path = Path(where)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read: {exc}", where=str(path)) from exc
    roles = []
    for job, spec in sorted((raw.get("jobs") or {}).items()):
        bad = {v for v in (spec.get("write") or {}).values()} - {"create_doc", "index"}
        if bad:
            raise ContentError(f"job {job!r}: write privilege must be create_doc or index, not {sorted(bad)}",
                               where=str(path))
        roles.append(JobRole(job, str(spec.get("description", "")), tuple(spec.get("read") or ()),
                             tuple(sorted((spec.get("write") or {}).items()))))
    return tuple(roles)


def role_name(job: str, prefix: str = "") -> str:
    return f"{prefix}siem_pack_job_{job}"


def key_name(job: str, prefix: str = "") -> str:
    return f"{prefix}siem-pack-job-{job}"


def role_body(role: JobRole, prefix: str = "") -> dict[str, Any]:
    """Read what the job reads; write only as `write` says; nothing else (no cluster privileges
    but `monitor` to find the node version)."""
    indices: list[dict[str, Any]] = [{"names": sorted(f"{prefix}{n}" for n in role.read),
                                      "privileges": ["read", "view_index_metadata"]}]
    for name, priv in role.write:
        privileges = ["create_doc"] if priv == "create_doc" else ["create_doc", "index"]
        indices.append({"names": [f"{prefix}{name}"], "privileges": [*privileges, "auto_configure"]})
    return {"cluster": ["monitor"], "indices": indices, "description": role.description}


def collect(report: DoctorReport, prefix: str = "", kibana: bool = True, kibana_version: str = "9.x",
            pipelines: Mapping[str, dict[str, Any]] | None = None) -> Bundle:
    """Every object of the bundle for the cluster `report` describes, in apply order.
    `pipelines`: the cluster pipeline bodies when the caller has them already."""
    if pipelines is None:
        from ..ingest.pipeline import cluster_bodies

        pipelines = cluster_bodies()
    notes = template_notes(report)
    objects = [DeployObject(step.kind, step.name, step.body) for step in template_bodies(report, prefix=prefix)]
    if has_processors(report):
        for pid, body in sorted(pipelines.items()):
            objects.append(DeployObject("ingest_pipeline", f"{prefix}{pid}", _marked(body, "_meta")))
    else:
        notes.append(f"ingest pipelines skipped ({len(pipelines)}): the cluster lacks processors "
                     f"{', '.join(report.missing_processors) or '(none reported)'}; events must arrive normalized "
                     "(siem-pack ingest --es-url normalizes them with the offline executor)")
    objects.append(DeployObject("index", prefix + APPROVALS_INDEX, {"aliases": {}}))
    if report.has("security"):
        roles = load_roles()
        for role in roles:
            objects.append(DeployObject("role", role_name(role.job, prefix), _marked(role_body(role, prefix), "metadata")))
        for role in roles:
            objects.append(DeployObject("api_key", key_name(role.job, prefix),
                                        {"role": role_name(role.job, prefix), "metadata": {"managed_by": MANAGED_BY,
                                                                                         "job": role.job}}))
    else:
        notes.append("security is off on this cluster: no job roles or API keys")
    if kibana:
        objects += _kibana_objects(prefix, kibana_version, notes)
    return Bundle(objects, notes)


def _marked(body: dict[str, Any], where: str) -> dict[str, Any]:
    bare = strip_marker(body)
    return {**bare, where: marker(content_hash(bare))}


def _kibana_objects(prefix: str, kibana_version: str, notes: list[str]) -> list[DeployObject]:
    """Data view, dashboards, rules and exception lists, rendered for `kibana_version`."""
    from ..dashboards.kibana import saved_objects
    from ..dashboards.spec import load_dashboards
    from ..detect.export import import_lines

    out: list[DeployObject] = []
    version = "8.19" if kibana_version.startswith("8") else "9.x"
    for obj in saved_objects(load_dashboards(), version):
        out.append(DeployObject("saved_object", f"{obj['type']}/{obj['id']}", obj))
    for line in import_lines():
        if "rule_id" in line:
            body = {**strip_marker(line), "meta": {"siem_pack": marker(content_hash(line))}}
            out.append(DeployObject("rule", str(line["rule_id"]), body))
        else:  # exception lists and their items travel with the rules
            name = f"{line['list_id']}::{line['item_id']}" if "item_id" in line else str(line["list_id"])
            out.append(DeployObject("exception_list", name, line))
    return out
