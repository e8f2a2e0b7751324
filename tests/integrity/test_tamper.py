"""Tamper with sealed evidence in every way the issue names, on DuckDB and on the real
Elasticsearch node, and prove each change is detected and named (kind + seal/event id)."""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import Seal, SealReport, seal_windows
from siem_pack.integrity.verify import VerifyReport, verify, verify_event

from .synthetic import DATASETS, START, Backend, event, event_id, synthetic_events

NOW = START + timedelta(hours=4)
DS = DATASETS[0]


def seal_all(b: Backend, key: SigningKey, n: int = 24) -> SealReport:
    b.insert(synthetic_events(n))
    report = seal_windows(b.source, b.store, key, now=NOW)
    assert [s.seal_id for s in report.sealed] == [f"{d}/{i}" for d in sorted(DATASETS) for i in range(3)]
    return report


def kinds(report: VerifyReport) -> set[tuple[str, str | None, str | None]]:
    return {(f.kind, f.seal_id, f.event_id) for f in report.findings}


def sealed_event(b: Backend, seal_id: str) -> dict[str, Any]:
    record = b.seal_record(seal_id)
    first = Seal.from_record(record).first_id
    return next(d for d in b.docs() if event_id(d) == first)


def test_untouched_data_verifies_clean(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    report = verify(backend.source, backend.store)
    assert report.ok, report.findings
    assert report.seals_checked == 6 and report.windows_checked == 6 and report.events_checked == 24
    assert seal_windows(backend.source, backend.store, key, now=NOW).sealed == []  # idempotent


def test_updated_event_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    doc = sealed_event(backend, f"{DS}/1")
    changed = copy.deepcopy(doc)
    changed["user"]["id"] = "mallory"
    backend.replace_event(changed)
    assert kinds(verify(backend.source, backend.store)) == {("modified_event", f"{DS}/1", event_id(doc))}


def test_event_moved_to_another_window_is_named_modified(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    doc = sealed_event(backend, f"{DS}/0")
    changed = copy.deepcopy(doc)
    changed["@timestamp"] = (START + timedelta(hours=2, minutes=30)).isoformat() + "Z"
    backend.replace_event(changed)
    found = kinds(verify(backend.source, backend.store))
    assert found == {("modified_event", f"{DS}/0", event_id(doc))}


def test_deleted_event_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    doc = sealed_event(backend, f"{DS}/2")
    backend.delete_event(event_id(doc))
    assert kinds(verify(backend.source, backend.store)) == {("deleted_event", f"{DS}/2", event_id(doc))}


def test_inserted_event_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    forged = event("f" * 32, START + timedelta(minutes=30), DS)
    backend.insert([forged])
    assert kinds(verify(backend.source, backend.store)) == {("inserted_event", f"{DS}/0", "f" * 32)}


def test_deleted_seal_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    backend.delete_seal(f"{DS}/1")
    found = verify(backend.source, backend.store)
    assert ("missing_seal", f"{DS}/1", None) in kinds(found)
    # and the window it covered is named too (its events now have no seal)
    assert any(f.kind == "missing_seal" and f.window_start == "2026-01-05T09:00:00Z" for f in found.findings)


def test_reordered_seals_are_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    a, b = backend.seal_record(f"{DS}/1"), backend.seal_record(f"{DS}/2")
    for field in ("seq", "prev_hash"):
        a[field], b[field] = b[field], a[field]
    backend.put_seal_record(a)
    backend.put_seal_record(b)
    found = kinds(verify(backend.source, backend.store))
    # the chain by seq is now 0, DS/2, DS/1: DS/1 neither links to DS/2 nor follows its window
    assert {f for f in found if f[0] == "reordered_seal"} == {("reordered_seal", f"{DS}/1", None)}
    assert {("bad_signature", f"{DS}/1", None), ("bad_signature", f"{DS}/2", None)} <= found


def test_modified_seal_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    record = backend.seal_record(f"{DS}/2")
    record["count"] += 1
    backend.put_seal_record(record)
    assert ("bad_signature", f"{DS}/2", None) in kinds(verify(backend.source, backend.store))


def test_modified_manifest_is_named(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    record = backend.seal_record(f"{DS}/0")
    record["manifest"] = record["manifest"].replace(record["manifest"][-10], "0" if record["manifest"][-10] != "0" else "1")
    backend.put_seal_record(record)
    assert ("modified_seal", f"{DS}/0", None) in kinds(verify(backend.source, backend.store))


def _resign(record: dict[str, Any], key: SigningKey, claim: str | None = None) -> dict[str, Any]:
    seal = Seal.from_record(record)
    forged = replace(seal, root="ab" * 32, key_id=claim or key.key_id)
    body = forged.body_bytes()
    return forged.record() | {"signature": base64.b64encode(key.sign(body)).decode(),
                              "seal_hash": hashlib.sha256(body).hexdigest()}


def test_resigned_with_unpublished_key_is_named(backend: Backend, key: SigningKey, other_key: SigningKey) -> None:
    seal_all(backend, key)
    backend.put_seal_record(_resign(backend.seal_record(f"{DS}/1"), other_key))
    found = verify(backend.source, backend.store)
    assert ("unknown_key", f"{DS}/1", None) in kinds(found)
    assert other_key.key_id in next(f.detail for f in found.findings if f.kind == "unknown_key")


def test_resigned_claiming_the_real_key_id_is_named(backend: Backend, key: SigningKey, other_key: SigningKey) -> None:
    seal_all(backend, key)
    backend.put_seal_record(_resign(backend.seal_record(f"{DS}/1"), other_key, claim=key.key_id))
    assert ("bad_signature", f"{DS}/1", None) in kinds(verify(backend.source, backend.store))


def test_resigned_with_a_published_rogue_key_fails_pinned_trust(backend: Backend, key: SigningKey,
                                                                  other_key: SigningKey) -> None:
    seal_all(backend, key)
    backend.store.publish_key(other_key.public, "2026-01-05T12:00:00Z")  # the attacker can create records too
    backend.put_seal_record(_resign(backend.seal_record(f"{DS}/1"), other_key))
    pinned = verify(backend.source, backend.store, trusted_keys=[key.key_id])
    assert ("unknown_key", f"{DS}/1", None) in kinds(pinned)


def test_late_events_go_to_an_addendum_and_verify(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    late = event("1a7e" * 8, START + timedelta(minutes=45), DS)
    backend.insert([late])
    assert kinds(verify(backend.source, backend.store)) == {("inserted_event", f"{DS}/0", late["event"]["id"])}
    report = seal_windows(backend.source, backend.store, key, now=NOW + timedelta(minutes=5))
    assert [(s.seal_id, s.kind, s.addendum_of) for s in report.sealed] == [(f"{DS}/3", "addendum", f"{DS}/0")]
    assert report.late[0].event_ids == [late["event"]["id"]]
    after = verify(backend.source, backend.store)
    assert after.ok, after.findings
    assert [a["seal_id"] for a in after.addenda] == [f"{DS}/3"]
    proof = verify_event(backend.source, backend.store, late["event"]["id"])
    assert proof.proven and proof.seal_id == f"{DS}/3"


def test_grace_period_holds_back_recent_windows(backend: Backend, key: SigningKey) -> None:
    backend.insert(synthetic_events(24))
    report = seal_windows(backend.source, backend.store, key, now=START + timedelta(hours=3, minutes=10))
    assert sorted(s.window_start for s in report.sealed if s.dataset == DS) == [
        "2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z"]  # 10:00-11:00 ends at 11:00 + 15m grace > 11:10
    assert {b.start.hour for b in report.pending} == {10}


def test_key_rotation_keeps_old_seals_verifiable(backend: Backend, key: SigningKey, other_key: SigningKey) -> None:
    backend.insert(synthetic_events(24))
    first = seal_windows(backend.source, backend.store, key, now=START + timedelta(hours=2, minutes=20))
    backend.insert(synthetic_events(8, seed=8, start=START + timedelta(hours=3), hours=1))
    second = seal_windows(backend.source, backend.store, other_key, now=NOW + timedelta(hours=1))
    assert {s.key_id for s in first.sealed} == {key.key_id}
    assert {s.key_id for s in second.sealed} == {other_key.key_id}
    report = verify(backend.source, backend.store, trusted_keys=[key.key_id, other_key.key_id])
    assert report.ok, report.findings
    assert {k["key_id"]: k["seals"] > 0 for k in report.keys} == {key.key_id: True, other_key.key_id: True}


def test_event_inclusion_proof(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    doc = sealed_event(backend, f"{DS}/1")
    proof = verify_event(backend.source, backend.store, event_id(doc))
    assert proof.proven, proof.problems
    assert proof.seal_id == f"{DS}/1" and proof.root == backend.seal_record(f"{DS}/1")["root"]
    changed = copy.deepcopy(doc)
    changed["gen_ai"]["usage"]["input_tokens"] += 1
    backend.replace_event(changed)
    tampered = verify_event(backend.source, backend.store, event_id(doc))
    assert not tampered.proven and "differs from the sealed event" in " ".join(tampered.problems)
    assert not verify_event(backend.source, backend.store, "no-such-event").proven


@pytest.mark.slow
@pytest.mark.parametrize("window", ["30m", "1d"])
def test_other_window_lengths(backend: Backend, key: SigningKey, window: str) -> None:
    from siem_pack.times import parse_duration

    backend.insert(synthetic_events(24))
    seal_windows(backend.source, backend.store, key, window=parse_duration(window), now=START + timedelta(days=2))
    assert verify(backend.source, backend.store).ok


def test_a_whole_window_arriving_late_is_an_addendum(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    early = event("ea" * 16, START - timedelta(hours=5), DS)  # a window behind the chain head, empty until now
    backend.insert([early])
    before = verify(backend.source, backend.store)
    assert [(f.kind, f.window_start) for f in before.findings] == [("missing_seal", "2026-01-05T03:00:00Z")]
    report = seal_windows(backend.source, backend.store, key, now=NOW)
    assert [(s.seal_id, s.kind, s.addendum_of) for s in report.sealed] == [(f"{DS}/3", "addendum", None)]
    assert report.late[0].window_seal is None and report.late[0].event_ids == ["ea" * 16]
    assert verify(backend.source, backend.store).ok


def test_from_to_limits_the_windows_rehashed(backend: Backend, key: SigningKey) -> None:
    seal_all(backend, key)
    doc = sealed_event(backend, f"{DS}/0")  # tampered, but outside the range checked
    changed = copy.deepcopy(doc)
    changed["user"]["id"] = "mallory"
    backend.replace_event(changed)
    later = verify(backend.source, backend.store, start=START + timedelta(hours=1), end=START + timedelta(hours=3))
    assert later.ok and later.windows_checked == 4 and later.seals_checked == 6
    assert kinds(verify(backend.source, backend.store, end=START + timedelta(hours=1))) == {
        ("modified_event", f"{DS}/0", event_id(doc))}
