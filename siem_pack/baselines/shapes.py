"""Stage 3, step 3: checks across identities and of an identity's data shape, on the same
feature frame the isolation forest scores (so DuckDB and Elasticsearch give the same answers).

The forest judges one (identity, model, window) at a time against its population. Two attack
shapes slip past that: many fresh keys of one team, each quiet, together far above what the
team ever sent to a sensitive model (coordinated low-and-slow extraction), and an identity
pulling long completions from a network it never used (bulk exfiltration). `cohort_docs` and
`exfiltration_docs` turn those into anomaly events (siem_pack.anomaly.kind `cohort` /
`exfiltration`) that their rules alert on; `burst_docs` judges an identity's request count
against its own busiest windows (`burst`), so a coding agent that calls in bursts all day is
not held to everyone's ceiling. Every figure compares the scored window with the
history before the scored range only (no look-ahead): the team's own windows on that model,
the identity's own windows.

Input: `derive`d frame rows (history and scored windows), the mask of scored rows, the
identity context (teams). Output: anomaly documents in docs/anomalies.md's shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..times import format_ts

SENSITIVE_TIERS = ("confidential", "restricted")


@dataclass(frozen=True)
class ShapeLimits:
    """When a cohort or an exfiltration shape is reported (docs/anomalies.md explains each).

    cohort: at least `cohort_min_keys` identities first seen within `new_days` sent one
    sensitive model more than `cohort_factor` times the team's busiest earlier window on it,
    and at least `cohort_min_requests` requests (a team that never used the model is judged
    by the floor alone).
    exfiltration: completion tokens in the window at least `volume_factor` times the
    identity's busiest earlier window and `min_output_tokens`; from a country or network
    (AS) the identity never used, a lower `joined_volume_factor` suffices when answers are also much
    longer than asked for (output/input at least `ratio_factor` times the identity's usual
    95th percentile, and at least `min_ratio`).
    burst: requests in the window (all models) at least `burst_factor` times the identity's
    busiest earlier window and at least `burst_min_requests`.
    Identities with fewer than `min_history_windows` active earlier windows are not judged."""

    new_days: int = 7
    cohort_min_keys: int = 3
    cohort_factor: float = 2.0
    cohort_min_requests: int = 40
    volume_factor: float = 10.0
    joined_volume_factor: float = 3.0
    min_output_tokens: int = 20_000
    ratio_factor: float = 3.0
    min_ratio: float = 3.0
    min_history_windows: int = 8
    burst_factor: float = 3.0
    burst_min_requests: int = 60


DEFAULT_LIMITS = ShapeLimits()


def _doc_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _doc(kind: str, ident: str, model: str, tier: str, ws: datetime, window_seconds: int, risk: float,
         explanation: list[str], features: dict[str, Any], version: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    we = ws + timedelta(seconds=window_seconds)
    return {
        "@timestamp": format_ts(we, "auto"),
        "event": {"id": _doc_id(version, kind, ident, model, ws.isoformat(), str(extra.get("team", ""))),
                  "kind": "event", "dataset": "siem_pack.anomaly", "module": "siem_pack",
                  "category": ["threat"], "type": ["info"]},
        "user": {"id": ident},
        "gen_ai": {"request": {"model": model}},
        "siem_pack": {
            "model": {"tier": tier},
            "anomaly": {
                "kind": kind, "risk_score": round(risk, 2), "threshold": 0.0, "is_anomalous": True,
                "population": kind, "model_version": version,
                "window": {"start": format_ts(ws, "auto"), "end": format_ts(we, "auto")},
                "top_features": list(features), "explanation": explanation,
                "features": features, **({"cohort": dict(extra)} if extra else {}),
            },
        },
    }


def _risk(ratio: float) -> float:
    """A ratio over the limit → 80..99: twice the limit scores about 90."""
    return float(min(99.0, 80.0 + 10.0 * np.log2(max(ratio, 1.0))))


def cohort_docs(frame: pd.DataFrame, scored: np.ndarray, teams: Mapping[str, str], version: str,
                window_seconds: int, limits: ShapeLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """One document per (team, sensitive model, scored window) whose new-key cohort is far
    above the team's earlier windows on that model."""
    if frame.empty or not scored.any():
        return []
    df = frame[["user.id", "gen_ai.request.model", "siem_pack.model.tier", "window_start", "requests"]].copy()
    df["team"] = df["user.id"].map(lambda u: teams.get(str(u), ""))
    df = df[df["team"] != ""]
    first_scored = frame.loc[scored, "window_start"].min()
    history_start = frame["window_start"].min()
    ident_first = df.groupby("user.id")["window_start"].transform("min")
    df["new"] = (ident_first > history_start + pd.Timedelta(days=1)) & \
        (ident_first > df["window_start"] - pd.Timedelta(days=limits.new_days))
    earlier = df[df["window_start"] < first_scored]
    team_max: pd.Series = pd.Series(dtype="int64")
    if not earlier.empty:
        per_window = earlier.groupby(["team", "gen_ai.request.model", "window_start"])["requests"].sum()
        team_max = per_window.groupby(level=[0, 1]).max()
    now = df[(df["window_start"] >= first_scored) & df["new"] & df["siem_pack.model.tier"].isin(SENSITIVE_TIERS)]
    docs: list[dict[str, Any]] = []
    for (team, model, ws), grp in now.groupby(["team", "gen_ai.request.model", "window_start"], sort=True):
        keys = sorted(grp["user.id"].astype(str).unique())
        requests = int(grp["requests"].sum())
        baseline = int(team_max.get((team, model), 0))
        limit = max(limits.cohort_factor * baseline, float(limits.cohort_min_requests))
        if len(keys) < limits.cohort_min_keys or requests <= limit:
            continue
        tier = str(grp["siem_pack.model.tier"].iloc[0])
        first_key = str(grp.sort_values(["requests", "user.id"], ascending=[False, True])["user.id"].iloc[0])
        explanation = [f"{len(keys)} identities first seen in the last {limits.new_days} days sent {requests} requests "
                       f"to {model} ({tier}) in one window",
                       f"team {team}'s busiest earlier window on {model}: {baseline} requests "
                       f"(limit {limit:g} = max({limits.cohort_factor:g} x baseline, {limits.cohort_min_requests}))"]
        features = {"cohort_keys": len(keys), "cohort_requests": requests, "team_baseline_requests": baseline}
        docs.append(_doc("cohort", first_key, str(model), tier, pd.Timestamp(ws).to_pydatetime(), window_seconds,
                         _risk(requests / limit), explanation, features, version,
                         {"team": str(team), "keys": keys, "size": len(keys)}))
    return docs


def exfiltration_docs(frame: pd.DataFrame, scored: np.ndarray, version: str, window_seconds: int,
                      limits: ShapeLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """One document per scored (identity, model, window) whose completion volume (and, from a
    new network, answer-to-prompt ratio) is far above the identity's own earlier windows."""
    if frame.empty or not scored.any():
        return []
    cols = ["user.id", "gen_ai.request.model", "siem_pack.model.tier", "window_start", "input_tokens_sum",
            "output_tokens_sum", "requests", "new_countries"] + (["new_networks"] if "new_networks" in frame else [])
    df = frame[cols].copy()
    first_scored = frame.loc[scored, "window_start"].min()
    # per identity and window (all models together), then the identity's earlier windows
    iw = df.groupby(["user.id", "window_start"], sort=True).agg(
        out=("output_tokens_sum", "sum"), inp=("input_tokens_sum", "sum"))
    iw["ratio"] = iw["out"] / iw["inp"].clip(lower=1)
    iw = iw.reset_index()
    hist = iw[iw["window_start"] < first_scored].groupby("user.id").agg(
        windows=("out", "size"), out_max=("out", "max"), ratio_p95=("ratio", lambda s: float(np.quantile(s, 0.95))))
    docs: list[dict[str, Any]] = []
    now = df[df["window_start"] >= first_scored]
    for row in now.itertuples(index=False):
        rec = dict(zip(now.columns, row, strict=True))
        uid = str(rec["user.id"])
        if uid not in hist.index or int(hist.at[uid, "windows"]) < limits.min_history_windows:
            continue  # too little of its own history to judge a shape against
        out, inp = int(rec["output_tokens_sum"]), int(rec["input_tokens_sum"])
        if out < limits.min_output_tokens:
            continue
        out_max = max(1, int(hist.at[uid, "out_max"]))
        ratio_p95 = float(hist.at[uid, "ratio_p95"])
        ratio = out / max(1, inp)
        countries, networks = int(rec["new_countries"]), int(rec.get("new_networks", 0) or 0)
        new_net = countries + networks
        volume = out / out_max
        long_answers = ratio >= max(limits.min_ratio, limits.ratio_factor * ratio_p95)
        if volume >= limits.volume_factor:
            over = volume / limits.volume_factor
        elif new_net and long_answers and volume >= limits.joined_volume_factor:
            over = volume / limits.joined_volume_factor
        else:
            continue
        explanation = [f"completion tokens {out} in the window = {volume:.1f} x the identity's busiest earlier window "
                       f"({out_max})",
                       f"output/input {ratio:.1f} (its usual 95th percentile {ratio_p95:.2f})"]
        if new_net:
            explanation.append(f"from a network the identity never used before ({countries} new countries, "
                               f"{networks} new networks: source.geo, source.as)")
        features = {"output_tokens_sum": out, "input_tokens_sum": inp, "output_input_ratio": round(ratio, 2),
                    "baseline_output_max": out_max, "baseline_ratio_p95": round(ratio_p95, 2),
                    "new_countries": countries, "new_networks": networks}
        ws = pd.Timestamp(rec["window_start"]).to_pydatetime()
        docs.append(_doc("exfiltration", uid, str(rec["gen_ai.request.model"]), str(rec["siem_pack.model.tier"]),
                         ws, window_seconds, _risk(over * (2.0 if new_net and long_answers else 1.0)), explanation,
                         features, version, {}))
    return docs


def burst_docs(frame: pd.DataFrame, scored: np.ndarray, version: str, window_seconds: int,
               limits: ShapeLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """One document per scored (identity, window) whose requests (all models) are far above
    the identity's own busiest earlier window."""
    if frame.empty or not scored.any():
        return []
    first_scored = frame.loc[scored, "window_start"].min()
    iw = frame.groupby(["user.id", "window_start"], sort=True).agg(
        requests=("requests", "sum"), models=("gen_ai.request.model", "nunique"),
        top_model=("gen_ai.request.model", "first"), tier=("siem_pack.model.tier", "first")).reset_index()
    hist = iw[iw["window_start"] < first_scored].groupby("user.id")["requests"].agg(["size", "max"])
    docs: list[dict[str, Any]] = []
    for row in iw[iw["window_start"] >= first_scored].itertuples(index=False):
        uid = str(row[0])
        if uid not in hist.index or int(hist.at[uid, "size"]) < limits.min_history_windows:
            continue
        requests, busiest = int(row.requests), max(1, int(hist.at[uid, "max"]))
        limit = max(limits.burst_factor * busiest, float(limits.burst_min_requests))
        if requests < limit:
            continue
        explanation = [f"{requests} requests in the window over {int(row.models)} model(s) = "
                       f"{requests / busiest:.1f} x the identity's busiest earlier window ({busiest})",
                       f"limit {limit:g} = max({limits.burst_factor:g} x busiest, {limits.burst_min_requests})"]
        features = {"requests": requests, "baseline_requests_max": busiest, "models": int(row.models)}
        docs.append(_doc("burst", uid, str(row.top_model), str(row.tier), pd.Timestamp(row.window_start).to_pydatetime(),
                         window_seconds, _risk(requests / limit), explanation, features, version, {}))
    return docs
