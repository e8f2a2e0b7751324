"""Stage 5: from an alert to a proportional action, a case file and governance metrics.

levels.py chooses the response level (inventory/response_levels.yml); actions.py is the
action registry (plan / execute / undo, receipts); backend.py reads alerts, events and
anomalies and writes receipts, workflow changes and metrics (DuckDB or Elasticsearch);
respond.py ties them together for `siem-pack respond`; cases.py compiles case files;
workflow.py moves alerts through open → acknowledged → closed; metrics.py computes MTTD,
MTTR and the governance rates.
"""
