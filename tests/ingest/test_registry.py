"""The ingest plugins are listed in siem_pack/ingest/__init__.py: the formats, the pipelines
built from code and the modules that add processors. Nothing is found by module name, and
the `geoip` processor is there whichever ingest module a program imports first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from siem_pack import ingest
from siem_pack.ingest.formats import FORMATS
from siem_pack.ingest.pipeline import PipelineSet


def test_the_registry_lists_the_formats_and_the_generated_pipelines() -> None:
    assert ingest.FORMATS is FORMATS
    assert set(ingest.GENERATED) == {"siem_pack-inventory", "siem_pack-secrets", "siem_pack-geo"}


@pytest.mark.parametrize("pid", sorted(ingest.GENERATED))
def test_each_generated_pipeline_is_loaded_from_the_registry(pid: str, pipelines: PipelineSet) -> None:
    assert pipelines.sources[pid] == f"<generated {pid} by {ingest.GENERATED[pid].by}>"
    assert pipelines.bodies[pid] == ingest.GENERATED[pid].build(None, None)


@pytest.mark.parametrize("first", ["siem_pack.ingest.executor", "siem_pack.ingest.processors", "siem_pack.ingest.processors.grok",
                                   "siem_pack.inventory", "siem_pack.templates"])
def test_the_geoip_processor_is_registered_whatever_is_imported_first(first: str) -> None:
    code = f"import {first}; from siem_pack.ingest.processors import PROCESSORS; print('geoip' in PROCESSORS)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True"
