"""Secret detectors (ingest_pipelines/detectors/): a planted secret never reaches the store in
clear, neither in an event (any field, event.original included) nor in a dead letter; the
event records which detector fired. Proven on the offline executor, on the real OpenSearch
node's `_simulate`, and end to end through `siem_pack.ingest_job.ingest` into DuckDB.

One case per detector file (id = file name), each with a planted example below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sample_cases import records, sample_params

from siem_pack.ingest.formats import ENTRY_PIPELINE, Format, Sample
from siem_pack.ingest.pipeline import PipelineSet
from siem_pack.ingest.secrets import compile_pipeline, detectors_dir, load_detectors, redact

# fake secrets in each detector's shape (none is a live credential)
PLANTED: dict[str, str] = {
    "anthropic_api_key": "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE",
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "azure_storage_key": "AccountKey=" + "q1W2e3R4t5Y6u7I8o9P0aSdFgHjKlZxCvBnMq1W2e3R4t5Y6u7I8o9P0aSdFgHjKlZxCvBnM==",
    "bearer_token": "Bearer abcdefghijklmnopqrstuvwxyz0123456789",
    "connection_string": "postgresql://svc_reporting:S3cretPassw0rd99@db.internal.example",
    "github_token": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "google_api_key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "openai_api_key": "sk-proj-" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "password": "password=Wint3r-Is-C0ming-2026!",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\\n-----END RSA PRIVATE KEY-----",
    "slack_token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
}
DETECTOR_FILES = sorted(detectors_dir().glob("*.yml"))


def _clear(secret: str) -> str:
    """The part of a planted secret that must never be seen (past its recognisable prefix)."""
    return secret[-16:]


def _record(secret: str) -> str:
    """A self-hosted access-log line that leaks `secret` in a logged error message."""
    return json.dumps({
        "timestamp": "2025-03-04T09:15:02.123Z", "request_id": "req-secret", "method": "POST",
        "endpoint": "/v1/chat/completions", "status": 401, "model": "meta-llama/Llama-3.1-8B-Instruct",
        "client": {"ip": "10.0.0.5", "user_agent": "curl/8.5.0"}, "user": {"id": "amartin"},
        "error": {"type": "invalid_api_key", "message": f"Incorrect API key provided: {secret}"},
    }).replace("\\\\n", "\\n")


def test_every_detector_has_a_planted_example() -> None:
    assert {d.name for d in load_detectors()} == set(PLANTED)


@pytest.mark.parametrize("path", DETECTOR_FILES, ids=[p.name for p in DETECTOR_FILES])
def test_detector_redacts_offline_and_in_python(pipelines: PipelineSet, path: Path) -> None:
    name, secret = path.stem, PLANTED[path.stem]
    text, fired = redact(f"prefix {secret} suffix")
    assert _clear(secret) not in text and f"[REDACTED:{name}]" in text and name in fired
    out = pipelines.executor.run(ENTRY_PIPELINE, {"message": _record(secret)})
    assert out.error is None, out.error
    whole = json.dumps(out.doc)
    assert _clear(secret) not in whole
    assert name in out.doc["siem_pack"]["secrets"]["detectors"]
    assert f"[REDACTED:{name}]" in out.doc["error"]["message"]


@pytest.mark.parametrize(("fmt", "sample"), sample_params())
def test_clean_records_fire_nothing(request: pytest.FixtureRequest, fmt: Format, sample: Sample) -> None:
    for n, text in enumerate(records(sample, request), 1):
        assert redact(text)[1] == [], f"{sample.path} record {n}: a detector fired on a clean sample"


@pytest.mark.opensearch
def test_opensearch_redacts_the_same(opensearch: Any, pipelines: PipelineSet) -> None:
    docs = [{"event": {"original": f"leak {s} here"}} for s in PLANTED.values()]
    remote = opensearch.simulate(compile_pipeline(), docs)["docs"]
    for (name, secret), entry in zip(PLANTED.items(), remote, strict=True):
        src = entry["doc"]["_source"]
        assert _clear(secret) not in json.dumps(src), name
        assert src["siem_pack"]["secrets"]["detectors"] == [name]
        local = pipelines.executor.run("siem_pack-secrets", {"event": {"original": f"leak {secret} here"}}).doc
        assert local == src


def test_planted_secrets_never_reach_the_store(tmp_path: Path, db_path: Path) -> None:
    from siem_pack.ingest_job import ingest

    lines = [_record(s) for s in PLANTED.values()]
    lines.append('{"broken": "' + PLANTED["aws_access_key_id"] + '"')  # invalid JSON: a dead letter
    lines.append('{"unknown": "format", "token": "' + PLANTED["github_token"] + '"}')  # unknown format
    source = tmp_path / "leaky.ndjson"
    source.write_text("\n".join(lines) + "\n")
    summary = ingest([source], db=db_path)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        events = [r[0] for r in con.execute("SELECT doc FROM events").fetchall()]
        letters = con.execute("SELECT reason, original FROM dead_letters").fetchall()
        every_text = json.dumps([events, letters, con.execute("SELECT * FROM events").fetchall()], default=str)
    finally:
        con.close()
    assert len(events) == len(PLANTED) and len(letters) == 2, summary
    for secret in PLANTED.values():
        assert _clear(secret) not in every_text
        assert _clear(secret).encode() not in db_path.read_bytes()
    assert all("[REDACTED:" in original for _, original in letters)
