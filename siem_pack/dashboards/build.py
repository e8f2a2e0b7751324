"""Stage 4: the library behind `siem-pack dashboards build|check|export`: load the specs,
check them (checks.py), write the Kibana import bodies (kibana.py). `deploy` renders the
same objects with kibana.saved_objects (siem_pack.deploy.bundle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SiemPackError, collect
from .checks import check_all
from .kibana import KIBANA_VERSIONS, check_version, import_request, saved_objects, to_ndjson
from .spec import load_dashboards

BUNDLE_NAME = "siem-pack-dashboards.ndjson"


@dataclass(frozen=True)
class CheckResult:
    dashboards: int
    panels: int
    versions: tuple[str, ...]
    problems: tuple[SiemPackError, ...]


def check_dashboards(versions: tuple[str, ...] = KIBANA_VERSIONS, folder: Path | None = None) -> CheckResult:
    """Every static and contract check, every dashboard, each Kibana version."""
    versions = tuple(check_version(v) for v in versions)
    dashes = load_dashboards(folder)
    problems = check_all(dashes, versions)
    return CheckResult(len(dashes), sum(len(d.panels) for d in dashes), versions, tuple(problems))


def bundle_objects(versions: tuple[str, ...], folder: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """The saved objects per Kibana version, after every check passed (refused on any problem)."""
    versions = tuple(check_version(v) for v in versions)
    dashes = load_dashboards(folder)
    collect(check_all(dashes, versions))
    return {version: saved_objects(dashes, version) for version in versions}


def build(out_dir: Path, versions: tuple[str, ...] = KIBANA_VERSIONS, folder: Path | None = None) -> list[Path]:
    """Check, then write `<out_dir>/<version>/siem-pack-dashboards.ndjson` per version."""
    written = []
    for version, objects in bundle_objects(versions, folder).items():
        path = out_dir / version / BUNDLE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_ndjson(objects))
        written.append(path)
    return written


def export(version: str, space: str = "default", folder: Path | None = None,
           filename: str = BUNDLE_NAME) -> tuple[str, str]:
    """(NDJSON body, a curl line that imports it from `filename`) for one Kibana version, checked first."""
    req = import_request(bundle_objects((version,), folder)[version], space=space, filename=filename)
    curl = (f"curl -X POST \"$KIBANA_URL{req.path}?overwrite=true\" -H 'kbn-xsrf: true' "
            f"-u \"$USER:$PASSWORD\" --form file=@{req.filename}")
    return req.ndjson, curl
