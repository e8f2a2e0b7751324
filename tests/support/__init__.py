"""Test support, importable as `tests.support` (pytest's `pythonpath` puts the source root on
sys.path; scripts/engines.py does the same): the recording Kibana contract server
(kibana_server.py) and the conformance checks against Kibana's published contracts
(contracts.py, openapi.py), the test geo databases (geo_db.py, also built by
scripts/engines.py for OpenSearch), single-point mutations (mutations.py) and helpers for
tests on a real node (es.py, pipelines.py). Not shipped with the package: nothing under
siem_pack/ imports it, and siem_pack never reads Kibana's contracts at run time.
"""
