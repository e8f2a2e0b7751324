"""The format registry and its pipelines on every sample (offline executor, real pipelines):

- every format has its pipeline file and the entry pipeline knows it (route and hint list);
- every record of every sample normalizes without error, with the hint and by recognition;
- (conformance) where Elastic publishes an `-expected.json`, our core fields (time, identity, model, tokens,
  source address, action, outcome) agree with it, except the deliberate differences listed
  in docs/differences.md (DIFFERENCES below, each with its reason there);
- a record of no known format fails with "unknown format" (it is dead-lettered, never guessed).

One case per sample file, its id the file name; upstream samples are the conformance layer
(sample_cases). Our own samples' expected ECS output is in tests/ingest/golden/
(test_golden.py). OpenSearch gives the same documents: that is tests/ingest/test_differential.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sample_cases import PROMPT_START, prompt_record, records, sample_params

from siem_pack.doc import flatten
from siem_pack.ingest.formats import ENTRY_PIPELINE, FORMATS, SHARED_PIPELINES, Format, Sample
from siem_pack.ingest.pipeline import PipelineSet
from siem_pack.paths import content_dir, content_root

WITH_EXPECTED = [(fmt, s) for fmt in FORMATS.values() for s in fmt.samples if s.expected]

# Core fields compared with Elastic's expected documents. Identity fields of Elastic's output
# are raw ids: ours keep every raw id in related.user and put the canonical id in user.id.
CORE = ("@timestamp", "event.action", "event.outcome", "source.ip", "source.address", "cloud.account.id",
        "cloud.project.id", "cloud.provider", "gen_ai.request.model", "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens")
IDENTITY = ("user.id", "user.email", "user.name", "client.user.email")
# Elastic's older names, and its vendor fields whose value is one of our core fields
ALIASES = {
    "gen_ai.request.model.id": "gen_ai.request.model",
    "azure.open_ai.operation_name": "event.action",
    "azure.ai_foundry.operation_name": "event.action",
    "azure.open_ai.caller_ip_address": "source.address",
    "azure.open_ai.properties.model_name": "gen_ai.request.model",
    "azure.open_ai.correlation_id": "siem_pack.request.id",
    "azure.open_ai.properties.request_length": "siem_pack.request.bytes",
    "azure.open_ai.properties.response_length": "siem_pack.response.bytes",
    "gcp.vertexai.audit.service_name": "event.provider",
    "azure.open_ai.properties.object_id": "user.id",
    "azure.ai_foundry.properties.object_id": "user.id",
    "gcp.vertexai.audit.authentication_info.principal_email": "user.email",
    "gcp.vertexai.audit.authentication_info.principal_subject": "user.name",
    "openai.audit.actor.session.user.id": "user.id",
    "openai.audit.actor.session.user.email": "user.email",
    "aws.bedrock_agentcore.request_id": "siem_pack.request.id",
    "aws.bedrock_agentcore.session_id": "siem_pack.session.id",
    "aws.bedrock_agentcore.codeinterpreter.request_id": "siem_pack.request.id",
    "aws.bedrock_agentcore.codeinterpreter.tool_session_id": "siem_pack.session.id",
}
CORE += ("event.duration", "siem_pack.request.id", "siem_pack.request.bytes", "siem_pack.response.bytes",
         "event.provider", "source.as.number", "source.geo.city_name", "source.geo.country_iso_code",
         "source.geo.region_name", "source.geo.region_iso_code", "source.geo.location.lat", "source.geo.location.lon",
         "tls.client.ja3", "user.domain", "user_agent.original", "cloud.region", "log.level", "trace.id",
         "span.id", "service.name", "siem_pack.session.id")
# (sample file name, field) → why we differ on purpose; docs/differences.md says the same
DIFFERENCES: dict[tuple[str, str], str] = {}


def _run(pipelines: PipelineSet, text: str, hint: str | None) -> Any:
    src: dict[str, Any] = {"message": text}
    if hint:
        src["siem_pack"] = {"format": hint}
    return pipelines.executor.run(ENTRY_PIPELINE, src)


def test_every_format_has_its_pipeline_and_route() -> None:
    folder = content_dir("ingest_pipelines")
    entry = yaml.safe_load((folder / f"{ENTRY_PIPELINE}.yml").read_text())
    routes = {p["pipeline"]["name"] for p in entry["processors"] if "pipeline" in p}
    hint_check = next(p["fail"]["if"] for p in entry["processors"]
                      if "fail" in p and p["fail"]["tag"] == "entry-unknown-format-hint")
    for fmt in FORMATS.values():
        assert (folder / f"{fmt.pipeline_id}.yml").is_file(), fmt.name
        assert fmt.pipeline_id in routes, f"the entry pipeline does not route {fmt.name}"
        assert f"'{fmt.name}'" in hint_check, f"the entry pipeline rejects the hint {fmt.name}"
    files = {p.stem for p in folder.glob("*.yml")}
    assert files == {ENTRY_PIPELINE, *SHARED_PIPELINES, *(f.pipeline_id for f in FORMATS.values())}


@pytest.mark.parametrize(("fmt", "sample"), sample_params())
def test_sample_normalizes_with_hint_and_by_recognition(pipelines: PipelineSet, request: pytest.FixtureRequest,
                                                        fmt: Format, sample: Sample) -> None:
    texts = records(sample, request)
    assert texts, f"{sample.path}: no records"
    for n, text in enumerate(texts, 1):
        hinted = _run(pipelines, text, fmt.name)
        assert hinted.error is None, f"{sample.path} record {n}: {hinted.error}"
        doc = flatten(hinted.doc)
        assert doc["event.dataset"] == fmt.dataset
        assert doc["@timestamp"], f"record {n}: no @timestamp"
        assert doc["siem_pack.attribution"] in ("attributed", "unattributed")
        assert doc["siem_pack.policy.verdict"] in ("compliant", "noncompliant", "unknown")
        assert "siem_pack.raw" not in json.dumps(hinted.doc) and "message" not in hinted.doc
        assert "gen_ai.request.model.id" not in doc, "the older name is a multi-field of the mapping"
        auto = _run(pipelines, text, None)
        assert auto.error is None, f"{sample.path} record {n} (no hint): {auto.error}"
        assert auto.doc["siem_pack"]["format"] == (sample.auto or fmt.name)


def _pairs(records: list[str], expected: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Pair inputs with Elastic's outputs: by event.original where kept, else in order."""
    by_original = {e.get("event", {}).get("original"): e for e in expected}
    if all(k for k in by_original):
        out = []
        for text in records:
            original = next((o for o in by_original if o and json.loads(o) == json.loads(text)), None)
            if original is not None:
                out.append((text, by_original[original]))
        return out
    return list(zip(records, expected, strict=False))


@pytest.mark.parametrize(("fmt", "sample"), WITH_EXPECTED, ids=[s.name for _, s in WITH_EXPECTED])
def test_core_fields_agree_with_elastic(pipelines: PipelineSet, fixtures_dir: Path, fmt: Format, sample: Sample) -> None:
    expected_file = sample.expected_file(fixtures_dir)
    assert expected_file is not None
    expected = json.loads(expected_file.read_text())["expected"]
    pairs = _pairs(sample.records(fixtures_dir), expected)
    assert pairs, f"{expected_file}: no input pairs with an expected document"
    compared = 0
    name = Path(sample.path).name
    for n, (text, want_doc) in enumerate(pairs, 1):
        got = _run(pipelines, text, fmt.name)
        assert got.error is None, got.error
        ours, theirs = flatten(got.doc), flatten(want_doc)
        for their_field, value in theirs.items():
            field = ALIASES.get(their_field, their_field)
            if (name, field) in DIFFERENCES:
                continue
            if field in CORE:
                assert ours.get(field) == value, f"{name} doc {n} {field}: ours {ours.get(field)!r}, Elastic {value!r}"
                compared += 1
            elif field in IDENTITY:
                assert value in ours.get("related.user", []), (
                    f"{name} doc {n}: Elastic's {field}={value!r} is not among our raw ids {ours.get('related.user')}")
                compared += 1
    assert compared, f"{name}: no core field to compare"


def test_unknown_format_is_not_guessed(pipelines: PipelineSet) -> None:
    for text, why in (('{"hello": "world", "time": "2025-01-01T00:00:00Z"}', "unknown format"),
                      ('["not", "an", "object"]', "unknown format"),
                      ("{not json", "invalid JSON")):
        out = _run(pipelines, text, None)
        assert out.error is not None and why in str(out.error), (text, out.error)
    out = _run(pipelines, '{"a": 1}', "no_such_format")
    assert out.error is not None and "unknown format no_such_format" in str(out.error)


def test_missing_timestamp_is_an_error(pipelines: PipelineSet) -> None:
    record = {"schemaType": "ModelInvocationLog", "modelId": "m", "operation": "Converse"}
    out = _run(pipelines, json.dumps(record), None)
    assert out.error is not None and "missing timestamp" in str(out.error)


def test_prompts_never_stay_in_event_original(pipelines: PipelineSet) -> None:
    text = prompt_record()
    out = _run(pipelines, text, None)
    assert out.error is None
    original = out.doc["event"]["original"]
    assert PROMPT_START not in original and "Checklist" not in original
    assert "card holder names" not in original  # the completion
    assert '"text":"[CONTENT]"' in original
    json.loads(original)  # still a JSON record


PIPELINE_FILES = sorted(content_dir("ingest_pipelines").glob("*.yml"))


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=[p.name for p in PIPELINE_FILES])
def test_pipeline_file_is_canonical_and_tagged(path: Path) -> None:
    """Sorted keys, block style (rewrite with siem_pack.ingest.secrets.render_yaml), and a
    unique `tag` on every processor (the executor's and Elasticsearch's errors name it)."""
    from siem_pack.ingest.secrets import render_yaml

    body = yaml.safe_load(path.read_text())
    assert path.read_text() == render_yaml(body), f"{path.name} is not canonical YAML"
    tags = []

    def walk(procs: list[dict[str, Any]]) -> None:
        for proc in procs:
            (kind, conf), = proc.items()
            assert kind not in ("script", "user_agent", "fingerprint", "geoip", "enrich"), f"{kind} is not allowed here"
            assert conf.get("tag"), f"{path.name}: a {kind} processor without a tag"
            tags.append(conf["tag"])
            walk(conf.get("on_failure", []))
    walk(body["processors"])
    assert len(tags) == len(set(tags)), f"{path.name}: duplicate tags"


def test_content_is_kept_only_when_asked_and_then_truncated(pipelines: PipelineSet) -> None:
    text = prompt_record()
    default = _run(pipelines, text, None)
    assert "content" not in default.doc["siem_pack"]
    kept = pipelines.executor.run(ENTRY_PIPELINE, {"message": text, "siem_pack": {"content_mode": "truncated"}})
    assert kept.error is None, kept.error
    prompt = kept.doc["siem_pack"]["content"]["prompt"]
    assert prompt.startswith(PROMPT_START) and prompt.endswith("…")
    assert len(prompt) == 257
    assert "content_mode" not in kept.doc["siem_pack"]
    assert PROMPT_START not in kept.doc["event"]["original"]
    leaky = text.replace(PROMPT_START, "AKIAIOSFODNN7EXAMPLE " + PROMPT_START)
    kept = pipelines.executor.run(ENTRY_PIPELINE, {"message": leaky, "siem_pack": {"content_mode": "truncated"}})
    assert kept.doc["siem_pack"]["content"]["prompt"].startswith("[REDACTED:aws_access_key_id] " + PROMPT_START)


def test_docs_name_every_format_and_the_model_id_difference() -> None:
    docs = content_root() / "docs"
    formats_md = (docs / "formats.md").read_text()
    for fmt in FORMATS.values():
        assert f"`{fmt.name}`" in formats_md and f"### {fmt.name}" in formats_md.replace(" and ", "\n### "), fmt.name
    assert "gen_ai.request.model.id" in (docs / "differences.md").read_text()
