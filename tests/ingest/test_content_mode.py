"""Prompt content is kept only when a setting asks (siem_pack.ingest_job content modes):
`--keep-content hashed` stores the sha256 and length of the whole first prompt, secrets
redacted, and never its text: not in the DuckDB store (any column, any table), not in
`event.original`, not on Elasticsearch. The hash is checked against one computed here from
the raw record, independently of the pipeline. The entry pipeline's content hints
(`truncated`, `full`, and `hashed` as a shipper might set it) give the same documents on the
real OpenSearch node as on the offline executor.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from sample_cases import PROMPT_SAMPLE, prompt_record, records, sample_params
from test_differential import assert_same

from siem_pack.cli import main
from siem_pack.errors import ConfigError
from siem_pack.ingest.formats import Format, Sample
from siem_pack.ingest.pipeline import ENTRY, PipelineSet
from siem_pack.ingest.reader import Record
from siem_pack.ingest_job import CONTENT_MODES, Normalizer, ingest

AWS_KEY = "AKIA" + "Q7T3ZK9MW2PLX4VB"  # planted in the prompt
MARKER = "[REDACTED:aws_access_key_id]"
PROMPT_KEYS = ("text", "content", "prompt", "inputText")
# escapes, non-ASCII, a quote and a newline: what the hash sees is the decoded text
PROMPT = f'Summarise this for the board.\nKey: {AWS_KEY} — "quarterly" café numbers, ünïcode ✓ tail'
PHRASE = "Summarise this for the board"


def _first_prompt(node: Any) -> str | None:
    """The first string value under a prompt-like key, in document order (what the entry
    pipeline extracts), found by walking the parsed record rather than by regex."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in PROMPT_KEYS and isinstance(v, str):
                return v
            found = _first_prompt(v)
            if found is not None:
                return found
    elif isinstance(node, list):
        for v in node:
            found = _first_prompt(v)
            if found is not None:
                return found
    return None


def _bedrock(prompt: str | None = PROMPT) -> str:
    """Our Bedrock invocation record (sample_cases.PROMPT_SAMPLE) with its first prompt replaced by `prompt`."""
    rec = json.loads(prompt_record())
    content = rec["input"]["inputBodyJson"]["messages"][0]["content"][0]
    assert content["type"] == "text"
    if prompt is not None:
        content["text"] = prompt
    return json.dumps(rec)  # ensure_ascii: é and ✓ arrive as \\u escapes, the newline as \\n


def _expected(record: str) -> tuple[str, int]:
    prompt = _first_prompt(json.loads(record))
    assert prompt is not None
    redacted = prompt.replace(AWS_KEY, MARKER)
    return hashlib.sha256(redacted.encode("utf-8")).hexdigest(), len(redacted)


def test_hashed_mode_stores_the_hash_and_never_the_text(tmp_path: Path) -> None:
    record = _bedrock()
    assert "\\u00e9" in record and "\\n" in record and '\\"quarterly\\"' in record
    src = tmp_path / "one.ndjson"
    src.write_text(record + "\n")
    db = tmp_path / "hashed.duckdb"
    res = CliRunner().invoke(main, ["ingest", str(src), "--db", str(db), "--keep-content", "hashed"])
    assert res.exit_code == 0, res.output
    want_hash, want_len = _expected(record)
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute('SELECT "siem_pack.content.prompt", "siem_pack.content.prompt_hash", '
                          '"siem_pack.content.prompt_length", "event.original", doc FROM events').fetchall()
        assert len(row) == 1
        prompt, got_hash, got_len, original, doc = row[0]
        assert prompt is None
        assert (got_hash, got_len) == (want_hash, want_len)
        assert json.loads(doc)["siem_pack"]["content"] == {"prompt_hash": want_hash, "prompt_length": want_len}
        assert '"text":"[CONTENT]"' in original.replace(" ", "")
        # nothing of the prompt, nor the key, anywhere in the store: every column of every table
        dump = ""
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            dump += json.dumps(con.execute(f'SELECT * FROM "{table}"').fetchall(), default=str)
    for needle in (PHRASE, "quarterly", "caf\\u00e9", "café", AWS_KEY, "content_mode"):
        assert needle not in dump, needle
    assert want_hash in dump


def test_the_hash_is_of_the_redacted_prompt_never_of_the_secret(pipelines: PipelineSet) -> None:
    """Hashing the clear text would let anyone confirm a guessed secret: the key's marker is
    hashed instead, so the same prompt with another key hashes the same."""
    norm = Normalizer(pipelines, content_mode="hashed")
    record = _bedrock()
    _, doc = norm.normalize(Record("t", 1, record))
    assert isinstance(doc, dict)
    content = doc["siem_pack"]["content"]
    clear = PROMPT
    assert content["prompt_hash"] != hashlib.sha256(clear.encode()).hexdigest()
    assert content["prompt_hash"] == hashlib.sha256(clear.replace(AWS_KEY, MARKER).encode()).hexdigest()
    other = _bedrock(PROMPT.replace(AWS_KEY, "AKIA" + "B2C3D4E5F6G7H8J9"))
    _, doc2 = norm.normalize(Record("t", 2, other))
    assert isinstance(doc2, dict) and doc2["siem_pack"]["content"] == content
    assert AWS_KEY not in json.dumps(doc) and "quarterly" not in json.dumps(doc)


def test_hashed_mode_hashes_the_whole_prompt_not_the_truncated_one(pipelines: PipelineSet) -> None:
    long_prompt = "x" * 300 + " the end"
    record = _bedrock(long_prompt)
    _, hashed = Normalizer(pipelines, content_mode="hashed").normalize(Record("t", 1, record))
    _, truncated = Normalizer(pipelines, content_mode="truncated").normalize(Record("t", 1, record))
    _, none = Normalizer(pipelines).normalize(Record("t", 1, record))
    assert isinstance(hashed, dict) and isinstance(truncated, dict) and isinstance(none, dict)
    assert hashed["siem_pack"]["content"] == {"prompt_hash": hashlib.sha256(long_prompt.encode()).hexdigest(),
                                              "prompt_length": 308}
    assert truncated["siem_pack"]["content"] == {"prompt": "x" * 256 + "…"}
    assert "content" not in none["siem_pack"]
    # apart from the content fields, the three modes give the same event
    for d in (hashed, truncated, none):
        d["siem_pack"].pop("content", None)
        d["event"].pop("ingested")
    assert hashed == truncated == none


def test_a_record_without_a_prompt_gets_no_content_fields(pipelines: PipelineSet) -> None:
    from siem_pack.paths import content_dir

    line = (content_dir("ingest_pipelines") / "samples" / "openai_compatible.ndjson").read_text().splitlines()[0]
    _, doc = Normalizer(pipelines, content_mode="hashed").normalize(Record("t", 1, line))
    assert isinstance(doc, dict) and "content" not in doc["siem_pack"]


def test_cli_accepts_hashed_by_option_and_environment_and_refuses_unknown_modes(tmp_path: Path) -> None:
    src = tmp_path / "one.ndjson"
    src.write_text(_bedrock() + "\n")
    db = tmp_path / "env.duckdb"
    res = CliRunner().invoke(main, ["ingest", str(src), "--db", str(db)], env={"SIEM_PACK_CONTENT_MODE": "hashed"})
    assert res.exit_code == 0, res.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute('SELECT "siem_pack.content.prompt_hash" FROM events').fetchall()[0][0] == \
            _expected(src.read_text().strip())[0]
    for args, env in ((["--keep-content", "sha1"], {}), ([], {"SIEM_PACK_CONTENT_MODE": "clear"})):
        res = CliRunner().invoke(main, ["ingest", str(src), "--db", str(tmp_path / "x.duckdb"), *args], env=env)
        assert res.exit_code == 2, res.output
        assert "Invalid value for '--keep-content'" in res.output and "'none', 'truncated', 'hashed'" in res.output
        assert "Traceback" not in res.output
    help_text = CliRunner().invoke(main, ["ingest", "--help"]).output
    assert "[none|truncated|hashed]" in help_text and "--keep-content hashed" in help_text
    assert CONTENT_MODES == ("none", "truncated", "hashed")
    with pytest.raises(ConfigError, match="unknown content mode 'full'; known: none, truncated, hashed"):
        Normalizer(content_mode="full")  # type: ignore[arg-type]  # the pipeline's hint is not a mode


def test_a_shipper_setting_hashed_on_the_cluster_pipeline_keeps_nothing(pipelines: PipelineSet) -> None:
    """On a cluster fed by Agent/Filebeat nothing hashes after the pipeline: the `hashed` hint
    there keeps neither text nor hash (docs/ingest.md)."""
    out = pipelines.executor.run(ENTRY, {"message": _bedrock(),
                                         "siem_pack": {"content_mode": "hashed"}})
    assert out.error is None and out.doc is not None
    assert "content" not in out.doc["siem_pack"] and "content_mode" not in out.doc["siem_pack"]
    assert PHRASE not in json.dumps(out.doc)


@pytest.mark.elasticsearch
def test_hashed_mode_on_elasticsearch_stores_no_text(tmp_path: Path, es_settings: Any, es: Any,
                                                     es_prefix: str) -> None:
    src = tmp_path / "one.ndjson"
    record = _bedrock()
    src.write_text(record + "\n")
    index = es_prefix + "-logs-siem_pack.{format}-{namespace}"
    summary = ingest([src], settings=es_settings, index=index, content_mode="hashed")
    assert summary.total.stored == 1
    es.indices.refresh(index=f"{es_prefix}-*")
    hits = es.search(index=f"{es_prefix}-*", size=10)["hits"]["hits"]
    assert len(hits) == 1
    want_hash, want_len = _expected(record)
    assert hits[0]["_source"]["siem_pack"]["content"] == {"prompt_hash": want_hash, "prompt_length": want_len}
    dump = json.dumps(hits, ensure_ascii=False)
    for needle in (PHRASE, "quarterly", "café", AWS_KEY):
        assert needle not in dump, needle


# ---- the content hints on the real OpenSearch node ------------------------------------------
@pytest.mark.opensearch
@pytest.mark.parametrize(("fmt", "sample"), sample_params())
def test_content_hints_match_opensearch(fmt: Format, sample: Sample, pipelines: PipelineSet, remote_pipelines: str,
                                        opensearch: Any, request: pytest.FixtureRequest) -> None:
    """Every record of the sample with each content hint (and, with our Bedrock prompt sample, a
    planted key in a prompt): OpenSearch `_simulate` and the executor give identical documents."""
    texts = records(sample, request)
    if sample == PROMPT_SAMPLE:
        texts += [_bedrock(), _bedrock("y" * 400 + " é\\n")]
    docs: list[dict[str, Any]] = [{"message": r, "siem_pack": {"content_mode": hint}}
            for hint in ("truncated", "full", "hashed") for r in texts]
    remote = opensearch.request("POST", f"/_ingest/pipeline/{remote_pipelines}{ENTRY}/_simulate",
                                {"docs": [{"_source": copy.deepcopy(d)} for d in docs]})["docs"]
    local = [pipelines.executor.run(ENTRY, copy.deepcopy(d)) for d in docs]
    assert_same(remote, local, docs)
    for d, out in zip(docs, local, strict=True):
        assert out.doc is not None and AWS_KEY not in json.dumps(out.doc)
        if d["siem_pack"]["content_mode"] == "hashed":
            assert "content" not in out.doc["siem_pack"]
