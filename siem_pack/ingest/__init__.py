"""Stage 1 → 2: raw gateway and provider logs → ECS events.

- formats.py: `FORMATS`, the one registry of log formats: name → its ingest pipeline
  (`ingest_pipelines/<pipeline_id>.yml`, reached from the entry pipeline) and its samples;
- pipeline.py: loads and validates `ingest_pipelines/*.yml` plus the pipelines built from code
  (`GENERATED`, below) into a frozen `PipelineSet`;
- executor.py, processors/ (grok among them), painless.py: the offline executor (Elasticsearch
  semantics, no cluster); geoip.py adds the `geoip` processor;
- reader.py: files and folders → records (or dead letters).

The ingest job that runs these parts (records → pipelines → the embedded store or
Elasticsearch, with the ingest invariant) is siem_pack.ingest_job, above this package and
siem_pack.templates, so nothing here imports it.

What ingest runs is listed here, not found: the formats (`FORMATS`), the pipelines built from
code (`GENERATED`), and the modules that add processors to the executor's registry
(`PROCESSOR_MODULES`). Nothing is looked up by module name. This module imports none of the
submodules that read these lists (pipeline.py reads `GENERATED`), so it closes no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from .. import inventory
from . import geoip, secrets
from .formats import FORMATS as FORMATS


@dataclass(frozen=True)
class Generated:
    """A pipeline built from code: `build(inventory_dir, geoip_db)` returns its body, which
    replaces a file of the same id; `by` names the function that builds it."""

    build: Callable[[Path | None, Path | None], Mapping[str, Any]]
    by: str


def _inventory_pipeline(inventory_dir: Path | None, geoip_db: Path | None) -> Mapping[str, Any]:
    return inventory.compile_pipeline(inventory.load_inventory(inventory_dir))


def _secrets_pipeline(inventory_dir: Path | None, geoip_db: Path | None) -> Mapping[str, Any]:
    return secrets.compile_pipeline()


def _geo_pipeline(inventory_dir: Path | None, geoip_db: Path | None) -> Mapping[str, Any]:
    return geoip.geo_pipeline(geoip_db)


# pipeline id → how it is built (identities and aliases from the inventory; secret detectors;
# the geo step over the databases of --geoip-db / SIEM_PACK_GEOIP_DB)
GENERATED: Mapping[str, Generated] = MappingProxyType({
    inventory.PIPELINE_ID: Generated(_inventory_pipeline, "siem_pack.inventory.compile_pipeline"),
    secrets.PIPELINE_ID: Generated(_secrets_pipeline, "siem_pack.ingest.secrets.compile_pipeline"),
    geoip.GEO_PIPELINE: Generated(_geo_pipeline, "siem_pack.ingest.geoip.geo_pipeline"),
})

# Modules that add processors to siem_pack.ingest.processors.PROCESSORS beyond the package's
# own; each registers its processors as it is imported, and the import above is where that
# happens, before any pipeline compiles. (grok is listed in processors/registry.py.)
PROCESSOR_MODULES: tuple[ModuleType, ...] = (geoip,)
