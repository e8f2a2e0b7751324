"""Stage 4: dashboards. The compact specs in `dashboards/` (spec.py) render to Kibana saved
objects (kibana.py, checked by checks.py and lens_schema.py) and, offline, to the static HTML
report (siem_pack.report). Inputs: events, anomalies (stage 2/3), alerts (siem_pack.detect),
seals (siem_pack.integrity)."""

from .spec import INDEXES, Dashboard, IndexSpec, Metric, Panel, load_dashboard, load_dashboards, render_templates

__all__ = ["INDEXES", "Dashboard", "IndexSpec", "Metric", "Panel", "load_dashboard", "load_dashboards",
           "render_templates"]
