"""Golden files: each of our own samples (`ingest_pipelines/samples/<name>`) beside its
expected ECS output (`tests/ingest/golden/<name>.json`): the core fields of test_formats
(time, action, outcome, source address, cloud, model, tokens, duration, request and session
ids, ...) and the identity fields of every record, normalized with the format's hint on the
offline executor (the same documents as on OpenSearch: test_differential.py).

One case per sample file, its id the file name. A change of a pipeline, the inventory or a
sample that moves a golden value fails here; when the change is meant, rewrite the files with
`pytest tests/ingest/test_golden.py --regen-golden` and review their diff before committing.
Golden files are canonical JSON (sorted keys, two-space indentation), and every one belongs to
a sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sample_cases import own_sample_params
from test_formats import CORE, IDENTITY

from siem_pack.doc import flatten
from siem_pack.ingest.formats import ENTRY_PIPELINE, FORMATS, Format, Sample
from siem_pack.ingest.pipeline import PipelineSet

GOLDEN_DIR = Path(__file__).parent / "golden"
REGEN = "if the change is meant: `pytest tests/ingest/test_golden.py --regen-golden`, then review the diff"
# besides CORE and IDENTITY: every raw id, the key, and whether the event names anyone
GOLDEN_FIELDS = frozenset((*CORE, *IDENTITY, "related.user", "siem_pack.api_key.id", "siem_pack.attribution"))


def golden_file(sample: Sample) -> Path:
    return GOLDEN_DIR / f"{sample.name}.json"


def render(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def normalized(pipelines: PipelineSet, fmt: Format, sample: Sample) -> dict[str, Any]:
    """The golden body of a sample: its golden fields, record by record."""
    events = []
    for n, text in enumerate(sample.records(), 1):
        out = pipelines.executor.run(ENTRY_PIPELINE, {"message": text, "siem_pack": {"format": fmt.name}})
        assert out.error is None and out.doc is not None, f"{sample.name} record {n}: {out.error}"
        events.append({k: v for k, v in flatten(out.doc).items() if k in GOLDEN_FIELDS})
    return {"format": fmt.name, "sample": f"ingest_pipelines/samples/{sample.path}", "events": events}


@pytest.mark.parametrize(("fmt", "sample"), own_sample_params())
def test_sample_gives_its_golden_events(pipelines: PipelineSet, regen_golden: bool, fmt: Format,
                                        sample: Sample) -> None:
    got = normalized(pipelines, fmt, sample)
    path = golden_file(sample)
    if regen_golden:
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(got), encoding="utf-8")
    assert path.is_file(), f"{path.name} missing: write it with `pytest tests/ingest/test_golden.py --regen-golden`"
    want = json.loads(path.read_text(encoding="utf-8"))
    assert path.read_text(encoding="utf-8") == render(want), f"{path.name} is not canonical JSON"
    assert len(got["events"]) == len(want["events"]), (
        f"{sample.name}: {len(got['events'])} records, golden has {len(want['events'])}; {REGEN}")
    for n, (ours, golden) in enumerate(zip(got["events"], want["events"], strict=True), 1):
        diff = {k: (ours.get(k), golden.get(k)) for k in sorted(set(ours) | set(golden)) if ours.get(k) != golden.get(k)}
        assert not diff, f"{sample.name} record {n}: field: (now, golden) {diff}; {REGEN}"
    assert got == want


def test_every_golden_file_belongs_to_an_own_sample() -> None:
    names = {golden_file(s).name for fmt in FORMATS.values() for s in fmt.own_samples}
    stray = sorted(p.name for p in GOLDEN_DIR.glob("*.json") if p.name not in names)
    assert not stray, f"golden files without a sample in the registry: {stray}"


def test_every_own_sample_file_is_registered() -> None:
    """Each file under ingest_pipelines/samples/ is a registered own sample or an envelope of an
    upstream fragment: nothing there escapes the tests."""
    from siem_pack.paths import content_dir

    used = {s.path for fmt in FORMATS.values() for s in fmt.own_samples}
    used |= {s.envelope for fmt in FORMATS.values() for s in fmt.samples if s.envelope}
    files = {p.name for p in (content_dir("ingest_pipelines") / "samples").iterdir() if p.is_file()}
    assert files - used == set(), f"sample files no format names: {sorted(files - used)}"
    for fmt in FORMATS.values():
        assert fmt.own_samples, f"{fmt.name}: no sample of our own"
