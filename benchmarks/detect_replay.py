"""Benchmark: replaying every rule's schedule over a day, batched (few queries) vs tick by tick,
on DuckDB and (with SIEM_PACK_TEST_ES_URL set) on Elasticsearch. Prints figures and ratios.

    python benchmarks/detect_replay.py [--events 20000] [--hours 24]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from siem_pack.backends.duckdb import Store
from siem_pack.detect.fixtures import es_index_fixture
from siem_pack.detect.rules import load_exceptions, load_rules
from siem_pack.detect.runner_duckdb import DuckDBRuleReader
from siem_pack.detect.schedule import Backend, evaluate, evaluate_tick_by_tick, ticks
from siem_pack.doc import unflatten
from siem_pack.times import format_ts

START = datetime(2026, 11, 2)


def synthetic(n: int, hours: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    users = [f"user{i}@example.com" for i in range(60)]
    models = ["gpt-4o-mini", "claude-opus-4", "fin-forecast-ft", "hr-screening-ft", "llama-3-70b"]
    countries = ["GB", "SE", "US", "DE"]
    docs = []
    for _ in range(n):
        ts = START - timedelta(days=3) + timedelta(seconds=rnd.uniform(0, (hours + 72) * 3600))
        u = rnd.choice(users)
        flat = {
            "@timestamp": format_ts(ts),
            "event.id": uuid.UUID(int=rnd.getrandbits(128)).hex, "event.kind": "event",
            "event.dataset": rnd.choice(["siem_pack.litellm_spend", "siem_pack.bedrock_invocation"]),
            "event.outcome": rnd.choice(["success"] * 9 + ["failure"]), "gen_ai.operation.name": "chat",
            "gen_ai.request.model": rnd.choice(models), "user.id": u, "siem_pack.api_key.id": "key-" + u[:6],
            "source.geo.country_iso_code": rnd.choice(countries[:1] * 20 + countries),
            "siem_pack.model.tier": rnd.choice(["internal", "confidential", "restricted"]),
            "siem_pack.policy.verdict": rnd.choice(["compliant"] * 19 + ["noncompliant"]),
            "http.response.status_code": rnd.choice([200] * 15 + [400, 401, 403]),
            "gen_ai.usage.output_tokens": rnd.randint(10, 20000),
            "siem_pack.guardrail.action": rnd.choice([None] * 30 + ["INTERVENED"]),
        }
        docs.append(unflatten({k: v for k, v in flat.items() if v is not None}))
    return docs


def bench(name: str, backend: Backend, rules: list[Any], entries: list[Any], hours: int,
          baseline: bool) -> list[dict[str, Any]]:
    end = START + timedelta(hours=hours)
    t0 = time.perf_counter()
    alerts: list[dict[str, Any]] = []
    for r in rules:
        alerts += evaluate(r, backend, ticks(START, end, r.interval), entries)
    total = len(alerts)
    batch = time.perf_counter() - t0
    n_ticks = sum(len(ticks(START, end, r.interval)) for r in rules)
    print(f"{name}: batched: {batch:.2f}s for {len(rules)} rules, {n_ticks} ticks, {total} alerts")
    if baseline:
        t0 = time.perf_counter()
        for r in rules:
            evaluate_tick_by_tick(r, backend, ticks(START, end, r.interval), entries)
        tick = time.perf_counter() - t0
        print(f"{name}: tick by tick: {tick:.2f}s  (batched is {tick / batch:.1f}x faster)")
    return alerts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--no-baseline", action="store_true", help="Skip the tick-by-tick baseline.")
    args = ap.parse_args()
    rules = [r for r in load_rules() if r.table == "events"]
    entries = load_exceptions()
    docs = synthetic(args.events, args.hours)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.duckdb") as store:
        store.write_docs("events", docs)
        duck = bench("duckdb", DuckDBRuleReader(store), rules, entries, args.hours, not args.no_baseline)
    url = os.environ.get("SIEM_PACK_TEST_ES_URL")
    if url:
        from siem_pack.cluster import es_client
        from siem_pack.detect.runner_es import ESRuleReader
        from siem_pack.settings import ClusterSettings

        client = es_client(ClusterSettings(es_url=url, user=os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                                           password=os.environ.get("SIEM_PACK_TEST_ES_PASSWORD")))
        index = f"bench-detect-{uuid.uuid4().hex[:8]}"
        try:
            for i in range(0, len(docs), 5000):
                es_index_fixture(client, index, docs[i:i + 5000])
            on_es = bench("elasticsearch", ESRuleReader(client, index, index), rules, entries, args.hours,
                          not args.no_baseline)
            print(f"duckdb and elasticsearch alerts identical: {on_es == duck}")
        finally:
            client.options(ignore_status=[404]).indices.delete(index=index)


if __name__ == "__main__":
    main()
