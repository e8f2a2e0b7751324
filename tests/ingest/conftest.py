"""Fixtures the ingest tests share: the pipelines as loaded, and the same pipelines PUT on the
OpenSearch node under a unique prefix (for the differential tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from siem_pack.ingest.pipeline import PipelineSet, load_pipelines
from siem_pack.testing.pipelines import prefix_names


@pytest.fixture(scope="module")
def pipelines() -> PipelineSet:
    return load_pipelines()


@pytest.fixture(scope="module")
def remote_pipelines(pipelines: PipelineSet, opensearch: Any) -> Iterator[str]:
    """Every pipeline PUT on the OpenSearch node under a unique prefix; yields the prefix."""
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    for pid in pipelines.ids:
        opensearch.request("PUT", f"/_ingest/pipeline/{prefix}{pid}", prefix_names(pipelines.body(pid), prefix))
    yield prefix
    for pid in pipelines.ids:
        opensearch.request("DELETE", f"/_ingest/pipeline/{prefix}{pid}")
