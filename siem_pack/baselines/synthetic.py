"""Stage 3 test data: seeded synthetic ECS usage for the baseline tests and the benchmark.

Not content and not the attack simulator (that one speaks raw vendor formats): this builds
ECS events directly (the shape stage 2 stores), fast and vectorised, with labelled
anomalies (volume bursts, new models, off-hours, new countries, slow ramps) and benign traps
(nightly batch service accounts, a whole team's campaign spike, a gradual ramp after a
grant). Consumers: tests/baselines, benchmarks/bench_baselines.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..backends.duckdb import Store, quote
from ..doc import unflatten
from ..times import format_ts
from .features import Grant, IdentityContext

MODELS = {  # model -> tier
    "gpt-4o": "internal",
    "claude-sonnet": "confidential",
    "text-embed": "public",
    "llama-local": "internal",
    "o1-restricted": "restricted",
}
ZONES = {"FR": "Europe/Paris", "US": "America/New_York", "JP": "Asia/Tokyo", "GB": "Europe/London"}
ANOMALY_KINDS = ("burst", "new_model", "off_hours", "new_country", "slow_ramp")
TRAP_KINDS = ("nightly_batch", "team_campaign", "granted_ramp")


@dataclass
class Usage:
    """Synthetic events (flat, dotted columns) plus what was injected."""

    events: pd.DataFrame
    context: IdentityContext
    train_start: datetime
    train_end: datetime
    end: datetime
    anomalies: dict[tuple[str, datetime, str], str] = field(default_factory=dict)  # (user, window, model) -> kind
    traps: dict[str, set[tuple[str, datetime, str]]] = field(default_factory=dict)  # kind -> (user, window, model)

    def docs(self) -> Iterator[dict[str, Any]]:
        """Nested ECS documents (for Store.insert_events and Elasticsearch bulk)."""
        cols = list(self.events.columns)
        for values in self.events.itertuples(index=False, name=None):
            flat = {c: v for c, v in zip(cols, values, strict=True) if not (v is None or v is pd.NA or v != v)}
            flat["@timestamp"] = format_ts(flat["@timestamp"], "auto")
            for k in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "siem_pack.request.bytes",
                      "siem_pack.response.bytes"):
                if k in flat:
                    flat[k] = int(flat[k])
            yield unflatten(flat)


Row = tuple[int, str, int, int, str, float]  # person, model, hour, n, country, token factor


def _people(rng: np.random.Generator, humans: int, services: int, rate: float) -> list[dict[str, Any]]:
    countries = list(ZONES)
    models = [m for m in MODELS if MODELS[m] != "restricted"]
    people: list[dict[str, Any]] = []
    for i in range(humans):
        country = countries[i % len(countries)]
        people.append({
            "id": f"user-{i:04d}", "country": country, "tz": ZONES[country], "team": f"team-{i % 6}",
            "models": list(rng.choice(models, size=int(rng.integers(1, 4)), replace=False)),
            "rate": rate * float(rng.lognormal(0.0, 0.5)), "tokens": float(rng.lognormal(6.0, 0.6)),
            "ips": [f"10.{i % 250}.{j}.{int(rng.integers(1, 250))}" for j in range(int(rng.integers(1, 3)))],
            "agents": [f"python-sdk/{int(rng.integers(1, 3))}.{j}" for j in range(int(rng.integers(1, 3)))],
            "start_hour": int(rng.integers(7, 11)), "service": False,
        })
    for i in range(services):
        people.append({
            "id": f"svc-batch-{i}", "country": "US", "tz": "UTC", "team": "platform", "models": ["gpt-4o", "text-embed"],
            "rate": rate * 25, "tokens": 1500.0, "ips": [f"10.200.0.{i + 1}"], "agents": ["batch-runner/1.0"],
            "start_hour": 1, "service": True,
        })
    return people


@dataclass
class _Draft:
    """Usage being generated: per (person, model, hour) request counts, and what was injected."""

    hour_index: pd.DatetimeIndex
    test0: int  # the first hour of the test period
    rows: list[Row] = field(default_factory=list)
    anomalies: dict[tuple[str, datetime, str], str] = field(default_factory=dict)
    traps: dict[str, set[tuple[str, datetime, str]]] = field(default_factory=lambda: {k: set() for k in TRAP_KINDS})
    grants: list[Grant] = field(default_factory=list)

    @property
    def hours(self) -> int:
        return len(self.hour_index)

    def at(self, h: int) -> datetime:
        return self.hour_index[h].to_pydatetime()  # type: ignore[no-any-return]

    def usual(self, rng: np.random.Generator, p_i: int, p: dict[str, Any]) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """A person's ordinary usage (working hours, or a service's nightly batch); returns
        their local hours and the hours they are active."""
        local = self.hour_index.tz_localize("UTC").tz_convert(p["tz"])
        lh, weekday = local.hour.to_numpy(), local.day_of_week.to_numpy()
        if p["service"]:
            active = (lh >= 1) & (lh < 4)
            self.traps["nightly_batch"].update((p["id"], self.at(int(h)), m) for h in np.flatnonzero(active)
                                               if h >= self.test0 for m in p["models"])
        else:
            active = (lh >= p["start_hour"]) & (lh < p["start_hour"] + 9) & (weekday < 5)
            active &= rng.random(self.hours) < 0.85
        for model in p["models"]:
            share = 1.0 / len(p["models"])
            lam = np.where(active, p["rate"] * share, 0.0)
            n = rng.poisson(lam)
            for hh in np.flatnonzero(n):
                self.rows.append((p_i, model, int(hh), int(n[hh]), p["country"], 1.0))
        return local, active


@dataclass(frozen=True)
class _Special:
    """One person's injected special: who (index and record), from which hour, and their
    local hours and active hours."""

    kind: str
    p_i: int
    p: dict[str, Any]
    h0: int
    local: pd.DatetimeIndex
    active: np.ndarray

    @property
    def model0(self) -> str:
        return str(self.p["models"][0])


def _burst(d: _Draft, s: _Special) -> None:
    d.rows.append((s.p_i, s.model0, s.h0, int(s.p["rate"] * 15), s.p["country"], 3.0))
    d.anomalies[(s.p["id"], d.at(s.h0), s.model0)] = s.kind


def _new_model(d: _Draft, s: _Special) -> None:
    d.rows.append((s.p_i, "o1-restricted", s.h0, max(3, int(s.p["rate"])), s.p["country"], 1.0))
    d.anomalies[(s.p["id"], d.at(s.h0), "o1-restricted")] = s.kind


def _off_hours(d: _Draft, s: _Special) -> None:
    h = _off_hour(s.local, s.h0)
    d.rows.append((s.p_i, s.model0, h, max(3, int(s.p["rate"] * 2)), s.p["country"], 1.0))
    d.anomalies[(s.p["id"], d.at(h), s.model0)] = s.kind


def _new_country(d: _Draft, s: _Special) -> None:
    other = next(c for c in ZONES if c != s.p["country"])
    d.rows.append((s.p_i, s.model0, s.h0, max(3, int(s.p["rate"])), other, 1.0))
    d.anomalies[(s.p["id"], d.at(s.h0), s.model0)] = s.kind


def _slow_ramp(d: _Draft, s: _Special) -> None:
    """36 h from 1x to 12x, also in the night: exfiltration creeping up."""
    for k in range(36):
        factor = 1.0 + 11.0 * k / 35
        d.rows.append((s.p_i, s.model0, s.h0 + k, int(s.p["rate"] * factor), s.p["country"], 1.0 + factor / 4))
        if factor >= 4:
            d.anomalies[(s.p["id"], d.at(s.h0 + k), s.model0)] = s.kind


def _granted_ramp(d: _Draft, s: _Special) -> None:
    """A grant to a new model, then its usage grows gently, within working hours, to the
    level of the person's other models."""
    p, h0, hours = s.p, s.h0, d.hours
    d.grants.append(Grant(p["id"], "claude-sonnet" if "claude-sonnet" not in p["models"] else "llama-local",
                          d.at(h0), None))
    for h in range(h0, hours):
        if s.active[h]:
            factor = (0.4 + 0.8 * (h - h0) / max(1, hours - h0)) / len(p["models"])
            d.rows.append((s.p_i, d.grants[-1].model, h, max(1, int(p["rate"] * factor)), p["country"], 1.0))
            d.traps["granted_ramp"].add((p["id"], d.at(h), d.grants[-1].model))


# The registry: a special's kind → how it is injected into one person's usage
# (team_campaign is applied per team, by _team_campaign).
SPECIALS: dict[str, Callable[[_Draft, _Special], None]] = {
    "burst": _burst,
    "new_model": _new_model,
    "off_hours": _off_hours,
    "new_country": _new_country,
    "slow_ramp": _slow_ramp,
    "granted_ramp": _granted_ramp,
}


def _team_campaign(d: _Draft, people: list[dict[str, Any]]) -> None:
    """A whole team's campaign: every member triples usage for four afternoon hours."""
    h0 = d.test0 + 24 * 2 + 13
    for p_i in [i for i, p in enumerate(people) if p["team"] == "team-3"]:
        p = people[p_i]
        for h in range(h0, h0 + 4):
            d.traps["team_campaign"].add((p["id"], d.at(h), p["models"][0]))
            d.rows.append((p_i, p["models"][0], h, int(p["rate"] * 4), p["country"], 1.5))


def generate(seed: int = 7, humans: int = 36, services: int = 3, train_days: int = 14, test_days: int = 4,
             rate: float = 4.0, inject: bool = True, start: datetime = datetime(2026, 3, 2)) -> Usage:
    """Hourly usage for `humans` people (working hours in their time zone, 1-3 models each)
    and `services` nightly batch accounts; with `inject`, labelled anomalies and benign traps
    in the test period (the last `test_days`). `rate` scales requests per active hour."""
    rng = np.random.default_rng(seed)
    hours = (train_days + test_days) * 24
    people = _people(rng, humans, services, rate)
    d = _Draft(pd.date_range(start, periods=hours, freq="h"), train_days * 24)
    specials = _plan_specials(rng, people, d.test0, hours) if inject else {}
    for p_i, p in enumerate(people):
        local, active = d.usual(rng, p_i, p)
        kind, h0 = specials.get(p["id"], ("", 0))
        if kind in SPECIALS:
            SPECIALS[kind](d, _Special(kind, p_i, p, h0, local, active))
    if inject:
        _team_campaign(d, people)
    events = _expand(rng, people, d.hour_index, d.rows)
    ctx = IdentityContext(timezones={p["id"]: p["tz"] for p in people}, teams={p["id"]: p["team"] for p in people},
                          grants=tuple(d.grants))
    return Usage(events, ctx, start, start + timedelta(days=train_days), start + timedelta(hours=hours),
                 d.anomalies, d.traps)


def _plan_specials(rng: np.random.Generator, people: list[dict[str, Any]], test0: int, hours: int
                   ) -> dict[str, tuple[str, int]]:
    humans = [p for p in people if not p["service"] and p["team"] != "team-3"]
    order = rng.permutation(len(humans))
    kinds = [*ANOMALY_KINDS, *ANOMALY_KINDS, "granted_ramp", "granted_ramp"]
    out: dict[str, tuple[str, int]] = {}
    for k, idx in enumerate(order[: len(kinds)]):
        kind = kinds[k]
        h0 = test0 + 6 + int(rng.integers(0, max(1, hours - test0 - 44))) if kind != "granted_ramp" else test0
        out[humans[idx]["id"]] = (kind, h0)
    return out


def _off_hour(local: pd.DatetimeIndex, h0: int) -> int:
    for h in range(h0, len(local)):
        if local[h].hour == 3:
            return h
    return h0


def _expand(rng: np.random.Generator, people: list[dict[str, Any]], hour_index: pd.DatetimeIndex,
            rows: list[tuple[int, str, int, int, str, float]]) -> pd.DataFrame:
    arr = pd.DataFrame(rows, columns=["p", "model", "h", "n", "country", "tf"])
    arr = arr[arr["n"] > 0]
    rep = arr.loc[arr.index.repeat(arr["n"])].reset_index(drop=True)
    n = len(rep)
    p_idx = rep["p"].to_numpy()
    base_ts = hour_index.to_numpy()[rep["h"].to_numpy()]
    ts = base_ts + rng.integers(0, 3600 * 1000, n).astype("timedelta64[ms]")
    tokens = np.array([people[i]["tokens"] for i in p_idx]) * rep["tf"].to_numpy()
    inp = np.maximum(1, rng.lognormal(np.log(tokens), 0.4)).astype("int64")
    out = np.maximum(1, rng.lognormal(np.log(tokens * 0.6), 0.5)).astype("int64")
    model = rep["model"].to_numpy()
    ips = np.array([people[i]["ips"][int(j) % len(people[i]["ips"])] for i, j in zip(p_idx, rng.integers(0, 2, n),
                                                                                       strict=True)])
    country = rep["country"].to_numpy()
    home = np.array([people[i]["country"] for i in p_idx])
    ips = np.where(country == home, ips, np.array([f"203.0.113.{int(i) % 250}" for i in p_idx]))
    agents = np.array([people[i]["agents"][int(j) % len(people[i]["agents"])] for i, j in
                       zip(p_idx, rng.integers(0, 2, n), strict=True)])
    failure = rng.random(n) < 0.02
    denied = rng.random(n) < 0.01
    uid = np.array([people[i]["id"] for i in p_idx])
    frame = pd.DataFrame({
        "@timestamp": pd.to_datetime(ts),
        "event.id": [f"syn-{i:09d}" for i in range(n)],
        "event.kind": "event",
        "event.dataset": "siem_pack.synthetic",
        "event.outcome": np.where(failure, "failure", "success"),
        "user.id": uid,
        "gen_ai.request.model": model,
        "gen_ai.operation.name": np.where(model == "text-embed", "embeddings", "chat"),
        "siem_pack.model.tier": np.array([MODELS[m] for m in model]),
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": np.where(model == "text-embed", 0, out),
        "siem_pack.request.bytes": inp * 4 + 200,
        "siem_pack.response.bytes": out * 4 + 300,
        "siem_pack.policy.verdict": np.where(denied, "noncompliant", "compliant"),
        "source.ip": ips,
        "source.geo.country_iso_code": country,
        "user_agent.original": agents,
        "siem_pack.client.version": np.char.partition(agents.astype(str), "/")[:, 2],
    })
    return frame.sort_values("@timestamp", kind="mergesort").reset_index(drop=True)


def load_duckdb(store: Store, events: pd.DataFrame, with_doc: bool = False) -> int:
    """Bulk-load a flat frame into `events` (columnar; `doc` holds the JSON only with `with_doc`,
    which is slower). Returns rows stored."""
    cols = ", ".join(quote(c) for c in events.columns)
    before = store.count("events")
    con = store.con.cursor()  # its own result state: the store's connection may hold an open result
    try:
        con.register("_synthetic", events)
        doc = "to_json(_synthetic)" if with_doc else "NULL"
        con.execute(f"INSERT INTO events ({cols}, doc) SELECT {cols}, {doc} FROM _synthetic ON CONFLICT DO NOTHING")
    finally:
        con.close()
    return store.count("events") - before
