"""The format samples as test cases, for the ingest tests (imported like test_differential).

Two layers (tests/conftest.py): our own samples (`ingest_pipelines/samples/`) always run;
upstream samples are the conformance layer, marked `conformance` here so that without the
upstream folder they are deselected, never failed. A test reads a case's records with
`records(sample, request)`: an own sample needs no folder, an upstream one asks for the
`fixtures_dir` fixture only when it runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from siem_pack.ingest.formats import FORMATS, Format, Sample

CONFORMANCE = pytest.mark.conformance

# the own Bedrock record whose first prompt (an Anthropic messages body, longer than 256
# characters) the content tests replace, truncate and hash; PROMPT_START is how it begins
PROMPT_SAMPLE = next(s for s in FORMATS["bedrock_invocation"].own_samples if s.name == "bedrock_invocation.ndjson")
PROMPT_START = "Review the following deployment checklist"

# a layer of the samples as a whole, for tests over every record at once
LAYERS = [pytest.param("own", id="own"), pytest.param("upstream", id="upstream", marks=CONFORMANCE)]


def sample_params(formats: list[Format] | None = None) -> list[Any]:
    """One (format, sample) case per sample file, its id the file name; upstream ones are
    conformance."""
    return [pytest.param(fmt, s, id=s.name, marks=[CONFORMANCE] if s.upstream else [])
            for fmt in (formats if formats is not None else FORMATS.values()) for s in fmt.samples]


def own_sample_params() -> list[Any]:
    return [pytest.param(fmt, s, id=s.name) for fmt in FORMATS.values() for s in fmt.own_samples]


def records(sample: Sample, request: pytest.FixtureRequest) -> list[str]:
    """The sample's records; the upstream fixtures folder only for an upstream sample."""
    return sample.records(request.getfixturevalue("fixtures_dir") if sample.upstream else None)


def layer_samples(fmt: Format, layer: str) -> tuple[Sample, ...]:
    return fmt.own_samples if layer == "own" else fmt.upstream_samples


def layer_records(layer: str, request: pytest.FixtureRequest) -> list[tuple[Format, Sample, str]]:
    """Every record of the layer: (format, sample, record text)."""
    return [(fmt, s, text) for fmt in FORMATS.values() for s in layer_samples(fmt, layer)
            for text in records(s, request)]


def prompt_record() -> str:
    """The own Bedrock record with a long first prompt (see PROMPT_SAMPLE)."""
    text = PROMPT_SAMPLE.records()[0]
    assert PROMPT_START in text
    return text
