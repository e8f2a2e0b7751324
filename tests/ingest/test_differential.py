"""Differential proof of the offline executor: the same pipelines on the real OpenSearch
node's `_simulate` and on siem_pack.ingest.executor give identical documents (apart from
ingest time). Two levels:

- processor cases (tests/ingest/pipelines_for_tests/processor_cases.yml): each processor's
  semantics, failure messages included;
- every format of siem_pack.ingest.formats.FORMATS on every sample file, through the real
  entry pipeline and every pipeline it calls (generated ones included): our own samples
  always, the upstream ones as the conformance layer (sample_cases).

And: Elasticsearch accepts every pipeline where doctor reports the processors; where it does
not (our test node has no ingest processors), the test skips naming the missing ones.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sample_cases import records, sample_params

from siem_pack.ingest.pipeline import ENTRY, PipelineSet, pipelines_from_bodies
from tests.support.pipelines import prefix_names

CASES_FILE = Path(__file__).parent / "pipelines_for_tests" / "processor_cases.yml"
CASES: dict[str, Any] = yaml.safe_load(CASES_FILE.read_text())
INGEST_TIME_FIELDS = ("event.ingested",)


# ---- comparison ---------------------------------------------------------------------------
def _strip_time(src: dict[str, Any], timestamp: str | None) -> dict[str, Any]:
    src = copy.deepcopy(src)
    for path in INGEST_TIME_FIELDS:
        node: Any = src
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
        src.pop(path, None)

    def scrub(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: scrub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        if timestamp and isinstance(v, str) and timestamp in v:
            return v.replace(timestamp, "<ingest-time>")
        return v
    return scrub(src)  # type: ignore[no-any-return]


def canonical_remote(entry: Any) -> tuple[str, str]:
    if entry is None:
        return ("dropped", "")
    if "error" in entry:
        return ("error", "")
    doc = entry["doc"]
    ts = (doc.get("_ingest") or {}).get("timestamp")
    return ("ok", json.dumps(_strip_time(doc["_source"], ts), sort_keys=True))


def canonical_local(outcome: Any) -> tuple[str, str]:
    if outcome.dropped:
        return ("dropped", "")
    if outcome.error is not None:
        return ("error", "")
    return ("ok", json.dumps(_strip_time(outcome.doc, outcome.ingest.get("timestamp")), sort_keys=True))


def assert_same(remote: list[Any], local: list[Any], inputs: list[Any]) -> None:
    diffs = []
    for i, (r, lo) in enumerate(zip(remote, local, strict=True)):
        cr, cl = canonical_remote(r), canonical_local(lo)
        if cr != cl:
            why = f" (offline error: {lo.error})" if lo.error else ""
            rerr = f" (engine error: {json.dumps(r.get('error'))[:400]})" if r and "error" in r else ""
            diffs.append(f"doc {i}: input {json.dumps(inputs[i])[:300]}\n  engine : {cr}{rerr}\n  offline: {cl}{why}")
    assert not diffs, "offline executor differs from OpenSearch _simulate:\n" + "\n".join(diffs)


@pytest.fixture(scope="module", autouse=True)
def _compilation_rate(request: pytest.FixtureRequest) -> None:
    """Every distinct template and condition is a script compilation on the node; the default
    limit (75 per 5 minutes) is far below what these suites compile."""
    if "opensearch" not in request.fixturenames and not any(
            m.name == "opensearch" for item in request.node.items for m in item.iter_markers()):
        return
    node = request.getfixturevalue("opensearch")
    node.request("PUT", "/_cluster/settings", {"persistent": {
        "script.context.template.max_compilations_rate": "100000/1m",
        "script.context.ingest.max_compilations_rate": "100000/1m"}})


# ---- processor cases ------------------------------------------------------------------------
def _case_bodies(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(offline bodies by id, the main pipeline id); names use the literal prefix '{{P}}' → ''."""
    text = json.dumps(case).replace("{{P}}", "")
    c = json.loads(text)
    bodies = dict(c.get("pipelines") or {})
    bodies["main"] = c["pipeline"]
    return bodies, "main"


@pytest.mark.opensearch
@pytest.mark.parametrize("name", sorted(CASES))
def test_processor_semantics_match_opensearch(name: str, opensearch: Any) -> None:
    case = CASES[name]
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    remote_case = json.loads(json.dumps(case).replace("{{P}}", prefix))
    for pid, body in (remote_case.get("pipelines") or {}).items():
        opensearch.request("PUT", f"/_ingest/pipeline/{prefix}{pid}", body)
    try:
        docs = case["docs"]
        remote = opensearch.simulate(remote_case["pipeline"], copy.deepcopy(docs))["docs"]
    finally:
        for pid in remote_case.get("pipelines") or {}:
            opensearch.request("DELETE", f"/_ingest/pipeline/{prefix}{pid}")
    bodies, main = _case_bodies(case)
    ps = pipelines_from_bodies(bodies)
    local = [ps.executor.run(main, copy.deepcopy(d)) for d in docs]
    assert_same(remote, local, docs)


# ---- every format, every sample ---------------------------------------------------------------
def _inputs(fmt: Any, texts: list[str], hinted: bool) -> list[dict[str, Any]]:
    return [{"message": r, **({"siem_pack": {"format": fmt.name}} if hinted else {})} for r in texts]


@pytest.mark.opensearch
@pytest.mark.parametrize("hinted", [False, True], ids=["auto", "hinted"])
@pytest.mark.parametrize(("fmt", "sample"), sample_params())
def test_format_samples_match_opensearch(fmt: Any, sample: Any, hinted: bool, pipelines: PipelineSet,
                                         remote_pipelines: str, opensearch: Any,
                                         request: pytest.FixtureRequest) -> None:
    texts = records(sample, request)
    assert texts, f"no records in {sample.path}"
    docs = _inputs(fmt, texts, hinted)
    remote = opensearch.request("POST", f"/_ingest/pipeline/{remote_pipelines}{ENTRY}/_simulate",
                                {"docs": [{"_source": copy.deepcopy(d)} for d in docs]})["docs"]
    local = [pipelines.executor.run(ENTRY, copy.deepcopy(d)) for d in docs]
    assert_same(remote, local, docs)
    # and the samples normalise: every record of a sample file is an event of its format
    expected = sample.auto or fmt.name if not hinted else fmt.name
    for d, out in zip(docs, local, strict=True):
        assert out.ok, f"{sample.path}: {out.error} ({out.error_processor} tag={out.error_tag}) for {d['message'][:200]}"
        assert out.doc is not None and out.doc["siem_pack"]["format"] == expected


@pytest.mark.elasticsearch
def test_elasticsearch_accepts_every_pipeline(es_settings: Any, es: Any, pipelines: PipelineSet) -> None:
    from siem_pack.doctor import probe_cluster

    report = probe_cluster(es_settings)
    missing = report.missing_processors
    if missing:
        pytest.skip(f"the Elasticsearch node lacks ingest processors {', '.join(missing)} "
                    "(doctor); pipelines are proven on OpenSearch instead")
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    try:
        for pid in pipelines.ids:
            es.ingest.put_pipeline(id=prefix + pid, body=prefix_names(pipelines.body(pid), prefix))
    finally:
        es.options(ignore_status=[404]).ingest.delete_pipeline(id=prefix + "*")
