"""Stage 1 → 2: load the ingest pipelines (content) into a frozen, validated `PipelineSet`.

Pipelines are `ingest_pipelines/<pipeline_id>.yml` (top-level files only; subfolders hold
other data), each an Elasticsearch pipeline body. More are built from code, the registry
siem_pack.ingest.GENERATED: `siem_pack-inventory` (siem_pack.inventory.compile_pipeline),
`siem_pack-secrets` (siem_pack.ingest.secrets.compile_pipeline) and `siem_pack-geo`
(siem_pack.ingest.geoip, for the databases of `--geoip-db DIR` / SIEM_PACK_GEOIP_DB); a
generated body replaces a file of the same id.
Every problem in every file is collected and reported together, each with its path and
processor tag. The executor (siem_pack.ingest.executor) is compiled once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import ContentError, ContentErrors, SiemPackError, collect
from ..paths import content_dir
from . import GENERATED
from .executor import Executor
from .geoip import DEFAULT_DB_NAMES, GEO_PIPELINE
from .geoip import compile_pipeline as geo_pipeline

ENTRY = "siem_pack-entry"
INVENTORY = "siem_pack-inventory"
SECRETS = "siem_pack-secrets"
GEO = "siem_pack-geo"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


@dataclass(frozen=True)
class PipelineSet:
    """Pipeline bodies by id, where each came from, and the compiled offline executor."""

    bodies: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, str]
    executor: Executor = field(repr=False, compare=False)

    @property
    def ids(self) -> list[str]:
        return sorted(self.bodies)

    def body(self, pipeline_id: str) -> dict[str, Any]:
        """A plain (mutable) copy of one body, ready to PUT."""
        import copy

        return copy.deepcopy(dict(self.bodies[pipeline_id]))


def _generated(inventory_dir: Path | None, geoip_db: Path | None,
               problems: list[SiemPackError]) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for pid, gen in GENERATED.items():
        try:
            body = gen.build(inventory_dir, geoip_db)
        except ContentErrors as exc:
            problems.extend(exc.problems)
            continue
        except SiemPackError as exc:
            problems.append(exc)
            continue
        out[pid] = (body, f"<generated {pid} by {gen.by}>")
    return out


def load_pipelines(folder: Path | None = None, inventory_dir: Path | None = None,
                   include_generated: bool = True, geoip_db: Path | None = None) -> PipelineSet:
    """Load, validate and compile every pipeline. Raises `ContentError(s)` naming each
    problem's file and processor."""
    folder = folder or content_dir("ingest_pipelines")
    problems: list[SiemPackError] = []
    bodies: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if not folder.is_dir():
        raise ContentError("pipeline folder not found", where=str(folder))
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            body = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problems.append(ContentError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where=where))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(ContentError(f"cannot read: {exc}", where=str(path)))
            continue
        if not isinstance(body, dict):
            problems.append(ContentError("a pipeline file holds one mapping (the pipeline body)", where=str(path)))
            continue
        bodies[path.stem] = body
        sources[path.stem] = str(path)
    if include_generated:
        for pid, (body, src) in _generated(inventory_dir, geoip_db, problems).items():
            bodies[pid] = body
            sources[pid] = src
    executor: Executor | None = None
    try:
        executor = Executor(bodies, sources, geoip_db=geoip_db)
    except ContentErrors as exc:
        problems.extend(exc.problems)
    except ContentError as exc:
        problems.append(exc)
    collect(problems)
    assert executor is not None
    return PipelineSet(MappingProxyType(bodies), MappingProxyType(sources), executor)


def cluster_bodies() -> dict[str, dict[str, Any]]:
    """Every pipeline body as a cluster receives it (deploy, doctor): the files and the generated
    pipelines, with the geo step reading the cluster's own GeoLite2 databases."""
    pipelines = load_pipelines()
    bodies = {pid: pipelines.body(pid) for pid in pipelines.ids}
    bodies[GEO_PIPELINE] = dict(geo_pipeline(DEFAULT_DB_NAMES))
    return bodies


def pipelines_from_bodies(bodies: Mapping[str, Mapping[str, Any]]) -> PipelineSet:
    """A set from in-memory bodies (tests, generated content)."""
    ex = Executor(bodies)
    return PipelineSet(MappingProxyType(dict(bodies)), MappingProxyType({k: k for k in bodies}), ex)


def processor_types(bodies: Mapping[str, Any]) -> list[str]:
    """Every processor type the pipeline bodies use (nested ones included: `on_failure`,
    `foreach`), sorted: what a cluster must have to run them (doctor, ingest)."""
    found: set[str] = set()
    for body in bodies.values():
        _walk_processors(body, found)
    return sorted(found)


def _walk_processors(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key in ("processors", "on_failure"):
            for proc in node.get(key) or []:
                if isinstance(proc, dict):
                    for ptype, conf in proc.items():
                        found.add(ptype)
                        _walk_processors(conf, found)
        if "processor" in node and isinstance(node["processor"], dict):  # foreach
            for ptype, conf in node["processor"].items():
                found.add(ptype)
                _walk_processors(conf, found)
