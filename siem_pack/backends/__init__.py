"""The storage ports: how a stage reads and writes its store, one module per engine
(`duckdb`, the embedded store; `es`, an Elasticsearch cluster), so a stage (ingest,
baselines, detections, response, metrics) names its reads once and each engine answers
them. So far `es.search_all` (every hit of a query, past the 10,000-hit window) is here;
siem_pack.respond.backend is the first stage to read through it.
"""
