"""Cross-cutting (shared): where things are: the bundle's content folders and the embedded store.

Content folders (`ingest_pipelines/`, `detections/`, `dashboards/`, `inventory/`, `schema/`)
are found, in this order: under `SIEM_PACK_CONTENT`; as package data of an installed wheel
(`siem_pack/content/`, copied there by setup.py); at the top of the source tree (a clone or
an editable install). Nothing at runtime reads data from outside the package or the tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
DEFAULT_DB = "siem-pack.duckdb"


PACKAGED_CONTENT = PACKAGE_DIR / "content"


def content_root() -> Path:
    env = os.environ.get("SIEM_PACK_CONTENT")
    root = Path(env) if env else PACKAGED_CONTENT if (PACKAGED_CONTENT / "ingest_pipelines").is_dir() else SOURCE_ROOT
    if not (root / "ingest_pipelines").is_dir() and not (root / "schema").is_dir():
        raise ConfigError(
            f"content folders not found under {root}; set SIEM_PACK_CONTENT to a folder holding "
            "ingest_pipelines/, detections/, dashboards/, inventory/ and schema/ (a siem-pack clone)",
            where="SIEM_PACK_CONTENT",
        )
    return root


def content_dir(name: str) -> Path:
    """One of: ingest_pipelines, detections, dashboards, inventory, schema."""
    return content_root() / name


def default_db() -> Path:
    return Path(os.environ.get("SIEM_PACK_DB", DEFAULT_DB))

