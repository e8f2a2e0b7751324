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
    df["team"] = df["user.id"].map(teams).fillna("")
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


@dataclass(frozen=True)
class IdentityWindows:
    """The frame per (identity, window), all models together, split at the first scored
    window: `now` the scored windows, `hist` per identity its earlier ones (how many, busiest
    requests and completions, usual output/input). `model`/`tier`: the window's busiest model.
    Built once for the exfiltration and burst checks (`identity_windows`)."""

    now: pd.DataFrame
    hist: pd.DataFrame


def identity_windows(frame: pd.DataFrame, scored: np.ndarray) -> IdentityWindows:
    first_scored = frame.loc[scored, "window_start"].min()
    busiest = frame.sort_values(["requests", "gen_ai.request.model"], ascending=[False, True], kind="mergesort")
    agg: dict[str, Any] = {"requests": ("requests", "sum"), "out": ("output_tokens_sum", "sum"),
                           "inp": ("input_tokens_sum", "sum"), "models": ("gen_ai.request.model", "nunique"),
                           "model": ("gen_ai.request.model", "first"), "tier": ("siem_pack.model.tier", "first"),
                           "new_countries": ("new_countries", "max")}
    if "new_networks" in frame:
        agg["new_networks"] = ("new_networks", "max")
    iw = busiest.groupby(["user.id", "window_start"], sort=True).agg(**agg).reset_index()
    if "new_networks" not in iw:
        iw["new_networks"] = 0
    iw["ratio"] = iw["out"] / iw["inp"].clip(lower=1)
    earlier = iw[iw["window_start"] < first_scored]
    hist = earlier.groupby("user.id").agg(
        windows=("out", "size"), out_max=("out", "max"), requests_max=("requests", "max"),
        ratio_p95=("ratio", lambda r: float(np.quantile(r, 0.95))))
    now = iw[iw["window_start"] >= first_scored].join(hist, on="user.id", how="inner")
    return IdentityWindows(now=now, hist=hist)


def _established(now: pd.DataFrame, limits: ShapeLimits) -> pd.DataFrame:
    """Scored windows of identities with enough earlier windows to have a shape of their own."""
    return now[now["windows"] >= limits.min_history_windows]


def exfiltration_docs(frame: pd.DataFrame, scored: np.ndarray, version: str, window_seconds: int,
                      limits: ShapeLimits = DEFAULT_LIMITS, windows: IdentityWindows | None = None
                      ) -> list[dict[str, Any]]:
    """One document per scored (identity, window) whose completion volume (all models; and,
    from a new country or network, answer-to-prompt ratio) is far above the identity's own
    earlier windows."""
    if frame.empty or not scored.any():
        return []
    w = _established((windows or identity_windows(frame, scored)).now, limits)
    w = w[w["out"] >= limits.min_output_tokens]
    volume = w["out"] / w["out_max"].clip(lower=1)
    new_net = (w["new_countries"] + w["new_networks"]) > 0
    long_answers = w["ratio"] >= np.maximum(limits.min_ratio, limits.ratio_factor * w["ratio_p95"])
    joined = new_net & long_answers & (volume >= limits.joined_volume_factor)
    hit = (volume >= limits.volume_factor) | joined
    docs: list[dict[str, Any]] = []
    for row, vol, both in zip(w[hit].itertuples(index=False), volume[hit], (new_net & long_answers)[hit], strict=True):
        out_max = max(1, int(row.out_max))
        over = vol / limits.volume_factor if vol >= limits.volume_factor else vol / limits.joined_volume_factor
        countries, networks = int(row.new_countries), int(row.new_networks)
        explanation = [f"completion tokens {int(row.out)} in the window = {vol:.1f} x the identity's busiest earlier "
                       f"window ({out_max})",
                       f"output/input {row.ratio:.1f} (its usual 95th percentile {row.ratio_p95:.2f})"]
        if countries or networks:
            explanation.append(f"from a network the identity never used before ({countries} new countries, "
                               f"{networks} new networks: source.geo, source.as)")
        features = {"output_tokens_sum": int(row.out), "input_tokens_sum": int(row.inp),
                    "output_input_ratio": round(float(row.ratio), 2), "baseline_output_max": out_max,
                    "baseline_ratio_p95": round(float(row.ratio_p95), 2), "new_countries": countries,
                    "new_networks": networks, "models": int(row.models)}
        docs.append(_doc("exfiltration", str(row[0]), str(row.model), str(row.tier),
                         pd.Timestamp(row.window_start).to_pydatetime(), window_seconds,
                         _risk(over * (2.0 if both else 1.0)), explanation, features, version, {}))
    return docs


def burst_docs(frame: pd.DataFrame, scored: np.ndarray, version: str, window_seconds: int,
               limits: ShapeLimits = DEFAULT_LIMITS, windows: IdentityWindows | None = None) -> list[dict[str, Any]]:
    """One document per scored (identity, window) whose requests (all models) are far above
    the identity's own busiest earlier window."""
    if frame.empty or not scored.any():
        return []
    w = _established((windows or identity_windows(frame, scored)).now, limits)
    limit = np.maximum(limits.burst_factor * w["requests_max"].clip(lower=1), float(limits.burst_min_requests))
    hit = w["requests"] >= limit
    docs: list[dict[str, Any]] = []
    for row, lim in zip(w[hit].itertuples(index=False), limit[hit], strict=True):
        requests, busiest = int(row.requests), max(1, int(row.requests_max))
        explanation = [f"{requests} requests in the window over {int(row.models)} model(s) = "
                       f"{requests / busiest:.1f} x the identity's busiest earlier window ({busiest})",
                       f"limit {lim:g} = max({limits.burst_factor:g} x busiest, {limits.burst_min_requests})"]
        features = {"requests": requests, "baseline_requests_max": busiest, "models": int(row.models)}
        docs.append(_doc("burst", str(row[0]), str(row.model), str(row.tier),
                         pd.Timestamp(row.window_start).to_pydatetime(), window_seconds, _risk(requests / lim),
                         explanation, features, version, {}))
    return docs
