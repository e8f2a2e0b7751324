"""Index templates: the plan adapts to the doctor report (unit), and on the real
Elasticsearch node the templates install, documents index with no mapping conflict, and
every field a pipeline writes is mapped with the type the schema intends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from siem_pack.doc import flatten
from siem_pack.doctor import Capability, DoctorReport, probe_cluster
from siem_pack.ingest.formats import ENTRY_PIPELINE, FORMATS
from siem_pack.schema import Field, load_schema
from siem_pack.settings import ClusterSettings
from siem_pack.templates import (
    Step,
    component_name,
    content_hash,
    events_alias,
    install,
    notes,
    own_indices,
    template_bodies,
)
from tests.support.es import cleanup_prefix

SCHEMA = load_schema()


def _report(mappers: bool = True, processors: list[str] | None = None, missing: tuple[str, ...] = (),
            data_streams: bool = True, ilm: bool = True) -> DoctorReport:
    procs = processors if processors is not None else ["set", "rename", "geoip"]
    return DoctorReport(
        target="test",
        processors=[Capability(p, p not in missing) for p in procs],
        mappers=[Capability(m, mappers) for m in ("match_only_text", "wildcard", "constant_keyword", "flattened")],
        features=[Capability("data_streams", data_streams), Capability("ilm", ilm)],
    )


def _by(steps: list[Step], kind: str) -> dict[str, dict[str, Any]]:
    return {s.name: s.body for s in steps if s.kind == kind}


def _leaf_types(props: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`mappings.properties` → {dotted name: type}, multi-fields included."""
    out: dict[str, str] = {}
    for name, spec in props.items():
        full = f"{prefix}{name}"
        if "properties" in spec and "type" not in spec:
            out |= _leaf_types(spec["properties"], full + ".")
        else:
            out[full] = spec.get("type", "object")
            if "properties" in spec:
                out |= _leaf_types(spec["properties"], full + ".")
            for sub, sspec in (spec.get("fields") or {}).items():
                out[f"{full}.{sub}"] = sspec["type"]
    return out


def _components(steps: list[Step]) -> dict[str, str]:
    types: dict[str, str] = {}
    for body in _by(steps, "component_template").values():
        types |= _leaf_types(body["template"]["mappings"]["properties"])
    return types


# ---- the plan ----------------------------------------------------------------------------
def test_fallbacks_applied_where_mappers_are_missing() -> None:
    full = _components(template_bodies(_report(mappers=True)))
    core = _components(template_bodies(_report(mappers=False)))
    fallbacks = [f for f in SCHEMA.fields if f.fallback]
    assert fallbacks, "the schema names no fallback"
    for f in fallbacks:
        assert full[f.name] == f.type, f.name
        assert core[f.name] == f.fallback, f.name
    assert core["url.path"] == "keyword" and core["error.message"] == "text"
    assert core["data_stream.dataset"] == "keyword"
    assert "match_only_text" in notes(_report(mappers=False))[0]


def test_every_schema_field_is_in_exactly_one_component_template() -> None:
    steps = template_bodies(_report())
    seen: dict[str, str] = {}
    for name, body in _by(steps, "component_template").items():
        for leaf in _leaf_types(body["template"]["mappings"]["properties"]):
            if SCHEMA.get(leaf):
                assert leaf not in seen, f"{leaf} in {seen.get(leaf)} and {name}"
                seen[leaf] = name
    assert set(seen) == set(SCHEMA.names)
    assert all(n.startswith("gen_ai.") for n, c in seen.items() if c == component_name("gen_ai"))
    assert all(n.startswith("siem_pack.") for n, c in seen.items() if c == component_name("siem_pack"))


@pytest.mark.parametrize(("report", "expected"), [
    (_report(), True),
    (_report(missing=("geoip",)), False),
    (_report(processors=[]), False),
], ids=["all-processors", "one-missing", "no-pipelines"])
def test_default_pipeline_only_where_processors_exist(report: DoctorReport, expected: bool) -> None:
    templates = _by(template_bodies(report), "index_template")
    for fmt in FORMATS.values():
        settings = templates[f"logs-{fmt.dataset}"]["template"].get("settings", {})
        assert (settings.get("index.default_pipeline") == ENTRY_PIPELINE) is expected, fmt.name
    assert any("default_pipeline" in n for n in notes(report)) is not expected


def test_data_streams_or_index_plus_alias() -> None:
    with_ds = template_bodies(_report(data_streams=True))
    assert not _by(with_ds, "index")
    assert all(b.get("data_stream") == {} for n, b in _by(with_ds, "index_template").items() if n.startswith("logs-"))
    without = template_bodies(_report(data_streams=False), prefix="p-", namespace="prod")
    indices = _by(without, "index")
    assert set(indices) == {f"p-logs-{f.dataset}-prod-000001" for f in FORMATS.values()}
    alias = events_alias("bedrock_invocation", "prod")
    assert indices[f"p-{alias}-000001"]["aliases"] == {f"p-{alias}": {"is_write_index": True}}
    assert all("data_stream" not in b for b in _by(without, "index_template").values())
    # the template's pattern covers the index behind the alias
    tmpl = _by(without, "index_template")["p-logs-siem_pack.bedrock_invocation"]
    assert tmpl["index_patterns"] == ["p-logs-siem_pack.bedrock_invocation-*"]


def test_retention_policy_or_note() -> None:
    with_ilm = template_bodies(_report(ilm=True))
    policies = _by(with_ilm, "ilm_policy")
    assert list(policies) == ["siem_pack-events"]
    assert "delete" in policies["siem_pack-events"]["policy"]["phases"]
    settings = _by(with_ilm, "index_template")["logs-siem_pack.openai_audit"]["template"]["settings"]
    assert settings["index.lifecycle.name"] == "siem_pack-events"
    without = _report(ilm=False)
    assert not _by(template_bodies(without), "ilm_policy")
    assert any("retention is not enforced" in n for n in notes(without))
    assert not any("retention" in n for n in notes(_report(ilm=True)))


def test_meta_carries_version_and_content_hash() -> None:
    steps = template_bodies(_report(mappers=False))
    for step in steps:
        if step.kind == "index":
            continue
        meta = step.body["_meta"]
        assert meta["managed_by"] == "siem-pack" and meta["version"]
        assert meta["content_hash"] == content_hash(step.body), step.name
    a = _by(steps, "component_template")[component_name("ecs")]["_meta"]["content_hash"]
    b = _by(template_bodies(_report(mappers=True)), "component_template")[component_name("ecs")]["_meta"]["content_hash"]
    assert a != b  # a fallback changes the body, so deploy sees a pending change


def test_one_index_template_per_format_and_own_index() -> None:
    names = set(_by(template_bodies(_report()), "index_template"))
    assert {f"logs-{f.dataset}" for f in FORMATS.values()} <= names
    assert {"siem-pack-alerts", "siem-pack-anomalies", "siem-pack-seals", "siem-pack-actions", "siem-pack-metrics",
            "siem-pack-approvals"} <= names


@pytest.mark.parametrize("own", own_indices(), ids=lambda o: f"{o.name}.yml")
def test_own_index_file(own: Any) -> None:
    body = _by(template_bodies(_report()), "index_template")[own.name]
    assert body["index_patterns"] == [f"{own.name}*"]
    assert body["composed_of"] == [component_name(g) for g in own.compose]
    assert body["template"]["mappings"]["properties"] == own.schema.es_properties(frozenset())
    assert body["template"]["mappings"]["dynamic"] == own.dynamic


def test_alerts_map_kibana_alert_fields() -> None:
    body = _by(template_bodies(_report()), "index_template")["siem-pack-alerts"]
    types = _leaf_types(body["template"]["mappings"]["properties"])
    for name in ("kibana.alert.uuid", "kibana.alert.rule.rule_id", "kibana.alert.rule.name", "kibana.alert.severity",
                 "kibana.alert.workflow_status", "kibana.alert.ancestors"):
        assert types[name] == "keyword", name
    assert types["kibana.alert.risk_score"] == "float"
    assert types["kibana.alert.original_time"] == "date"
    # entity fields come from the composed event groups
    entity = _components(template_bodies(_report()))
    for name in ("user.id", "source.ip", "gen_ai.request.model", "siem_pack.api_key.id"):
        assert name in entity


# ---- on the real Elasticsearch node ----------------------------------------------------------
def _sample_value(f: Field) -> Any:
    value = {"keyword": "x", "match_only_text": "some words", "text": "some words", "wildcard": "/v1/chat",
             "constant_keyword": "siem_pack.test", "flattened": {"a": "b", "n": 1}, "long": 7, "double": 1.5,
             "float": 2.5, "boolean": True, "date": "2026-01-02T03:04:05.678Z", "ip": "89.160.20.156",
             "geo_point": {"lat": 58.4167, "lon": 15.6167}}[f.type]
    return [value] if f.array else value


def _schema_name(leaf: str) -> Field | None:
    """The schema field a document leaf belongs to (geo_point halves: `….location.lat`)."""
    f = SCHEMA.resolve(leaf)
    if f is None and leaf.rsplit(".", 1)[-1] in ("lat", "lon"):
        parent = SCHEMA.get(leaf.rsplit(".", 1)[0])
        return parent if parent is not None and parent.type == "geo_point" else None
    if f is None:  # inside a flattened field
        for cand in SCHEMA.fields:
            if cand.type == "flattened" and leaf.startswith(cand.name + "."):
                return cand
    return f


@pytest.fixture(scope="module")
def installed(es: Any, es_settings: ClusterSettings) -> Iterator[tuple[str, DoctorReport, Any]]:
    """The templates of this node (doctor's report), installed once under a unique prefix
    with `dynamic: strict`, so an unmapped field fails the write."""
    prefix = f"t-{uuid.uuid4().hex[:10]}-"
    report = probe_cluster(es_settings)
    result = install(es, report, prefix=prefix, dynamic="strict")
    yield prefix, report, result
    cleanup_prefix(es, prefix)


@pytest.mark.elasticsearch
def test_templates_install_on_the_real_node(installed: tuple[str, DoctorReport, Any], es: Any) -> None:
    prefix, report, result = installed
    kinds = {k for k, _, _ in result.applied}
    assert {"component_template", "index_template"} <= kinds
    # this node: no data streams, no ILM, no match_only_text / wildcard / constant_keyword
    assert not report.has("data_streams") and not report.has("ilm")
    assert any("retention is not enforced" in n for n in result.notes)
    assert "ilm_policy" not in kinds
    alias = f"{prefix}{events_alias('openai_audit')}"
    aliases = es.indices.get_alias(name=alias).body
    assert aliases == {f"{alias}-000001": {"aliases": {alias: {"is_write_index": True}}}}
    mapping = es.indices.get_mapping(index=alias).body[f"{alias}-000001"]["mappings"]
    types = _leaf_types(mapping["properties"])
    assert types["url.path"] == "keyword" and types["error.message"] == "text"
    assert types["data_stream.dataset"] == "keyword" and types["gen_ai.request.model.id"] == "keyword"
    assert mapping["dynamic"] == "strict"
    settings = es.indices.get_settings(index=alias).body[f"{alias}-000001"]["settings"]["index"]
    assert ("default_pipeline" in settings) is (bool(report.processors) and not report.missing_processors)
    again = install(es, report, prefix=prefix, dynamic="strict")
    assert {s for k, _, s in again.applied if k == "index"} == {"exists"}


@pytest.mark.elasticsearch
def test_every_schema_field_accepts_its_type(installed: tuple[str, DoctorReport, Any], es: Any) -> None:
    """One document with a value for every schema field indexes into an event index and the
    alerts index; an unmapped field is refused (dynamic: strict)."""
    prefix, _, _ = installed
    doc = {f.name: _sample_value(f) for f in SCHEMA.fields}
    from siem_pack.doc import unflatten

    alias = f"{prefix}{events_alias('litellm_spend', 'allfields')}-000001"  # an index of its own, same template
    es.index(index=alias, id="all-fields", document=unflatten(doc), refresh=True)
    with pytest.raises(Exception, match="strict_dynamic_mapping_exception|mapping set to strict"):
        es.index(index=alias, id="unmapped", document={"@timestamp": "2026-01-01T00:00:00Z", "not_in_schema": 1})
    alert = unflatten({"@timestamp": "2026-01-01T00:00:00Z", "kibana.alert.uuid": "a1",
                       "kibana.alert.rule.rule_id": "r1", "kibana.alert.rule.name": "n",
                       "kibana.alert.severity": "high", "kibana.alert.risk_score": 73,
                       "kibana.alert.original_time": "2026-01-01T00:00:00Z", "kibana.alert.workflow_status": "open",
                       "user.id": "u1", "gen_ai.request.model": "m", "source.ip": "81.2.69.144",
                       "siem_pack.api_key.id": "k1"})
    alert["kibana"]["alert"]["ancestors"] = ["e1", "e2"]
    es.index(index=f"{prefix}siem-pack-alerts", id="a1", document=alert, refresh=True)
    got = es.indices.get_mapping(index=f"{prefix}siem-pack-alerts").body
    types = _leaf_types(next(iter(got.values()))["mappings"]["properties"])
    assert types["kibana.alert.risk_score"] == "float" and types["user.id"] == "keyword"


@lru_cache(maxsize=1)
def _pipelines() -> Any:
    """The pipelines, with the tests' geo databases, so source.geo/source.as get mapped too."""
    import os
    import tempfile

    from siem_pack.ingest.pipeline import load_pipelines
    from tests.support.geo_db import build_test_dbs

    env = os.environ.get("SIEM_PACK_TEST_GEOIP_DB")
    folder = Path(env) if env and Path(env).is_dir() else Path(tempfile.mkdtemp(prefix="siem-pack-geo-"))
    if not env:
        build_test_dbs(folder)
    return load_pipelines(geoip_db=folder)


def _normalized(fmt: str, upstream: bool, fixtures: Path | None) -> list[dict[str, Any]]:
    """The records of the format's own samples (or its upstream ones), normalized by the runner
    (the same events `siem-pack ingest` stores)."""
    from siem_pack.ingest.reader import Record
    from siem_pack.ingest_job import normalize_records

    samples = FORMATS[fmt].upstream_samples if upstream else FORMATS[fmt].own_samples
    records = [Record(source=str(sample.file(fixtures)), line=i + 1, text=text)
               for sample in samples for i, text in enumerate(sample.records(fixtures))]
    return normalize_records(records, fmt, _pipelines()).events


def _sample_sets() -> list[Any]:
    """(format, upstream) per format: our samples always, the upstream ones as conformance."""
    return [pytest.param(fmt, upstream, id=f"{fmt}-{'upstream' if upstream else 'own'}",
                         marks=[pytest.mark.conformance] if upstream else [])
            for fmt in sorted(FORMATS) for upstream in (False, True)
            if not upstream or FORMATS[fmt].upstream_samples]


@pytest.mark.elasticsearch
@pytest.mark.parametrize(("fmt", "upstream"), _sample_sets())
def test_sample_documents_index_with_intended_types(fmt: str, upstream: bool, installed: tuple[str, DoctorReport, Any],
                                                    es: Any, request: pytest.FixtureRequest) -> None:
    """Normalized documents of every sample of the format index with no mapping conflict,
    every leaf they carry is a schema field, and the live mapping type of each is the
    schema's type (or its fallback where the node lacks the mapper)."""
    prefix, report, _ = installed
    docs = _normalized(fmt, upstream, request.getfixturevalue("fixtures_dir") if upstream else None)
    assert docs, f"no normalized documents for {fmt}"
    unknown = sorted({leaf for d in docs for leaf in flatten(d) if _schema_name(leaf) is None})
    assert not unknown, f"{fmt}: fields not in schema/fields.yml: {unknown}"
    alias = f"{prefix}{events_alias(fmt)}"
    ops: list[dict[str, Any]] = []
    ids = [f"{fmt}-{'upstream' if upstream else 'own'}-{i}" for i in range(len(docs))]
    for doc_id, d in zip(ids, docs, strict=True):
        ops += [{"create": {"_index": alias, "_id": doc_id}}, d]
    res = es.bulk(operations=ops, refresh=True).body
    errors = [(item["create"]["_id"], item["create"]["error"]) for item in res["items"] if "error" in item["create"]]
    assert not errors, f"{fmt}: mapping conflicts: {errors[:3]}"
    assert es.count(index=alias, query={"ids": {"values": ids}}).body["count"] == len(docs)
    if fmt in ("azure_ai_foundry", "kong_ai", "openai_compatible", "vertexai_audit"):  # samples with test addresses
        assert any("geo" in d.get("source", {}) for d in docs), f"{fmt}: no geography on the sample events"
    mapping = es.indices.get_mapping(index=alias).body
    live = _leaf_types(next(iter(mapping.values()))["mappings"]["properties"])
    unsupported = {m.name for m in report.mappers if not m.present}
    for leaf in sorted({leaf for d in docs for leaf in flatten(d)}):
        f = _schema_name(leaf)
        assert f is not None
        intended = f.fallback if f.type in unsupported and f.fallback else f.type
        assert live.get(f.name) == intended, f"{fmt}: {f.name} mapped {live.get(f.name)}, intended {intended}"


# ---- every field a pipeline writes, statically -------------------------------------------------
WRITES_TARGET = ("rename", "geoip", "json", "convert", "date", "gsub", "lowercase", "uppercase", "trim", "split",
                 "join", "kv", "bytes", "csv", "urldecode", "user_agent", "fingerprint", "dot_expander")


def _writes(procs: Any, written: set[str], removed: set[str]) -> None:
    """Fields named as written (`set`/`append` field, any target_field) or removed."""
    for proc in procs or []:
        (ptype, conf), = proc.items()
        if not isinstance(conf, dict):
            continue
        if ptype in ("set", "append"):
            written.add(conf["field"])
        elif ptype in WRITES_TARGET and isinstance(conf.get("target_field"), str):
            written.add(conf["target_field"])
        elif ptype == "date":
            written.add("@timestamp")
        elif ptype == "remove":
            removed.update(conf["field"] if isinstance(conf["field"], list) else [conf["field"]])
        _writes(conf.get("on_failure"), written, removed)
        if ptype == "foreach":
            _writes([conf["processor"]], written, removed)


@lru_cache(maxsize=1)
def _pipeline_bodies() -> dict[str, Any]:
    from siem_pack.ingest.geoip import DEFAULT_DB_NAMES, GEO_PIPELINE, compile_pipeline

    pipelines = _pipelines()
    bodies = {pid: pipelines.body(pid) for pid in pipelines.ids}
    bodies[GEO_PIPELINE] = compile_pipeline(DEFAULT_DB_NAMES)  # as deployed, with every lookup
    return bodies


def _pipeline_ids() -> list[str]:
    from siem_pack.ingest.pipeline import GEO, INVENTORY, SECRETS
    from siem_pack.paths import content_dir

    return sorted({p.stem for p in content_dir("ingest_pipelines").glob("*.yml")} | {GEO, INVENTORY, SECRETS})


@pytest.mark.parametrize("pipeline_id", _pipeline_ids())
def test_every_field_a_pipeline_sets_is_in_the_schema(pipeline_id: str) -> None:
    """Fields the pipeline names as targets are schema fields (or objects of them), unless
    some pipeline removes them again (scratch space such as siem_pack.raw)."""
    bodies = _pipeline_bodies()
    removed: set[str] = set()
    for body in bodies.values():
        _writes(body.get("processors"), set(), removed)
        _writes(body.get("on_failure"), set(), removed)
    written: set[str] = set()
    _writes(bodies[pipeline_id].get("processors"), written, set())
    _writes(bodies[pipeline_id].get("on_failure"), written, set())

    def kept(name: str) -> bool:
        return not any(name == r or name.startswith(r + ".") for r in removed)

    def known(name: str) -> bool:
        return _schema_name(name) is not None or any(f.name.startswith(name + ".") for f in SCHEMA.fields)

    unknown = sorted(f for f in written if "{{" not in f and not f.startswith("_ingest.") and kept(f) and not known(f))
    assert not unknown, f"{pipeline_id} writes fields missing from schema/fields.yml: {unknown}"


# ---- the shipping docs stay true --------------------------------------------------------------
def test_shipping_docs_cover_every_format_with_valid_yaml() -> None:
    import re

    import yaml

    from siem_pack.paths import SOURCE_ROOT

    text = (SOURCE_ROOT / "docs" / "shipping.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        yaml.safe_load(block)  # every example parses
    named = set(re.findall(r"siem_pack\.([a-z_]+)", text)) & (set(FORMATS) | {"format"})
    hinted = set(re.findall(r"fields: \{format: ([a-z_]+)\}", text))
    assert hinted <= set(FORMATS), hinted - set(FORMATS)
    assert set(FORMATS) <= named | hinted, set(FORMATS) - named - hinted
    for fmt in re.findall(r"data_stream\.dataset: siem_pack\.([a-z_]+)", text):
        assert fmt in FORMATS, fmt
