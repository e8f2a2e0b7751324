"""Seeded synthetic ECS events for the integrity tests, and the `Backend` record the fixtures
in conftest.py hand out (a source, a seal store, and the tampering an attacker could do)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from siem_pack.integrity.seals import EventSource, SealStore

DATASETS = ("siem_pack.litellm_spend", "siem_pack.bedrock_invocation")
START = datetime(2026, 1, 5, 8, 0)
USERS = ("alice", "bob", "Zoë", "svc-batch")
MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama3-70b")


def synthetic_events(n: int = 60, seed: int = 7, start: datetime = START, hours: int = 3,
                     datasets: tuple[str, ...] = DATASETS) -> list[dict[str, Any]]:
    """Seeded ECS events spread over `hours` hours from `start`, round-robin over datasets."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=rnd.randrange(hours * 3600), milliseconds=rnd.randrange(1000))
        ds = datasets[i % len(datasets)]
        eid = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:32]
        out.append(event(eid, ts, ds, rnd))
    return out


def event(eid: str, ts: datetime, dataset: str, rnd: random.Random | None = None) -> dict[str, Any]:
    rnd = rnd or random.Random(eid)
    user = rnd.choice(USERS)
    return {
        "@timestamp": ts.isoformat(timespec="milliseconds") + "Z",
        "event": {"id": eid, "dataset": dataset, "kind": "event", "module": "siem_pack",
                  "category": ["api"], "outcome": rnd.choice(["success", "failure"]),
                  "ingested": (ts + timedelta(seconds=5)).isoformat(timespec="milliseconds") + "Z",
                  "original": f'{{"user": "{user}", "request_id": "{eid}"}}'},
        "user": {"id": user},
        "siem_pack": {"policy": {"verdict": rnd.choice(["compliant", "noncompliant"])}},
        "gen_ai": {"request": {"model": rnd.choice(MODELS), "temperature": rnd.choice([0.0, 0.2, 0.7, 1.0])},
                   "usage": {"input_tokens": rnd.randrange(10, 5000), "output_tokens": rnd.randrange(1, 2000)}},
        "source": {"ip": f"10.0.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"},
        "related": {"user": ["arn:aws:iam::123456789012:user/x", "k-alias"]},
    }


def event_id(doc: dict[str, Any]) -> str:
    return str(doc["event"]["id"])


@dataclass
class Backend:
    """One backend's source and store, plus the tampering an attacker with write access can do."""

    name: str
    source: EventSource
    store: SealStore
    insert: Callable[[list[dict[str, Any]]], None]
    replace_event: Callable[[dict[str, Any]], None]
    delete_event: Callable[[str], None]
    seal_record: Callable[[str], dict[str, Any]]
    put_seal_record: Callable[[dict[str, Any]], None]
    delete_seal: Callable[[str], None]
    extra: dict[str, Any] = field(default_factory=dict)

    def docs(self) -> list[dict[str, Any]]:
        return [d for b in self.source.buckets(timedelta(hours=1))
                for d in self.source.window_events(b.dataset, b.start, b.start + timedelta(hours=1))]


