"""Stage 2 storage on Elasticsearch: index templates, built from the schema as data.

Input: `schema/fields.yml` (the event schema, through `siem_pack.schema`), `schema/indices/`
(one file per index of our own: which event field groups it composes, plus its fields),
`schema/retention.yml` (the ILM policy body), the format registry
(`siem_pack.ingest.formats`), and a `siem-pack doctor` report of what the cluster can run.
Output: a plan of idempotent PUTs (`template_bodies`) and the one writer (`install`).

The plan adapts to the cluster:
- mapper types the cluster lacks (`match_only_text`, `wildcard`, `constant_keyword`) use the
  schema's core-type `fallback`;
- `index.default_pipeline: siem_pack-entry` only where the cluster has every ingest
  processor our pipelines use;
- a data stream per format where the cluster has data streams; elsewhere an index
  `logs-siem_pack.<format>-<namespace>-000001` behind the write alias
  `logs-siem_pack.<format>-<namespace>` (`write_index_step`; deploy makes it for the default
  namespace, `ensure_write_target` before ingest's first write to any other);
- the retention policy only where the cluster has ILM; elsewhere `notes` says retention is
  not enforced.

Every body carries `_meta` with the bundle version and a content hash, which `deploy`
compares with the installed one. Neighbours: `siem_pack.doctor` (the report),
`siem_pack.ingest` (the pipelines named by `index.default_pipeline`), deploy (issue 8).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from elasticsearch import ApiError, AuthorizationException, Elasticsearch

from . import __version__
from .backends.indices import EVENTS_TARGET
from .doctor import DoctorReport
from .errors import ClusterError, ContentError
from .ingest.formats import ENTRY_PIPELINE, FORMATS
from .paths import content_dir
from .schema import Schema, load_schema

Kind = Literal["ilm_policy", "component_template", "index_template", "index"]
Dynamic = Literal["strict", "false", "true"]

# event field groups, each one component template: name → field-name predicate prefix
GROUPS: dict[str, tuple[str, ...]] = {"gen_ai": ("gen_ai.",), "siem_pack": ("siem_pack.",), "ecs": ()}
EVENT_GROUPS = ("ecs", "gen_ai", "siem_pack")
DEFAULT_NAMESPACE = "default"
PRIORITY = 200  # above Elastic's built-in `logs` template (100) for logs-*-*
MANAGED_BY = "siem-pack"
MARKER_KEYS = ("_meta", "metadata", "meta")
STRINGS_AS_KEYWORD = [{"strings_as_keyword": {"match_mapping_type": "string",
                                              "mapping": {"type": "keyword", "ignore_above": 1024}}}]


class Step(NamedTuple):
    """One idempotent PUT: `PUT <kind endpoint>/<name>` with `body`."""

    kind: Kind
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class OwnIndex:
    """An index of our own (`schema/indices/<name>.yml`)."""

    name: str
    description: str
    compose: tuple[str, ...]
    dynamic: Dynamic
    schema: Schema


@dataclass
class InstallResult:
    applied: list[tuple[Kind, str, str]] = field(default_factory=list)  # (kind, name, "created"|"updated"|"exists")
    notes: list[str] = field(default_factory=list)


def group_of(name: str) -> str:
    for group, prefixes in GROUPS.items():
        if any(name.startswith(p) for p in prefixes):
            return group
    return "ecs"


def unsupported_mappers(report: DoctorReport) -> frozenset[str]:
    return frozenset(m.name for m in report.mappers if not m.present)


def has_processors(report: DoctorReport) -> bool:
    """True when the cluster runs every ingest processor our pipelines use."""
    return bool(report.processors) and not report.missing_processors


def notes(report: DoctorReport) -> list[str]:
    """What the plan cannot do on this cluster, in words."""
    out = []
    missing = sorted(unsupported_mappers(report))
    if missing:
        out.append(f"mapper types {', '.join(missing)} missing: their fields use core-type fallbacks")
    if not has_processors(report):
        why = (f"missing processors {', '.join(report.missing_processors)}" if report.processors
               else "no pipeline processors reported")
        out.append(f"no index.default_pipeline ({why}): normalize with the offline executor (siem-pack ingest --es-url)")
    if not report.has("data_streams"):
        out.append("no data streams: each format gets an index logs-siem_pack.<format>-<namespace>-000001 "
                   "behind the write alias logs-siem_pack.<format>-<namespace>")
    if not report.has("ilm"):
        out.append("no ILM: retention is not enforced on this cluster (delete old indices yourself)")
    return out


def strip_marker(body: Any) -> Any:
    """A body without our marker (`_meta`, `metadata` on roles and keys, `meta` on rules)."""
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if k not in MARKER_KEYS}


def content_hash(body: Any) -> str:
    """SHA-256 of the canonical JSON of a body without its marker."""
    return hashlib.sha256(json.dumps(strip_marker(body), sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


def marker(obj_hash: str, **extra: Any) -> dict[str, Any]:
    """What every object we own carries: who manages it, the bundle version, its content hash."""
    return {"managed_by": MANAGED_BY, "version": __version__, "content_hash": obj_hash, **extra}


def _with_meta(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**body, "_meta": marker(content_hash(body), **extra)}


def group_properties(schema: Schema, group: str, unsupported: frozenset[str]) -> dict[str, Any]:
    sub = Schema(tuple(f for f in schema.fields if group_of(f.name) == group))
    return sub.es_properties(unsupported)


def component_name(group: str, prefix: str = "") -> str:
    return f"{prefix}siem_pack-{group}@mappings"


def template_bodies(report: DoctorReport, prefix: str = "", namespace: str = DEFAULT_NAMESPACE,
                    dynamic: Dynamic = "false", schema: Schema | None = None) -> list[Step]:
    """The plan: every body to PUT on the cluster `report` describes, in install order.

    `prefix` goes in front of every name and index pattern (tests use a unique one).
    `dynamic` is the mapping's `dynamic` for event indices: `false` (default: an unmapped
    field stays in `_source`, never a rejected event) or `strict` (tests: an unmapped field
    fails the write).
    """
    schema = schema or load_schema()
    unsupported = unsupported_mappers(report)
    steps: list[Step] = []
    policy = retention_policy()
    ilm = report.has("ilm")
    policy_name = f"{prefix}{policy['name']}"
    if ilm:
        steps.append(Step("ilm_policy", policy_name, _with_meta({"policy": policy["policy"]})))
    body: dict[str, Any]
    for group in EVENT_GROUPS:
        body = {"template": {"mappings": {"properties": group_properties(schema, group, unsupported)}}}
        steps.append(Step("component_template", component_name(group, prefix),
                          _with_meta(body, description=f"siem-pack {group} fields (schema/fields.yml)")))
    data_streams = report.has("data_streams")
    pipeline = has_processors(report)
    for fmt in sorted(FORMATS.values(), key=lambda f: f.name):
        settings: dict[str, Any] = {}
        if pipeline:
            settings["index.default_pipeline"] = ENTRY_PIPELINE
        if ilm:
            settings["index.lifecycle.name"] = policy_name
        template: dict[str, Any] = {"mappings": {"dynamic": dynamic}}
        if settings:
            template["settings"] = settings
        body = {"index_patterns": [f"{prefix}logs-{fmt.dataset}-*"], "priority": PRIORITY,
                "composed_of": [component_name(g, prefix) for g in EVENT_GROUPS], "template": template}
        if data_streams:
            body["data_stream"] = {}
        steps.append(Step("index_template", f"{prefix}logs-{fmt.dataset}",
                          _with_meta(body, description=fmt.description)))
    for own in own_indices():
        template = {"mappings": {"dynamic": own.dynamic, "properties": own.schema.es_properties(unsupported)}}
        if own.dynamic == "true":
            template["mappings"]["dynamic_templates"] = STRINGS_AS_KEYWORD
        body = {"index_patterns": [f"{prefix}{own.name}*"], "priority": PRIORITY,
                "composed_of": [component_name(g, prefix) for g in own.compose], "template": template}
        steps.append(Step("index_template", f"{prefix}{own.name}", _with_meta(body, description=own.description)))
    if not data_streams:
        for fmt in sorted(FORMATS.values(), key=lambda f: f.name):
            steps.append(write_index_step(f"{prefix}{events_alias(fmt.name, namespace)}", ilm))
    return steps


def write_index_step(alias: str, ilm: bool) -> Step:
    """Where the cluster has no data streams: the first index `<alias>-000001` behind the
    write alias `<alias>` (deploy makes it for the default namespace, ingest for any other)."""
    body: dict[str, Any] = {"aliases": {alias: {"is_write_index": True}}}
    if ilm:
        body["settings"] = {"index.lifecycle.rollover_alias": alias}
    return Step("index", f"{alias}-000001", body)


# [prefix]logs-siem_pack.<format>-<namespace>: the format's name is group 1
_EVENTS_TARGET = re.compile(re.escape(EVENTS_TARGET.partition("{format}")[0]) + r"([a-z0-9_]+)-[^*,]+$")


def ensure_write_target(client: Elasticsearch, target: str) -> str:
    """Before the first write to an events target `[prefix]logs-siem_pack.<format>-<namespace>`
    on a cluster without data streams, make the layout deploy makes: `<target>-000001` behind
    the write alias `<target>` (with data streams the first write creates the data stream).
    Returns "exists", "data_stream", "created" or "not ours" (any other name: left to the
    cluster). Needs `create_index` and `manage` on the names (an administrator's key): a job
    key that lacks them gets a ClusterError that says so, never a plain index instead."""
    from .doctor import FEATURE_MODULES

    m = _EVENTS_TARGET.search(target)
    if not m or m.group(1) not in FORMATS:
        return "not ours"
    if client.indices.exists(index=target).body:  # an index, alias or data stream already
        return "exists"
    nodes = client.nodes.info(node_id="_local", metric=["plugins"]).body
    node: dict[str, Any] = next(iter(nodes.get("nodes", {}).values()), {})
    modules = {x.get("name") for x in [*node.get("modules", []), *node.get("plugins", [])]}
    if any(x in modules for x in FEATURE_MODULES["data_streams"]):
        return "data_stream"
    ilm = any(x in modules for x in FEATURE_MODULES["ilm"])
    try:
        return put_step(client, write_index_step(target, ilm))
    except AuthorizationException as exc:
        raise ClusterError(f"the cluster has no data streams, so the first write index {target}-000001 behind "
                           "this write alias must be created, and this key may not (it needs create_index and "
                           "manage on it): run this ingest once with an administrator's key", where=target) from exc


def events_alias(fmt: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The data stream (or write alias) events of a format go to."""
    return EVENTS_TARGET.format(format=FORMATS[fmt].name, namespace=namespace)


def install(client: Elasticsearch, report: DoctorReport, prefix: str = "", namespace: str = DEFAULT_NAMESPACE,
            dynamic: Dynamic = "false") -> InstallResult:
    """PUT every planned body (idempotent: an existing index is left alone, templates and
    policies are overwritten with the same body). Returns what was done and the notes."""
    result = InstallResult(notes=notes(report))
    for step in template_bodies(report, prefix=prefix, namespace=namespace, dynamic=dynamic):
        result.applied.append((step.kind, step.name, put_step(client, step)))
    return result


def put_step(client: Elasticsearch, step: Step) -> str:
    """PUT one step; an index (or its write alias) that exists already is left alone.
    Returns "put", "created" or "exists"."""
    kind, name, body = step
    if kind == "ilm_policy":
        client.ilm.put_lifecycle(name=name, policy=body["policy"] | {"_meta": body["_meta"]})
        return "put"
    if kind == "component_template":
        client.cluster.put_component_template(name=name, body=body)
        return "put"
    if kind == "index_template":
        client.indices.put_index_template(name=name, body=body)
        return "put"
    aliases = body.get("aliases") or {}
    if client.indices.exists(index=name).body or any(client.indices.exists_alias(name=a).body for a in aliases):
        return "exists"
    try:
        client.indices.create(index=name, **body)
    except ApiError as exc:
        if exc.meta.status == 400 and "already_exists" in str(exc.body):
            return "exists"
        raise
    return "created"


@lru_cache(maxsize=1)
def retention_policy() -> dict[str, Any]:
    path = content_dir("schema") / "retention.yml"
    raw = _read_yaml(path)
    if not isinstance(raw.get("name"), str) or not isinstance(raw.get("policy"), dict):
        raise ContentError("expected keys `name` (string) and `policy` (an ILM policy body)", where=str(path))
    return raw


def own_indices(folder: Path | None = None) -> list[OwnIndex]:
    folder = folder or content_dir("schema") / "indices"
    return list(_own_indices(str(folder)))


@lru_cache(maxsize=4)
def _own_indices(folder: str) -> tuple[OwnIndex, ...]:
    out = []
    for path in sorted(Path(folder).glob("*.yml")):
        raw = _read_yaml(path)
        compose = tuple(raw.get("compose") or ())
        unknown = [g for g in compose if g not in EVENT_GROUPS]
        if unknown:
            raise ContentError(f"unknown field group(s) {unknown}; known: {', '.join(EVENT_GROUPS)}", where=str(path))
        dynamic = str(raw.get("dynamic", "false")).lower()
        if dynamic not in ("strict", "false", "true"):
            raise ContentError(f"dynamic must be strict, false or true, not {dynamic!r}", where=str(path))
        out.append(OwnIndex(name=path.stem, description=str(raw.get("description", "")), compose=compose,
                            dynamic=dynamic,  # type: ignore[arg-type]
                            schema=load_schema(path)))
    return tuple(out)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"cannot read: {exc}", where=str(path)) from exc
    if not isinstance(raw, dict):
        raise ContentError("expected a mapping", where=str(path))
    return raw
