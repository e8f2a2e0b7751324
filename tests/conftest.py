"""Shared test fixtures: the real engines (started by scripts/engines.py), the upstream
conformance data, and temporary stores.

Tests that need a node carry the `elasticsearch` or `opensearch` marker and use the
fixtures below. A missing node skips the test with one clear line, except under CI=true,
where it fails the run.

Two layers of tests:
- the project's own tests run from a bare clone, on fixtures the project wrote
  (ingest_pipelines/samples/, detections/fixtures/, tests/**);
- the conformance layer checks the same code against upstream data kept outside the
  project: Elastic's published sample logs and Kibana's API contracts, in a folder named by
  SIEM_PACK_SHARED or found at ../shared beside the clone. A test belongs to it when it asks
  for the `fixtures_dir` or `contracts_dir` fixture or carries the `conformance` marker.
  Without the folder, the whole layer is skipped and reported in one line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siem_pack.settings import ClusterSettings
from tests.support.es import cleanup_prefix

IN_CI = os.environ.get("CI") == "true"
SOURCE_ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE_FIXTURES = ("fixtures_dir", "contracts_dir")


def shared_dir() -> Path | None:
    """The upstream conformance data (fixtures/ and contracts/): SIEM_PACK_SHARED, else ../shared."""
    env = os.environ.get("SIEM_PACK_SHARED")
    cand = Path(env) if env else SOURCE_ROOT.parent / "shared"
    return cand.resolve() if (cand / "fixtures").is_dir() and (cand / "contracts").is_dir() else None


SHARED = shared_dir()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the conformance layer; without its data, take it out of the run (one line says so)."""
    layer = []
    for item in items:
        if item.get_closest_marker("conformance") or set(CONFORMANCE_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.conformance)
            layer.append(item)
    if SHARED is None and layer:
        config.hook.pytest_deselected(items=layer)
        items[:] = [i for i in items if i not in set(layer)]
        config.stash[_SKIPPED_LAYER] = len(layer)


_SKIPPED_LAYER = pytest.StashKey[int]()


def _layer_line(n: int) -> str:
    where = os.environ.get("SIEM_PACK_SHARED") or str(SOURCE_ROOT.parent / "shared")
    return (f"conformance layer skipped: {n} tests need the upstream samples and Kibana contracts, "
            f"not found at {where} (set SIEM_PACK_SHARED to run them)")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    n = config.stash.get(_SKIPPED_LAYER, 0)
    if n:
        terminalreporter.write_line(f"SKIPPED {_layer_line(n)}", yellow=True)


def _missing(what: str) -> None:
    msg = f"{what} not running: start it with `python scripts/engines.py start` and `source .engines/env`"
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: node tests must not skip)")
    pytest.skip(msg)


def pytest_report_header(config: pytest.Config) -> list[str]:
    es = os.environ.get("SIEM_PACK_TEST_ES_URL")
    osu = os.environ.get("SIEM_PACK_TEST_OS_URL")
    return [
        f"conformance data: {SHARED}" if SHARED else "conformance data: not found, the conformance layer is skipped",
        f"elasticsearch node: {es} ({os.environ.get('SIEM_PACK_TEST_ES_VERSION', '?')})" if es
        else "elasticsearch node: not running, node tests skip",
        f"opensearch node: {osu} ({os.environ.get('SIEM_PACK_TEST_OS_VERSION', '?')})" if osu
        else "opensearch node: not running, node tests skip",
    ]


@pytest.fixture(scope="session")
def es_settings() -> ClusterSettings:
    """Superuser settings for the real Elasticsearch node."""
    url = os.environ.get("SIEM_PACK_TEST_ES_URL")
    if not url:
        _missing("the Elasticsearch node")
    return ClusterSettings(es_url=url, user=os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                           password=os.environ.get("SIEM_PACK_TEST_ES_PASSWORD"))


@pytest.fixture(scope="session")
def es(es_settings: ClusterSettings) -> Any:
    from siem_pack.cluster import es_client

    return es_client(es_settings)


@pytest.fixture()
def es_prefix(es: Any) -> Iterator[str]:
    """A unique index-name prefix for one test; its indices are deleted afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    yield prefix
    cleanup_prefix(es, prefix)


class OpenSearchHTTP:
    """Plain-HTTP JSON calls to the OpenSearch node (the `elasticsearch` client refuses it)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')[:2000]}") from exc

    def simulate(self, pipeline: dict[str, Any], docs: list[dict[str, Any]]) -> Any:
        return self.request("POST", "/_ingest/pipeline/_simulate", {"pipeline": pipeline,
                                                                      "docs": [{"_source": d} for d in docs]})


@pytest.fixture(scope="session")
def opensearch() -> OpenSearchHTTP:
    url = os.environ.get("SIEM_PACK_TEST_OS_URL")
    if not url:
        _missing("the OpenSearch node")
    return OpenSearchHTTP(url)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Upstream sample logs (Elastic's integrations, other gateways' public examples); conformance only."""
    assert SHARED is not None, "conformance tests are deselected without the upstream data"
    return SHARED / "fixtures"


@pytest.fixture(scope="session")
def contracts_dir() -> Path:
    """Kibana's API contracts (rule schemas, OpenAPI bundles); conformance only."""
    assert SHARED is not None, "conformance tests are deselected without the upstream data"
    return SHARED / "contracts"


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh DuckDB store file."""
    return tmp_path / "siem-pack.duckdb"
