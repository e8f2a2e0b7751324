"""Cross-cutting (deploy), `siem-pack doctor`: what a cluster (or the embedded default) can run.

Probes, read-only: server version and distribution; the ingest processors our pipelines
need (from `_nodes/ingest`); mapper types our templates use (by simulating a template, which
writes nothing); data streams, ILM, ES|QL, EQL (from the node's modules); security (the
`_security/_authenticate` call). `deploy` reads the same report to adapt.

Neighbours: siem_pack.ingest.pipeline (our pipelines as a cluster receives them, and the
processor types they use), siem_pack.cluster; templates and deploy read the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import ApiError, Elasticsearch

from . import __version__
from .cluster import es_client, redact_url, translated
from .errors import ConfigError, SiemPackError
from .ingest.pipeline import cluster_bodies, processor_types
from .paths import content_dir, default_db
from .schema import load_schema
from .settings import ClusterSettings

MAPPER_TYPES = ("match_only_text", "wildcard", "constant_keyword", "flattened")
# node modules (or plugins) that bring a capability
FEATURE_MODULES = {
    "data_streams": ("data-streams",),
    "ilm": ("x-pack-ilm",),
    "esql": ("x-pack-esql",),
    "eql": ("x-pack-eql",),
}


@dataclass
class Capability:
    name: str
    present: bool
    detail: str = ""


@dataclass
class DoctorReport:
    target: str
    version: str = ""
    distribution: str = ""
    processors: list[Capability] = field(default_factory=list)
    mappers: list[Capability] = field(default_factory=list)
    features: list[Capability] = field(default_factory=list)
    deployable: list[Capability] = field(default_factory=list)

    def has(self, name: str) -> bool:
        for cap in (*self.processors, *self.mappers, *self.features):
            if cap.name == name:
                return cap.present
        return False

    @property
    def missing_processors(self) -> list[str]:
        return [c.name for c in self.processors if not c.present]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pipeline_processors(pipelines: Mapping[str, Any] | None = None) -> list[str]:
    """Every processor type our pipelines use (generated ones and nested ones included), sorted.
    `pipelines`: the cluster pipeline bodies when the caller has them already."""
    if pipelines is None:
        try:
            pipelines = cluster_bodies()
        except SiemPackError:  # content errors are the loader's to report: read the files as they are
            folder = content_dir("ingest_pipelines")
            pipelines = {str(p): _read_yaml(p) for p in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])}
    return processor_types(pipelines)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def probe_cluster(settings: ClusterSettings, pipelines: Mapping[str, Any] | None = None) -> DoctorReport:
    """What the cluster can run; `pipelines` as for `pipeline_processors`."""
    url = settings.require_es()
    client = es_client(settings)
    report = DoctorReport(target=redact_url(url))
    with translated(url):
        nodes = client.nodes.info(node_id="_local", metric=["plugins", "ingest"]).body
        node: dict[str, Any] = next(iter(nodes.get("nodes", {}).values()), {})
        report.version = str(node.get("version", ""))
        report.distribution = str(node.get("build_flavor", "")) or "default"
        modules = {m.get("name") for m in node.get("modules", [])} | {p.get("name") for p in node.get("plugins", [])}
        available = {p.get("type") for p in node.get("ingest", {}).get("processors", [])}
        for ptype in pipeline_processors(pipelines):
            report.processors.append(Capability(ptype, ptype in available))
        for mtype in MAPPER_TYPES:
            report.mappers.append(_probe_mapper(client, mtype))
        for feature, mods in FEATURE_MODULES.items():
            present = any(m in modules for m in mods)
            report.features.append(Capability(feature, present, "module " + "/".join(mods)))
        report.features.append(_probe_security(client))
    report.deployable = deployable_parts(report)
    return report


def _probe_mapper(client: Elasticsearch, mtype: str) -> Capability:
    body = {"index_patterns": ["siem-pack-doctor-probe"],
            "template": {"mappings": {"properties": {"probe": {"type": mtype}}}}}
    try:
        client.indices.simulate_template(body=body)
        return Capability(mtype, True)
    except ApiError as exc:
        if exc.meta.status == 400:
            return Capability(mtype, False, "fallback to a core type")
        raise


def _probe_security(client: Elasticsearch) -> Capability:
    try:
        who = client.security.authenticate().body
        return Capability("security", True, f"authenticated as {who.get('username', '?')}")
    except ApiError as exc:
        if exc.meta.status in (400, 404, 405, 500):
            return Capability("security", False, "security API not available")
        raise


def deployable_parts(report: DoctorReport) -> list[Capability]:
    """Which parts of the pack can be deployed on this cluster, and how."""
    parts = [Capability("index templates", True,
                        "all mapper types present" if all(m.present for m in report.mappers)
                        else "with core-type fallbacks for " + ", ".join(m.name for m in report.mappers if not m.present))]
    missing = report.missing_processors
    parts.append(Capability("ingest pipelines", not missing,
                            "all processors present" if not missing
                            else f"missing {', '.join(missing)}: normalize with the offline executor (siem-pack ingest --es-url)"))
    parts.append(Capability("data streams", report.has("data_streams"),
                            "logs-siem_pack.<format>-<namespace>" if report.has("data_streams") else "index plus alias instead"))
    parts.append(Capability("retention (ILM)", report.has("ilm"),
                            "lifecycle policy" if report.has("ilm") else "not enforced on this cluster"))
    parts.append(Capability("job roles and API keys", report.has("security"),
                            "least-privilege roles" if report.has("security") else "security is off: no roles"))
    parts.append(Capability("detection rules (search runner)", True, "query, threshold, new_terms, sequences"))
    return parts


def probe_embedded(db: Path | None = None) -> DoctorReport:
    """Readiness of the embedded default: the DuckDB file and the content."""
    import duckdb

    path = db or default_db()
    report = DoctorReport(target=f"embedded DuckDB {path}", version=duckdb.__version__, distribution="duckdb")
    try:
        schema = load_schema()
        report.features.append(Capability("field schema", True, f"{len(schema.fields)} fields"))
    except SiemPackError as exc:
        report.features.append(Capability("field schema", False, str(exc)))
    exists = path.is_file()
    writable = path.parent.resolve().exists() and (exists or _writable_dir(path.parent.resolve()))
    report.features.append(Capability("store file", writable, ("exists" if exists else "will be created") + f": {path}"))
    for folder in ("ingest_pipelines", "detections", "dashboards", "inventory"):
        try:
            d = content_dir(folder)
            n = sum(1 for p in d.rglob("*") if p.is_file())
            report.features.append(Capability(f"content {folder}/", d.is_dir(), f"{n} file(s)"))
        except ConfigError as exc:
            report.features.append(Capability(f"content {folder}/", False, str(exc)))
    report.features.append(Capability("siem-pack", True, __version__))
    return report


def _writable_dir(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK)


def render(report: DoctorReport) -> str:
    lines = [f"target: {report.target}", f"version: {report.version} ({report.distribution})"]
    for title, caps in (("ingest processors our pipelines need", report.processors),
                        ("mapper types", report.mappers), ("features", report.features),
                        ("deployable parts", report.deployable)):
        if not caps:
            continue
        lines.append(f"\n{title}:")
        width = max(len(c.name) for c in caps)
        for c in caps:
            mark = "yes" if c.present else "NO "
            lines.append(f"  {c.name.ljust(width)}  {mark}  {c.detail}".rstrip())
    return "\n".join(lines)


def to_json(report: DoctorReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
