"""The ingest runner (siem_pack.ingest_job): nothing is ever lost. On a corpus of broken
records, read = stored + already present + dropped (with the pipeline's reason) +
dead-lettered (with the error), per format; a re-run stores nothing twice; a planted key never
reaches the store in clear; Elasticsearch gets create-only writes with the fingerprint as _id."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.ingest.pipeline import ENTRY, load_pipelines, pipelines_from_bodies
from siem_pack.ingest_job import fingerprint, ingest, normalize_file
from siem_pack.paths import content_dir

AWS_KEY = "AKIA" + "Z7Q2XK4M9WPLT3VB"  # planted, in two places


def _compat() -> dict[str, Any]:
    line = (content_dir("ingest_pipelines") / "samples" / "openai_compatible.ndjson").read_text().splitlines()[0]
    return json.loads(line)  # type: ignore[no-any-return]


def _corpus(tmp_path: Path) -> Path:
    good = _compat()
    planted = copy.deepcopy(good)
    planted["request_id"] = "req-planted"
    planted["note"] = f"aws_access_key_id={AWS_KEY}"
    ancient = {**good, "request_id": "req-ancient", "timestamp": "1970-01-02T00:00:00Z"}
    future = {**good, "request_id": "req-future", "timestamp": "2999-01-01T00:00:00Z"}
    no_time = {k: v for k, v in good.items() if k != "timestamp"}
    no_time["request_id"] = "req-no-time"
    bad_tokens = {**good, "request_id": "req-bad-tokens", "usage": {"prompt_tokens": "many", "completion_tokens": 1}}
    lines = [
        json.dumps(good),                                    # stored
        json.dumps(good),                                    # already present (same fingerprint)
        json.dumps(planted),                                 # stored, key redacted
        '{"timestamp": "2025-01-01T00:00:00Z", "model": ',   # invalid JSON
        json.dumps({"hello": "world"}),                      # unknown format
        "[1, 2, 3]",                                         # not an object → unknown format
        json.dumps(ancient),                                 # absurd timestamp
        json.dumps(future),                                  # absurd timestamp
        json.dumps(no_time),                                 # unrecognised without its timestamp
        json.dumps(bad_tokens),                              # wrong type
        "",                                                  # blank: not a record
        json.dumps({"x": "y" * 2500}),                        # oversized (max 2000 bytes)
    ]
    f = tmp_path / "corpus.ndjson"
    f.write_bytes(("\n".join(lines) + "\n").encode() + b'{"bad": "\xff ' + AWS_KEY.encode() + b'"}\n')
    return f


def test_broken_corpus_keeps_the_invariant(tmp_path: Path, db_path: Path) -> None:
    corpus = _corpus(tmp_path)
    s = ingest([corpus], db=db_path, max_line_bytes=2000)
    t = s.total
    assert (t.read, t.stored, t.already_present, t.dropped, t.dead_lettered) == (12, 2, 1, 0, 9)
    assert all(c.balanced for c in s.formats.values())
    assert "invariant: read = stored + already present + dropped + dead-lettered" in s.render()
    with Store(db_path) as store:
        reasons = sorted(r[0] for r in store.con.execute("SELECT reason FROM dead_letters").fetchall())
        assert store.count("events") == 2
        assert store.count("dead_letters") == 9
    joined = "\n".join(reasons)
    for expected in ("invalid JSON", "unknown format [entry-unknown-format]",
                     "unknown format: the record is not a JSON object", "absurd @timestamp 1970-01-02",
                     "absurd @timestamp 2999-01-01", 'For input string: "many"',
                     "line exceeds 2000 bytes", "invalid UTF-8 at byte 9"):
        assert expected in joined, (expected, reasons)


def test_a_rerun_stores_nothing_twice(tmp_path: Path, db_path: Path) -> None:
    corpus = _corpus(tmp_path)
    ingest([corpus], db=db_path, max_line_bytes=2000)
    again = ingest([corpus], db=db_path, max_line_bytes=2000).total
    assert (again.read, again.stored, again.already_present, again.dead_lettered) == (12, 0, 3, 9)
    with Store(db_path) as store:
        assert store.count("events") == 2
        assert store.count("dead_letters") == 9  # dead letters have deterministic ids too


def test_a_planted_key_never_reaches_the_store_in_clear(tmp_path: Path, db_path: Path) -> None:
    ingest([_corpus(tmp_path)], db=db_path, max_line_bytes=2000)
    with Store(db_path) as store:
        docs = [r[0] for r in store.con.execute("SELECT doc FROM events").fetchall()]
        letters = [r[0] for r in store.con.execute("SELECT original FROM dead_letters").fetchall()]
    everything = "\n".join(docs + letters)
    assert AWS_KEY not in everything
    assert everything.count("[REDACTED:aws_access_key_id]") >= 2


def test_dead_letters_keep_no_prompt_text(tmp_path: Path, db_path: Path) -> None:
    """A record that fails (here: an absurd timestamp; and a line cut by invalid JSON) is kept
    for a re-run by source and line, without its prompt: the entry pipeline's own scrub."""
    prompt = "summarise the merger memo for project bluebird"
    rec = {**_compat(), "request_id": "req-old", "timestamp": "1970-01-02T00:00:00Z", "prompt": prompt}
    f = tmp_path / "p.ndjson"
    f.write_text(json.dumps(rec) + "\n" + json.dumps(rec)[:-30] + "\n")
    s = ingest([f], db=db_path)
    assert s.total.dead_lettered == 2
    with Store(db_path) as store:
        rows = store.con.execute("SELECT line, original FROM dead_letters ORDER BY line").fetchall()
    assert [r[0] for r in rows] == [1, 2]
    for _, original in rows:
        assert "bluebird" not in original
        assert '"prompt": "[CONTENT]"' in original
        assert '"request_id": "req-old"' in original  # the rest stays, for the analyst


def test_dropped_records_are_counted_with_the_pipelines_reason(tmp_path: Path, db_path: Path) -> None:
    base = load_pipelines()
    bodies = {pid: base.body(pid) for pid in base.ids}
    bodies[ENTRY]["processors"].insert(0, {"drop": {"if": "ctx.message != null && ctx.message.contains('healthz')",
                                                    "description": "health checks are not model access"}})
    ps = pipelines_from_bodies(bodies)
    f = tmp_path / "h.ndjson"
    f.write_text(json.dumps(_compat()) + "\n" + json.dumps({"path": "/healthz"}) + "\n")
    s = ingest([f], db=db_path, pipelines=ps)
    t = s.total
    assert (t.read, t.stored, t.dropped) == (2, 1, 1)
    assert dict(t.drop_reasons) == {"health checks are not model access": 1}


def test_event_id_is_the_fingerprint_of_the_redacted_record(tmp_path: Path) -> None:
    f = tmp_path / "one.ndjson"
    line = json.dumps(_compat())
    f.write_text(line + "\n")
    r = normalize_file(f)
    assert len(r.events) == 1 and not r.dead_letters
    ev = r.events[0]
    assert ev["event"]["id"] == fingerprint(line) == hashlib.sha256(line.encode()).hexdigest()
    assert ev["data_stream"]["namespace"] == "default"
    assert ev["event"]["ingested"].endswith("Z")


def test_missing_timestamp_is_a_dead_letter_when_the_format_is_given(tmp_path: Path) -> None:
    no_time = {k: v for k, v in _compat().items() if k != "timestamp"}
    f = tmp_path / "nt.ndjson"
    f.write_text(json.dumps(no_time) + "\n")
    r = normalize_file(f, fmt="openai_compatible")
    assert not r.events and len(r.dead_letters) == 1
    assert "timestamp" in r.dead_letters[0].reason
    assert r.dead_letters[0].format == "openai_compatible"


def test_follow_ingests_lines_appended_to_a_growing_file(tmp_path: Path, db_path: Path) -> None:
    import threading
    import time

    from siem_pack.ingest_job import follow

    f = tmp_path / "grow.ndjson"
    lines = (content_dir("ingest_pipelines") / "samples" / "openai_compatible.ndjson").read_text().splitlines()
    f.write_text(lines[0] + "\n" + lines[1][:40])  # the second line is still being written

    first = threading.Event()

    def writer() -> None:
        first.wait(timeout=20)
        time.sleep(0.2)
        with f.open("a") as fh:
            fh.write(lines[1][40:] + "\n{broken\n")
    t = threading.Thread(target=writer)
    t.start()
    seen: list[int] = []
    total = follow(f, db=db_path, poll_seconds=0.1, max_idle_seconds=1.0,
                   on_summary=lambda s: (seen.append(s.total.read), first.set()))
    t.join()
    assert sum(seen) == 3 and len(seen) >= 2
    c = total.total
    assert (c.read, c.stored, c.dead_lettered) == (3, 2, 1)


def test_format_hint_must_be_known(tmp_path: Path) -> None:
    from siem_pack.errors import InputError

    with pytest.raises(InputError, match="unknown format 'nope'; known: auto, "):
        normalize_file(tmp_path, fmt="nope")


@pytest.mark.elasticsearch
def test_elasticsearch_gets_create_only_writes(tmp_path: Path, es_settings: Any, es: Any, es_prefix: str,
                                               db_path: Path) -> None:
    corpus = _corpus(tmp_path)
    index = es_prefix + "-logs-siem_pack.{format}-{namespace}"
    s = ingest([corpus], settings=es_settings, index=index, max_line_bytes=2000, dead_letter_db=db_path)
    t = s.total
    assert (t.read, t.stored, t.already_present, t.dead_lettered) == (12, 2, 1, 9)
    assert any("bulk-indexed with pipeline _none" in n for n in s.notes)
    again = ingest([corpus], settings=es_settings, index=index, max_line_bytes=2000).total
    assert (again.stored, again.already_present) == (0, 3)
    es.indices.refresh(index=f"{es_prefix}-*")
    hits = es.search(index=f"{es_prefix}-logs-siem_pack.openai_compatible-default", size=10)["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == sorted(h["_source"]["event"]["id"] for h in hits)
    assert len(hits) == 2
    assert AWS_KEY not in json.dumps(hits)
    with Store(db_path) as store:
        assert store.count("dead_letters") == 9
