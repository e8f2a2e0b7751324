"""Fixtures for the baseline tests: seeded synthetic usage (siem_pack.baselines.synthetic),
small enough to keep the suite fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.baselines import synthetic

KEY = b"test-baseline-key-0123456789"


@pytest.fixture(scope="session")
def small_usage() -> synthetic.Usage:
    """~1.7k events: 8 people and a batch account over 4 days, no injections."""
    return synthetic.generate(seed=11, humans=8, services=1, train_days=3, test_days=1, rate=3.0, inject=False)


@pytest.fixture(scope="session")
def quality_usage() -> synthetic.Usage:
    """~33k events over 18 days with labelled anomalies and benign traps in the last 4."""
    return synthetic.generate(seed=7)


@pytest.fixture()
def key() -> bytes:
    return KEY


@pytest.fixture()
def usage_db(tmp_path: Path, quality_usage: synthetic.Usage) -> Path:
    """A DuckDB store holding the quality usage (bulk-loaded)."""
    path = tmp_path / "usage.duckdb"
    with Store(path) as store:
        synthetic.load_duckdb(store, quality_usage.events)
    return path


def load_docs(path: Path, usage: synthetic.Usage) -> None:
    """The usage as whole ECS documents, through Store.insert_events."""
    with Store(path) as store:
        store.insert_events(usage.docs())
