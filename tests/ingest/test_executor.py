"""The offline executor's loading contract (siem_pack.ingest.pipeline / executor): every
bundle pipeline loads; anything unsupported is a load-time error naming the file, the
processor and its tag, and what is supported; all problems are reported together. Runtime
semantics are proven against OpenSearch in test_differential.py; here only what the engine
cannot show (drop reasons, cycles, the frozen set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siem_pack.errors import ContentError, ContentErrors
from siem_pack.ingest.pipeline import ENTRY, load_pipelines, pipelines_from_bodies
from siem_pack.paths import content_dir

PIPELINE_FILES = sorted(p.name for p in content_dir("ingest_pipelines").glob("*.yml"))


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_pipelines()


@pytest.mark.parametrize("name", PIPELINE_FILES)
def test_every_bundle_pipeline_loads(name: str, bundle: Any) -> None:
    pid = Path(name).stem
    assert pid in bundle.ids
    assert isinstance(bundle.bodies[pid]["processors"], list)


def test_generated_pipelines_are_included(bundle: Any) -> None:
    assert ENTRY in bundle.ids
    for pid in ("siem_pack-secrets", "siem_pack-geo"):
        assert pid in bundle.ids, pid
        assert bundle.sources[pid].startswith("<generated")


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def test_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    _write(tmp_path, "a.yml", """
processors:
  - sett: {field: x, value: 1, tag: typo}
  - set: {field: x, value: 1, copy_from: y, tag: not-shared}
  - script: {source: "ctx.x = 1", tag: scripted}
""")
    _write(tmp_path, "b.yml", """
processors:
  - set: {field: x, value: "{{#list}}x{{/list}}", tag: section}
  - grok: {field: m, patterns: ["%{NOPE:x}"], tag: bad-grok}
  - pipeline: {name: does-not-exist, tag: dangling}
  - set: {field: y, value: 1, if: "ctx.a =~ /b/", tag: regex-if}
  - date: {field: t, formats: [TAI64N], tag: tai}
""")
    _write(tmp_path, "c.yml", "processors: [unclosed\n")
    (tmp_path / "detectors").mkdir()
    _write(tmp_path / "detectors", "ignored.yml", "not: a pipeline")
    with pytest.raises(ContentErrors) as err:
        load_pipelines(tmp_path, include_generated=False)
    text = str(err.value)
    lines = text.splitlines()
    assert lines[0] == "9 problem(s):"
    a, b, c = (str(tmp_path / n) for n in ("a.yml", "b.yml", "c.yml"))
    assert f"{a}: processors[0] sett tag=typo: unknown processor [sett]; supported: append, bytes," in text
    assert (f"{a}: processors[1] set tag=not-shared: processor [set] doesn't support one or more provided "
            "configuration parameters [copy_from]; supported here (options both Elasticsearch and OpenSearch share):") in text
    assert f"{a}: processors[2] script tag=scripted: unknown processor [script] (Painless scripts are not supported" in text
    assert f"{b}: processors[0] set tag=section: unsupported mustache tag '{{{{#list}}}}'" in text
    assert f"{b}: processors[1] grok tag=bad-grok: Unable to find pattern [NOPE]" in text
    assert f"{b}: processors[2] pipeline tag=dangling: Pipeline processor configured for non-existent pipeline [does-not-exist]" in text
    assert f"{b}: processors[3] set tag=regex-if: unsupported `if` condition" in text
    assert f"{b}: processors[4] date tag=tai: date format TAI64N is not supported" in text
    assert f"{c}:2: invalid YAML" in text or f"{c}:1: invalid YAML" in text


def test_one_problem_is_one_error(tmp_path: Path) -> None:
    _write(tmp_path, "only.yml", "processors:\n  - lowercase: {tag: t}\n")
    with pytest.raises(ContentError, match=r"only\.yml: processors\[0\] lowercase tag=t: \[field\] required property is missing"):
        load_pipelines(tmp_path, include_generated=False)


def test_the_set_is_frozen(bundle: Any) -> None:
    with pytest.raises(TypeError):
        bundle.bodies["x"] = {}  # type: ignore[index]
    body = bundle.body(ENTRY)
    body["processors"].clear()
    assert bundle.bodies[ENTRY]["processors"], "body() hands out a copy"


def test_drop_reason_is_the_processors_description_or_tag() -> None:
    ps = pipelines_from_bodies({"p": {"processors": [
        {"drop": {"if": "ctx.kind == 'health'", "description": "health checks are not model access"}},
        {"drop": {"if": "ctx.kind == 'noise'", "tag": "drop-noise"}}]}})
    assert ps.executor.run("p", {"kind": "health"}).drop_reason == "health checks are not model access"
    assert ps.executor.run("p", {"kind": "noise"}).drop_reason == "drop-noise"
    assert ps.executor.run("p", {"kind": "x"}).ok


def test_pipeline_cycles_fail_the_document() -> None:
    ps = pipelines_from_bodies({"a": {"processors": [{"pipeline": {"name": "b"}}]},
                                "b": {"processors": [{"pipeline": {"name": "a", "tag": "back"}}]}})
    out = ps.executor.run("a", {})
    assert out.error == "Cycle detected for pipeline: a"
    assert (out.error_processor, out.error_tag) == ("pipeline", "back")


def test_failure_without_handler_names_the_processor() -> None:
    ps = pipelines_from_bodies({"p": {"processors": [{"convert": {"field": "n", "type": "long", "tag": "to-long"}}]}})
    out = ps.executor.run("p", {"n": "12x"})
    assert not out.ok
    assert (out.error, out.error_processor, out.error_tag) == ('For input string: "12x"', "convert", "to-long")


def test_documents_are_not_copied_per_processor() -> None:
    ps = pipelines_from_bodies({"p": {"processors": [{"set": {"field": "a", "value": 1}}]}})
    src: dict[str, Any] = {"x": {"y": 1}}
    out = ps.executor.run("p", src)
    assert out.doc is src and src["a"] == 1
