"""Cross-cutting (deploy): deploy the bundle into an existing cluster (plan, deploy, status, uninstall).

`bundle.collect()` gathers every object the pack owns (from templates, pipelines, roles,
rules, dashboards); `state.read()` reads what the cluster has; `plan.plan()` compares them
and returns data; `apply.apply()` is the only writer. Neighbours: siem_pack.doctor (what the
cluster can run), siem_pack.templates, siem_pack.ingest, siem_pack.detect, siem_pack.dashboards.
"""
