"""Cross-cutting (storage): every index name of the bundle, in one place.

Our own indices are declared by their mapping files, `schema/indices/<name>.yml` (deploy
makes their templates from them); the names below are those files' stems, checked against
the folder when this module is imported, so a renamed or removed mapping file fails loudly
instead of leaving a stage writing to an index nobody maps. The events are data streams'
backing indices named by format (`logs-siem_pack.<format>-<namespace>`) and read through one
pattern. The embedded store uses table names (siem_pack.backends.duckdb), not these.

`Indices.prefixed(prefix)` puts deploy's `--prefix` in front of each (tests and drills use
a unique prefix per run).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

from ..errors import ContentError
from ..paths import content_dir

EVENTS_PATTERN = "logs-siem_pack.*"  # every format's events (the rules, features and seals read this)
EVENTS_TARGET = "logs-siem_pack.{format}-{namespace}"  # where ingest writes one format's events


@lru_cache(maxsize=1)
def declared() -> frozenset[str]:
    """The names of schema/indices/*.yml (our own indices, one mapping file each)."""
    return frozenset(p.stem for p in (content_dir("schema") / "indices").glob("*.yml"))


def _own(name: str) -> str:
    if name not in declared():
        folder = content_dir("schema") / "indices"
        raise ContentError(f"index {name} has no mapping file {name}.yml", where=str(folder))
    return name


ALERTS_INDEX = _own("siem-pack-alerts")
ANOMALIES_INDEX = _own("siem-pack-anomalies")
ACTIONS_INDEX = _own("siem-pack-actions")
WORKFLOW_INDEX = _own("siem-pack-alert-workflow")
METRICS_INDEX = _own("siem-pack-metrics")
SEALS_INDEX = _own("siem-pack-seals")
APPROVALS_INDEX = _own("siem-pack-approvals")
DEAD_LETTER_INDEX = _own("siem-pack-dead-letters")


@dataclass(frozen=True)
class Indices:
    """The names one run reads and writes, each with the deploy prefix in front."""

    alerts: str = ALERTS_INDEX
    events: str = EVENTS_PATTERN
    anomalies: str = ANOMALIES_INDEX
    actions: str = ACTIONS_INDEX
    workflow: str = WORKFLOW_INDEX
    metrics: str = METRICS_INDEX
    seals: str = SEALS_INDEX
    approvals: str = APPROVALS_INDEX
    dead_letters: str = DEAD_LETTER_INDEX

    @classmethod
    def prefixed(cls, prefix: str = "") -> Indices:
        return cls(**{f.name: prefix + str(f.default) for f in fields(cls)})


__all__ = ["ACTIONS_INDEX", "ALERTS_INDEX", "ANOMALIES_INDEX", "APPROVALS_INDEX", "DEAD_LETTER_INDEX",
           "EVENTS_PATTERN", "EVENTS_TARGET", "METRICS_INDEX", "SEALS_INDEX", "WORKFLOW_INDEX", "Indices",
           "declared"]
