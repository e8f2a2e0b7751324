"""Every simulated file parses through the real ingest pipelines (offline executor) with
zero dead letters, every caller resolves through the simulated inventory, and every
attack event of the truth file becomes an event."""

from __future__ import annotations

import json
import re

import pytest

from siem_pack.ingest.pipeline import load_pipelines
from siem_pack.ingest_job import normalize_file
from siem_pack.simulate import SimulationResult


@pytest.fixture(scope="module")
def normalized(small_sim: SimulationResult) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    pipelines = load_pipelines(inventory_dir=small_sim.inventory_dir)
    out = {}
    for fmt in small_sim.records:
        res = normalize_file(small_sim.logs_dir / f"{fmt}.ndjson", pipelines=pipelines)
        reasons = sorted({d.reason for d in res.dead_letters})
        assert not res.dead_letters, f"{fmt}: {len(res.dead_letters)} dead letters: {reasons[:3]}"
        assert not res.dropped, f"{fmt}: dropped {[d.reason for d in res.dropped[:3]]}"
        assert len(res.events) == small_sim.records[fmt]
        out[fmt] = res.events
    return out


@pytest.mark.parametrize("fmt", ["bedrock_invocation", "litellm_spend", "azure_openai", "openai_audit"])
def test_zero_dead_letters_and_routed_to_its_format(normalized: dict[str, list[dict]], fmt: str) -> None:  # type: ignore[type-arg]
    events = normalized[fmt]
    assert events
    assert {e["siem_pack"]["format"] for e in events} == {fmt}


def test_every_caller_resolves(normalized: dict[str, list[dict]], small_sim: SimulationResult) -> None:  # type: ignore[type-arg]
    known = {i.id for i in small_sim.org.identities}
    for fmt, events in normalized.items():
        unresolved = [e for e in events if (e.get("user") or {}).get("id") not in known]
        assert not unresolved, f"{fmt}: {len(unresolved)} events with no inventoried user.id, e.g. " \
                               f"{(unresolved[0].get('user'), unresolved[0].get('related'))}"


def test_models_carry_their_tier(normalized: dict[str, list[dict]]) -> None:  # type: ignore[type-arg]
    for fmt in ("bedrock_invocation", "litellm_spend", "azure_openai"):
        tiers = {(e.get("siem_pack") or {}).get("model", {}).get("tier") for e in normalized[fmt]
                 if (e.get("gen_ai") or {}).get("request", {}).get("model")}
        assert tiers and "unknown" not in tiers, f"{fmt}: tiers {tiers}"


def test_attack_events_are_events(normalized: dict[str, list[dict]], small_sim: SimulationResult) -> None:  # type: ignore[type-arg]
    originals = "\n".join(e["event"].get("original", "") for evs in normalized.values() for e in evs)
    truth = json.loads(small_sim.truth_path.read_text())
    for s in truth["scenarios"]:
        for e in s["events"]:
            assert e["record_id"] in originals, (s["id"], e)


def test_planted_secrets_never_stored_in_clear(normalized: dict[str, list[dict]], small_sim: SimulationResult) -> None:  # type: ignore[type-arg]
    text = (small_sim.logs_dir / "bedrock_invocation.ndjson").read_text()
    keys = set(re.findall(r"AKIA[A-Z2-7]{16}", text))
    assert keys, "the secrets-in-prompt scenario plants an access key id"
    dump = json.dumps(normalized["bedrock_invocation"])
    assert not any(k in dump for k in keys)
    flagged = [e for e in normalized["bedrock_invocation"] if (e.get("siem_pack") or {}).get("secrets", {}).get("detectors")]
    assert flagged, "a secret detector fires on the planted key"
