"""Where things are: the bundle's content folders, the embedded store, and (for tests and
benchmarks) the read-only shared fixtures.

Content folders sit at the top of the source tree (`ingest_pipelines/`, `detections/`,
`dashboards/`, `inventory/`, `schema/`); `SIEM_PACK_CONTENT` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
DEFAULT_DB = "siem-pack.duckdb"


def content_root() -> Path:
    root = Path(os.environ.get("SIEM_PACK_CONTENT", SOURCE_ROOT))
    if not (root / "ingest_pipelines").is_dir() and not (root / "schema").is_dir():
        raise ConfigError(
            f"content folders not found under {root}; set SIEM_PACK_CONTENT to the siem-pack source tree",
            where="SIEM_PACK_CONTENT",
        )
    return root


def content_dir(name: str) -> Path:
    """One of: ingest_pipelines, detections, dashboards, inventory, schema."""
    return content_root() / name


def default_db() -> Path:
    return Path(os.environ.get("SIEM_PACK_DB", DEFAULT_DB))


def shared_dir() -> Path:
    """The read-only shared data (fixtures, contracts): `SIEM_PACK_SHARED` or ../shared."""
    env = os.environ.get("SIEM_PACK_SHARED")
    candidates = [Path(env)] if env else [SOURCE_ROOT.parent / "shared"]
    for cand in candidates:
        if (cand / "fixtures").is_dir():
            return cand.resolve()
    raise ConfigError(
        f"shared fixtures folder not found (looked in {', '.join(str(c) for c in candidates)}); "
        "set SIEM_PACK_SHARED to the folder holding fixtures/ and contracts/",
        where="SIEM_PACK_SHARED",
    )


def fixtures_dir() -> Path:
    return shared_dir() / "fixtures"


def contracts_dir() -> Path:
    return shared_dir() / "contracts"
