"""Shared test fixtures: the real engines (started by scripts/engines.py), the shared
fixture folder, and temporary stores.

Tests that need a node carry the `elasticsearch` or `opensearch` marker and use the
fixtures below. A missing node skips the test with one clear line, except under CI=true,
where it fails the run.
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

from siem_pack.errors import ConfigError
from siem_pack.paths import contracts_dir as _contracts_dir
from siem_pack.paths import fixtures_dir as _fixtures_dir
from siem_pack.settings import ClusterSettings
from siem_pack.testing.es import cleanup_prefix

IN_CI = os.environ.get("CI") == "true"


def _missing(what: str) -> None:
    msg = f"{what} not running: start it with `python scripts/engines.py start` and `source .engines/env`"
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: node tests must not skip)")
    pytest.skip(msg)


def pytest_report_header(config: pytest.Config) -> list[str]:
    es = os.environ.get("SIEM_PACK_TEST_ES_URL")
    osu = os.environ.get("SIEM_PACK_TEST_OS_URL")
    return [
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
    """The read-only shared sample logs (../shared/fixtures); fails clearly when missing."""
    try:
        return _fixtures_dir()
    except ConfigError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def contracts_dir() -> Path:
    """The read-only Kibana API contracts (../shared/contracts)."""
    try:
        return _contracts_dir()
    except ConfigError as exc:
        pytest.fail(str(exc))


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh DuckDB store file."""
    return tmp_path / "siem-pack.duckdb"
