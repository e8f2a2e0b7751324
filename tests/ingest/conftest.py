"""Fixtures the ingest tests share: the pipelines as loaded, and the same pipelines PUT on the
OpenSearch node under a unique prefix (for the differential tests); and the `--regen-golden`
flag, which rewrites the golden files of our own samples (test_golden.py) instead of comparing
with them. It is an option of this folder: `pytest tests/ingest --regen-golden`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from siem_pack.ingest.pipeline import PipelineSet, load_pipelines
from tests.support.pipelines import prefix_names


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", default=False,
                     help="rewrite tests/ingest/golden/*.json from the pipelines' output (review the diff)")


@pytest.fixture(scope="session")
def regen_golden(request: pytest.FixtureRequest) -> bool:
    """True under --regen-golden: the golden test writes its files instead of comparing."""
    return bool(request.config.getoption("regen_golden", default=False))


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
