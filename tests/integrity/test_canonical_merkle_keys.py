"""The building blocks: canonical bytes, the Merkle tree and its proofs, key handling."""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from siem_pack.errors import ConfigError, InputError
from siem_pack.integrity import merkle
from siem_pack.integrity.canonical import canonical_bytes
from siem_pack.integrity.keys import KEY_ENV, KEY_FILE_ENV, SigningKey, generate_key_file, load_signing_key
from siem_pack.integrity.seals import GENESIS, leaves_of, make_seal, window_of
from siem_pack.times import parse_duration

from .synthetic import START, synthetic_events

DOC = {"@timestamp": "2026-01-05T08:00:00.123Z", "event": {"id": "e1", "ingested": "2026-01-05T08:00:05Z"},
       "user": {"name": "Zoë"}, "gen_ai": {"request": {"temperature": 0.7}}, "related": {"user": ["b", "a"]}}


def test_canonical_bytes_are_sorted_compact_utf8_and_leave_out_ingest_time() -> None:
    assert canonical_bytes(DOC) == (
        '{"@timestamp":"2026-01-05T08:00:00.123Z","event":{"id":"e1"},"gen_ai":{"request":{"temperature":0.7}},'
        '"related":{"user":["b","a"]},"user":{"name":"Zoë"}}').encode()
    assert DOC["event"]["ingested"]  # the input is left alone


def test_canonical_bytes_do_not_depend_on_dotted_keys_key_order_or_a_json_round_trip() -> None:
    dotted = {"user.name": "Zoë", "event.id": "e1", "event": {"ingested": "x"}, "related.user": ["b", "a"],
              "gen_ai": {"request.temperature": 0.7}, "@timestamp": "2026-01-05T08:00:00.123Z"}
    assert canonical_bytes(dotted) == canonical_bytes(DOC)
    assert canonical_bytes(json.loads(json.dumps(DOC, sort_keys=True, default=str))) == canonical_bytes(DOC)
    changed = json.loads(json.dumps(DOC))
    changed["related"]["user"] = ["a", "b"]  # list order is content
    assert canonical_bytes(changed) != canonical_bytes(DOC)


def test_canonical_bytes_refuse_a_conflicting_or_unserialisable_document() -> None:
    with pytest.raises(InputError, match="given twice"):
        canonical_bytes({"event": {"id": "a"}, "event.id": "b"})
    with pytest.raises(InputError, match="canonical form"):
        canonical_bytes({"event": {"id": "a"}, "x": float("nan")})


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_every_leaf_has_a_proof_to_the_root(n: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(n)]
    root = merkle.root(leaves)
    for i in range(n):
        proof = merkle.prove(leaves, i)
        assert proof.root == root.hex() and proof.check()
        assert not proof.check(merkle.leaf_hash(b"other"))


def test_root_matches_rfc6962_for_small_trees() -> None:
    a, b, c = (merkle.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle.root([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.root([a]) == a


def test_windows_are_epoch_aligned() -> None:
    assert window_of(START.replace(minute=42, second=7), parse_duration("1h")) == START
    assert window_of(START.replace(minute=42), parse_duration("30m")) == START.replace(minute=30)
    assert window_of(START, parse_duration("1d")) == START.replace(hour=0)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("1 hour")


def test_generated_key_file_is_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "seal.key"
    pub = generate_key_file(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    key = load_signing_key(path)
    assert key.key_id == pub.key_id and pub.verify(key.sign(b"x"), b"x")
    assert "PRIVATE" not in repr(key) and path.read_text() not in repr(key)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        generate_key_file(path)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seal.key"
    generate_key_file(path)
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=r"mode is 0640.*chmod 600") as err:
        load_signing_key(path)
    assert "BEGIN" not in str(err.value)


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = SigningKey.generate()
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(KEY_ENV, key.pem().decode())
    assert load_signing_key().key_id == key.key_id
    seed = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(KEY_ENV, seed)
    assert len(load_signing_key().key_id) == 16
    monkeypatch.setenv(KEY_ENV, "not a key at all")
    with pytest.raises(ConfigError, match=f"{KEY_ENV}: neither PEM nor base64") as err:
        load_signing_key()
    assert "not a key at all" not in str(err.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match="no seal key"):
        load_signing_key()


def test_seal_entries_are_the_manifest_in_window_order_and_a_fresh_list_each_time(key: SigningKey) -> None:
    docs = synthetic_events(6, hours=1)
    leaves = leaves_of(reversed(docs))  # any input order: window order (@timestamp, event.id) out
    assert [i for i, _ in leaves] == [i for _, i in sorted((d["@timestamp"], d["event"]["id"]) for d in docs)]
    seal = make_seal(leaves, dataset="d", start=START, end=START + timedelta(hours=1), seq=0, prev_hash=GENESIS,
                     key=key, sealed_at=START)
    first = seal.entries()
    assert first == [(i, h.hex()) for i, h in leaves]
    first.clear()  # the parsed manifest is cached: a caller's change must not reach it
    assert len(seal.entries()) == 6 and seal.record()["manifest"] == seal.manifest
