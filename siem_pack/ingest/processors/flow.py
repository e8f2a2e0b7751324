"""Stage 1 → 2: the flow processors: foreach (nested processors per element), pipeline
(another pipeline, by a templated name), drop and fail.

Neighbours: base.py (`Build` compiles nested processors and runs pipelines; `Dropped`),
paths.py, mustache.py; registry.py lists these; siem_pack.ingest.executor handles the signals.
"""

from __future__ import annotations

from .base import _MISSING, Build, Conf, Dropped, IngestDoc, ProcessorFailure, Run
from .mustache import compile_template
from .paths import set_field, value_for
from .render import java_type


def foreach_processor(c: Conf, b: Build) -> Run:
    field = c.str("field", required=True)
    ignore_missing = c.bool("ignore_missing")
    inner = c.any("processor", required=True)
    if not isinstance(inner, dict) or len(inner) != 1:
        raise c.error("[processor] must be one processor")
    run_inner = b.compile_processors([inner], c.where + "/processor")
    c.done()

    def run(doc: IngestDoc) -> None:
        v = value_for(doc, field, ignore_missing)
        if v is _MISSING:
            return
        if v is None:
            raise ProcessorFailure(f"field [{field}] is null, cannot loop over its elements.")
        if not isinstance(v, list):
            raise ProcessorFailure(f"field [{field}] of type [{java_type(v)}] cannot be cast to [java.util.List]")
        had = "_value" in doc.ingest
        prev = doc.ingest.get("_value")
        out = []
        for item in v:
            doc.ingest["_value"] = item
            run_inner(doc)
            out.append(doc.ingest.get("_value"))
        set_field(doc, field, out)
        if had:
            doc.ingest["_value"] = prev
        else:
            doc.ingest.pop("_value", None)
    return run


def pipeline_processor(c: Conf, b: Build) -> Run:
    name_raw = c.str("name", required=True)
    c.done()
    if "{{" not in name_raw and not b.pipeline_exists(name_raw):
        raise c.error(f"Pipeline processor configured for non-existent pipeline [{name_raw}]")
    name = compile_template(name_raw, c.where)
    return lambda doc: b.run_pipeline(name(doc), doc)


def drop_processor(c: Conf, b: Build) -> Run:
    c.done()

    def run(doc: IngestDoc) -> None:
        raise Dropped()
    return run


def fail_processor(c: Conf, b: Build) -> Run:
    msg = compile_template(c.str("message", required=True), c.where)
    c.done()

    def run(doc: IngestDoc) -> None:
        raise ProcessorFailure(msg(doc))
    return run
