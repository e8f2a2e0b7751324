"""Stage 3: behavioural baselines. ECS events (stage 2: the DuckDB `events` table or the
`logs-siem_pack.*` indices) → feature frames (features.py, in DuckDB SQL or Elasticsearch
composite aggregations) → isolation forests per population (estimator.py) → signed, versioned
artifacts (artifacts.py) → anomaly events (jobs.py) that detection rules (siem_pack.detect)
and dashboards consume. scheduler.py runs the jobs from cron expressions.

Modules are imported where used: scikit-learn takes seconds to import, and the CLI loads
every command module at start.
"""
