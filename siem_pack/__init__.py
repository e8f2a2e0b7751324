"""siem-pack: continuous auditing of AI model access, on Elasticsearch or embedded on DuckDB.

The flow (see docs/architecture.md): raw logs → ingest (siem_pack.ingest) → ECS events
(siem_pack.backends.duckdb) → baselines and detections (siem_pack.baselines, siem_pack.detect) →
alerts and dashboards → containment, case files and metrics.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siem-pack")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
