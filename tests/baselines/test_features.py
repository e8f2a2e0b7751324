"""Features: DuckDB SQL and Elasticsearch composite aggregations give the same frame."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from elasticsearch.helpers import bulk

from siem_pack.backends.duckdb import Store
from siem_pack.baselines import shapes, synthetic
from siem_pack.baselines.features import (
    AGGREGATES,
    FeatureFrameSpec,
    Grant,
    IdentityContext,
    compare_frames,
    derive,
    features_duckdb,
    features_es,
    parse_window,
)
from siem_pack.baselines.jobs import UNSUPPORTED_ON_TEST_NODE
from siem_pack.errors import ConfigError
from siem_pack.schema import load_schema

from .conftest import load_docs


def _spec(u: synthetic.Usage, window: int = 3600) -> FeatureFrameSpec:
    return FeatureFrameSpec(u.train_start, u.end, window)


def _varied(u: synthetic.Usage) -> synthetic.Usage:
    """Missing tiers, countries and token counts on some events, so null handling is compared too."""
    ev = u.events.copy()
    ev.loc[ev.index % 17 == 0, "siem_pack.model.tier"] = None
    ev.loc[ev.index % 13 == 0, "source.geo.country_iso_code"] = None
    ev["gen_ai.usage.output_tokens"] = ev["gen_ai.usage.output_tokens"].astype("Int64")
    ev.loc[ev.index % 11 == 0, "gen_ai.usage.output_tokens"] = pd.NA
    return synthetic.Usage(ev, u.context, u.train_start, u.train_end, u.end)


def test_duckdb_frame_counts_every_attributed_event(tmp_path: Path, small_usage: synthetic.Usage) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        synthetic.load_duckdb(store, small_usage.events)
        frame = features_duckdb(store, _spec(small_usage))
    assert frame["requests"].sum() == len(small_usage.events)
    assert (frame["window_start"].dt.minute == 0).all()
    tokens = small_usage.events["gen_ai.usage.input_tokens"].sum()
    assert frame["input_tokens_sum"].sum() == tokens
    assert (frame["input_tokens_max"] >= frame["input_tokens_p95"]).all()


@pytest.mark.parametrize("text,seconds", [("1h", 3600), ("30m", 1800), ("1d", 86400), ("900", 900)])
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


def test_bad_window_and_range_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="bad window"):
        parse_window("soon")
    with pytest.raises(ConfigError, match="empty time range"):
        FeatureFrameSpec(datetime(2026, 1, 2), datetime(2026, 1, 1))


def test_derive_flags_first_seen_model_new_country_and_grants() -> None:
    w = [datetime(2026, 1, 1, h) for h in range(4)]
    base = pd.DataFrame({
        "user.id": ["a", "a", "a", "a"], "gen_ai.request.model": ["m1", "m1", "m2", "m3"],
        "siem_pack.model.tier": ["internal", "internal", "restricted", "internal"], "window_start": w,
        **{name: [1, 1, 1, 1] for name in AGGREGATES}, "country_list": [["FR"], ["FR"], ["FR", "US"], ["FR"]],
        "network_list": [["3215"], ["3215"], ["3215"], ["3215", "14061"]],
    })
    ctx = IdentityContext(timezones={"a": "Asia/Tokyo"}, grants=(Grant("a", "m3", w[3]),))
    out = derive(base, ctx)
    assert out["first_seen_model"].tolist() == [0, 0, 1, 0]  # m3 is granted
    assert out["granted"].tolist() == [0, 0, 0, 1]
    assert out["new_countries"].tolist() == [0, 0, 1, 0]
    assert out["new_networks"].tolist() == [0, 0, 0, 1]  # a hosting provider's AS in the last window
    assert out["restricted_share"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert out["local_hour"].tolist() == [9, 10, 11, 12]


def test_identity_context_file_rejects_unknown_time_zone(tmp_path: Path) -> None:
    p = tmp_path / "ctx.yml"
    p.write_text("identities: {a: {time_zone: Mars/Olympus}}\n")
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        IdentityContext.from_file(p)


@pytest.mark.elasticsearch
def test_duckdb_and_elasticsearch_give_the_same_frame(es: Any, es_prefix: str, tmp_path: Path,
                                                       small_usage: synthetic.Usage) -> None:
    u = _varied(small_usage)
    index = f"{es_prefix}-events"
    props = load_schema().es_properties(UNSUPPORTED_ON_TEST_NODE)
    es.indices.create(index=index, mappings={"properties": props})
    docs = list(u.docs())
    ok, errors = bulk(es, ({"_index": index, "_id": d["event"]["id"], "_source": d} for d in docs), refresh=True)
    assert ok == len(docs) and not errors
    load_docs(tmp_path / "d.duckdb", u)
    spec = _spec(u)
    with Store(tmp_path / "d.duckdb") as store:
        sql = features_duckdb(store, spec)
    pages: list[int] = []
    agg = features_es(es, index, spec, page_size=50, on_page=lambda body: pages.append(1))
    assert len(pages) > 3  # paged through after_key
    assert len(sql) > 100
    # exact for counts, sums, maxima and distinct counts; p95 within 1 % (identical here: few values per bucket)
    assert compare_frames(sql, agg, p95_rtol=0.01) == []
    assert compare_frames(sql, agg, p95_rtol=1e-9) == []
    d1, d2 = derive(sql, u.context), derive(agg, u.context)
    lists = ["country_list", "network_list"]
    pd.testing.assert_frame_equal(d1.drop(columns=lists), d2.drop(columns=lists))
    assert d1[lists].equals(d2[lists])
    # the cross-identity and shape checks read only the frame: the same documents either way
    mask = (d1["window_start"] >= pd.Timestamp(u.train_end)).to_numpy()
    # (low limits, so that every check has something to report on this small data set)
    low = shapes.ShapeLimits(cohort_min_keys=1, cohort_min_requests=1, cohort_factor=0.5, volume_factor=0.8,
                             min_output_tokens=1, burst_factor=1.2, burst_min_requests=1, new_days=30)
    found = []
    for frame in (d1, d2):
        found.append(shapes.cohort_docs(frame, mask, u.context.teams, "v", spec.window_seconds, low)
                     + shapes.exfiltration_docs(frame, mask, "v", spec.window_seconds, low)
                     + shapes.burst_docs(frame, mask, "v", spec.window_seconds, low))
    assert found[0] == found[1]
    assert {d["siem_pack"]["anomaly"]["kind"] for d in found[0]} >= {"burst", "exfiltration"}


@pytest.mark.elasticsearch
def test_thirty_minute_windows_agree_too(es: Any, es_prefix: str, tmp_path: Path, small_usage: synthetic.Usage) -> None:
    index = f"{es_prefix}-events30"
    props = load_schema().es_properties(UNSUPPORTED_ON_TEST_NODE)
    es.indices.create(index=index, mappings={"properties": props})
    docs = list(small_usage.docs())
    bulk(es, ({"_index": index, "_id": d["event"]["id"], "_source": d} for d in docs), refresh=True)
    load_docs(tmp_path / "d.duckdb", small_usage)
    spec = _spec(small_usage, 1800)
    with Store(tmp_path / "d.duckdb") as store:
        sql = features_duckdb(store, spec)
    assert compare_frames(sql, features_es(es, index, spec)) == []


def test_chunked_aggregation_is_exact(tmp_path: Path, small_usage: synthetic.Usage) -> None:
    from datetime import timedelta

    start = small_usage.train_start + timedelta(minutes=17)  # not on a window edge
    spec = FeatureFrameSpec(start, small_usage.end, 1800)
    with Store(tmp_path / "c.duckdb") as store:
        synthetic.load_duckdb(store, small_usage.events)
        whole = features_duckdb(store, spec, chunk_seconds=10 * 86400)
        chunked = features_duckdb(store, spec, chunk_seconds=5 * 3600)
    assert len(whole) > 100
    assert compare_frames(whole, chunked, p95_rtol=0.0) == []
