"""The checks across identities and of an identity's shape (siem_pack.baselines.shapes) on
hand-built feature frames: each fires on the attack shape and stays quiet on its benign twin."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from siem_pack.baselines import shapes

T0 = datetime(2026, 3, 2)
SCORED = T0 + timedelta(days=5)  # windows from here on are scored, earlier ones are history


def _row(user: str, model: str, tier: str, ws: datetime, requests: int, inp: int = 0, out: int = 0,
         new_countries: int = 0, new_networks: int = 0) -> dict[str, Any]:
    return {"user.id": user, "gen_ai.request.model": model, "siem_pack.model.tier": tier,
            "window_start": pd.Timestamp(ws), "requests": requests, "input_tokens_sum": inp or requests * 400,
            "output_tokens_sum": out or requests * 200, "new_countries": new_countries, "new_networks": new_networks}


def _frame(rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.DataFrame(rows).sort_values(["user.id", "window_start"], kind="mergesort").reset_index(drop=True)
    return df, (df["window_start"] >= pd.Timestamp(SCORED)).to_numpy()


def _team_history() -> list[dict[str, Any]]:
    """u1 and u2 of team ds call the confidential model 'o1' at 10 requests a working hour."""
    rows = []
    for day in range(6):
        for hour in range(9, 17):
            ws = T0 + timedelta(days=day, hours=hour)
            rows += [_row("u1", "o1", "confidential", ws, 6), _row("u2", "o1", "confidential", ws, 4)]
    return rows


TEAMS = {"u1": "ds", "u2": "ds", **{f"k{n}": "ds" for n in range(8)}, "x1": "ops"}


def test_a_cohort_of_new_keys_far_above_the_team_is_one_document_naming_every_key() -> None:
    ws = SCORED + timedelta(hours=11)
    rows = _team_history() + [_row(f"k{n}", "o1", "confidential", ws, 12 + n) for n in range(5)]
    df, scored = _frame(rows)
    docs = shapes.cohort_docs(df, scored, TEAMS, "v1", 3600)
    assert len(docs) == 1
    a = docs[0]["siem_pack"]["anomaly"]
    assert a["kind"] == "cohort" and a["cohort"] == {"team": "ds", "keys": ["k0", "k1", "k2", "k3", "k4"], "size": 5}
    assert docs[0]["user"]["id"] == "k4"  # the busiest key
    assert a["features"] == {"cohort_keys": 5, "cohort_requests": 70, "team_baseline_requests": 10}
    assert docs[0]["@timestamp"] == (ws + timedelta(hours=1)).isoformat() + "Z"
    assert 80 <= a["risk_score"] <= 99 and "team ds's busiest earlier window on o1: 10 requests" in a["explanation"][1]


def test_a_key_migration_at_the_same_volume_and_too_few_keys_stay_quiet() -> None:
    ws = SCORED + timedelta(hours=11)
    migration = [_row(f"k{n}", "o1", "confidential", ws, 2) for n in range(5)]  # 10 requests: the old volume
    two_keys = [_row(f"k{n}", "o1", "confidential", ws, 40) for n in range(2)]
    public = [_row(f"k{n}", "mini", "public", ws, 40) for n in range(5)]
    for extra in (migration, two_keys, public):
        df, scored = _frame(_team_history() + extra)
        assert shapes.cohort_docs(df, scored, TEAMS, "v1", 3600) == []


def test_keys_active_since_the_history_began_are_not_new() -> None:
    rows = _team_history()
    for n in range(5):  # the keys were there from the first day, at one request an hour
        rows += [_row(f"k{n}", "o1", "confidential", T0 + timedelta(hours=h), 1) for h in range(9, 12)]
        rows.append(_row(f"k{n}", "o1", "confidential", SCORED + timedelta(hours=11), 15))
    df, scored = _frame(rows)
    assert shapes.cohort_docs(df, scored, TEAMS, "v1", 3600) == []


def _identity_history(user: str = "u1") -> list[dict[str, Any]]:
    return [_row(user, "gpt-4o", "internal", T0 + timedelta(days=d, hours=h), 8, inp=4000, out=2000)
            for d in range(5) for h in range(9, 13)]


def test_completion_volume_far_above_the_identity_is_exfiltration() -> None:
    ws = SCORED + timedelta(hours=14)
    df, scored = _frame(_identity_history() + [_row("u1", "gpt-4o", "internal", ws, 40, inp=300_000, out=560_000)])
    docs = shapes.exfiltration_docs(df, scored, "v1", 3600)
    assert len(docs) == 1
    a = docs[0]["siem_pack"]["anomaly"]
    assert a["kind"] == "exfiltration" and docs[0]["user"]["id"] == "u1"
    assert a["features"]["baseline_output_max"] == 2000 and a["features"]["output_tokens_sum"] == 560_000


def test_long_answers_from_a_new_country_need_less_volume_and_both_signals() -> None:
    ws = SCORED + timedelta(hours=2)
    shape = dict(inp=2_000, out=25_000)  # 12.5x the busiest window is not needed: 3x with both signals
    joined = _row("u1", "gpt-4o", "internal", ws, 70, new_countries=1, **shape)
    df, scored = _frame(_identity_history() + [joined])
    [doc] = shapes.exfiltration_docs(df, scored, "v1", 3600)
    assert "from a network the identity never used before (1 new countries, 0 new networks" in \
        doc["siem_pack"]["anomaly"]["explanation"][2]
    # a rented server in the identity's own country: a new network (AS), no new country
    hosting = _row("u1", "gpt-4o", "internal", ws, 70, new_networks=1, **shape)
    df, scored = _frame(_identity_history() + [hosting])
    [doc] = shapes.exfiltration_docs(df, scored, "v1", 3600)
    assert doc["siem_pack"]["anomaly"]["features"]["new_networks"] == 1
    half = _row("u1", "gpt-4o", "internal", ws, 70, inp=2_000, out=7_000, new_countries=1)  # 3.5x, ratio 3.5
    home = _row("u1", "gpt-4o", "internal", ws, 70, inp=2_000, out=9_000, new_countries=0)  # 4.5x, home
    short = _row("u1", "gpt-4o", "internal", ws, 70, inp=20_000, out=9_000, new_countries=1)  # prompts as long
    for row in (half, home, short):
        df, scored = _frame(_identity_history() + [row])
        assert shapes.exfiltration_docs(df, scored, "v1", 3600) == [], row


def test_an_identity_without_enough_history_is_not_judged() -> None:
    few = _identity_history()[:5]
    ws = SCORED + timedelta(hours=14)
    df, scored = _frame(few + [_row("u1", "gpt-4o", "internal", ws, 40, inp=300_000, out=560_000)])
    assert shapes.exfiltration_docs(df, scored, "v1", 3600) == []
    df, scored = _frame(few + [_row("u1", "gpt-4o", "internal", ws, 500)])
    assert shapes.burst_docs(df, scored, "v1", 3600) == []


def test_a_burst_is_judged_against_the_identity_own_busiest_window() -> None:
    ws = SCORED + timedelta(hours=10)
    # an agent user who already made 60 calls in an hour: 150 is a burst, 100 is not
    hist = _identity_history("agent") + [_row("agent", "gpt-4o", "internal", T0 + timedelta(days=1, hours=15), 60)]
    for now, expected in ((150, 0), (190, 1)):
        df, scored = _frame(hist + [_row("agent", "gpt-4o", "internal", ws, now)])
        docs = shapes.burst_docs(df, scored, "v1", 3600)
        assert len(docs) == expected, now
    # a quiet identity (8 an hour): 60 is the floor
    for now, expected in ((59, 0), (60, 1)):
        df, scored = _frame(_identity_history() + [_row("u1", "gpt-4o", "internal", ws, now)])
        assert len(shapes.burst_docs(df, scored, "v1", 3600)) == expected, now


def test_document_ids_are_deterministic_and_distinct_per_kind() -> None:
    ws = SCORED + timedelta(hours=14)
    df, scored = _frame(_identity_history() + [_row("u1", "gpt-4o", "internal", ws, 400, inp=300_000, out=560_000)])
    a = shapes.exfiltration_docs(df, scored, "v1", 3600) + shapes.burst_docs(df, scored, "v1", 3600)
    b = shapes.exfiltration_docs(df, scored, "v1", 3600) + shapes.burst_docs(df, scored, "v1", 3600)
    assert [d["event"]["id"] for d in a] == [d["event"]["id"] for d in b]
    assert len({d["event"]["id"] for d in a}) == 2


def test_exfiltration_counts_the_window_over_all_models_once() -> None:
    """The baseline is the identity's windows over all models, so is the scored window: two
    models that each stay under the limit but together pass it make one document, named after
    the busier model."""
    ws = SCORED + timedelta(hours=14)
    split = [_row("u1", "gpt-4o", "internal", ws, 30, inp=2_000, out=12_000),
             _row("u1", "o1", "confidential", ws, 40, inp=2_000, out=12_000)]  # 6x each, 12x together
    df, scored = _frame(_identity_history() + split)
    [doc] = shapes.exfiltration_docs(df, scored, "v1", 3600)
    assert doc["gen_ai"]["request"]["model"] == "o1"
    assert doc["siem_pack"]["anomaly"]["features"]["output_tokens_sum"] == 24_000
    assert doc["siem_pack"]["anomaly"]["features"]["models"] == 2
