"""Stage 3: detections as code. Rules (detections/*.toml) are loaded by rules.py, run by
schedule.py over a backend (runner_duckdb.py, runner_es.py) into alerts (alerts.py), and
rendered for Kibana (kibana.py) and exported (export.py). Entry points: api.py.
Input: ECS events (stage 2) and anomaly events (baselines); output: alerts (stage 4).
"""
