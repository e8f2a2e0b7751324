"""The head file anchors each chain's newest seal outside the seal store (issue 16): deleting
the newest seal (and, in DuckDB, its journal line) is named, a missing head file is a
finding, and `seal` will not re-anchor a store that falls short of its head file. On DuckDB
and on the real Elasticsearch node."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from siem_pack.errors import ConfigError, FindingsError
from siem_pack.integrity.head import ChainHead, HeadFile, read_head, seal_anchored, write_head
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.verify import VerifyReport, verify

from .synthetic import DATASETS, START, Backend, synthetic_events

NOW = START + timedelta(hours=4)
DS = DATASETS[0]
NEWEST = f"{DS}/2"  # the last seal the first run writes (datasets in order, litellm_spend last)


@pytest.fixture()
def head(tmp_path: Path) -> Path:
    return tmp_path / "elsewhere" / "seals.head.json"


def sealed(b: Backend, key: SigningKey, head: Path) -> None:
    b.insert(synthetic_events(24))
    report = seal_anchored(b.source, b.store, key, head, now=NOW)
    assert report.sealed[-1].seal_id == NEWEST and report.head_file == str(head)


def kinds(report: VerifyReport) -> set[tuple[str, str | None, str | None]]:
    return {(f.kind, f.seal_id, f.event_id) for f in report.findings}


def delete_newest_seal(b: Backend) -> None:
    """The seal, and on DuckDB its journal line too: what the journal alone cannot see."""
    b.delete_seal(NEWEST)
    if b.name == "duckdb":
        journal: Path = b.store.journal  # type: ignore[attr-defined]
        lines = journal.read_bytes().splitlines(keepends=True)
        assert json.loads(lines[-1])["record"]["seal_id"] == NEWEST
        journal.write_bytes(b"".join(lines[:-1]))


def test_a_clean_store_verifies_ok(backend: Backend, key: SigningKey, head: Path) -> None:
    sealed(backend, key, head)
    report = verify(backend.source, backend.store, head=head)
    assert report.ok, report.findings
    assert report.head is not None and report.head["chains"] == {d: f"{d}/2" for d in sorted(DATASETS)}
    again = seal_anchored(backend.source, backend.store, key, head, now=NOW)
    assert again.sealed == [] and again.head_file is None  # nothing new: the file stays as it was


def test_deleting_the_newest_seal_is_named(backend: Backend, key: SigningKey, head: Path) -> None:
    sealed(backend, key, head)
    delete_newest_seal(backend)
    assert verify(backend.source, backend.store).ok  # what the store alone shows: chains that still link
    found = verify(backend.source, backend.store, head=head)
    assert kinds(found) == {("missing_seal", NEWEST, None)}
    assert "the store's chain ends at siem_pack.litellm_spend/1: its newest seal(s) were deleted" in \
        found.findings[0].detail


def test_seal_refuses_a_store_that_falls_short_of_its_head(backend: Backend, key: SigningKey, head: Path) -> None:
    sealed(backend, key, head)
    delete_newest_seal(backend)
    before = head.read_bytes()
    with pytest.raises(FindingsError, match="the seal store disagrees with the head file, nothing sealed"):
        seal_anchored(backend.source, backend.store, key, head, now=NOW)
    assert head.read_bytes() == before and NEWEST not in {s.seal_id for s in backend.store.seals()}


def test_a_missing_head_file_is_a_finding(backend: Backend, key: SigningKey, head: Path) -> None:
    sealed(backend, key, head)
    head.unlink()
    found = verify(backend.source, backend.store, head=head)
    assert kinds(found) == {("missing_head", None, None)}
    assert found.findings[0].detail.startswith(f"no head file at {head}, though the store holds 6 seal(s)")
    with pytest.raises(ConfigError, match="no head file, though the seal store holds 6 seal"):
        seal_anchored(backend.source, backend.store, key, head, now=NOW)
    assert not head.exists()
    # a store sealed before head files: anchor it once, on purpose
    assert seal_anchored(backend.source, backend.store, key, head, init=True, now=NOW).head_file == str(head)
    assert verify(backend.source, backend.store, head=head).ok


def test_the_first_run_on_an_empty_store_writes_the_head(duckdb_backend: Backend, key: SigningKey,
                                                        head: Path) -> None:
    b = duckdb_backend
    assert verify(b.source, b.store, head=head).ok  # nothing sealed, nothing to anchor
    sealed(b, key, head)
    written = read_head(head)
    assert written is not None and written.key_id == key.key_id
    assert {ds: h.seal_id for ds, h in written.heads.items()} == {d: f"{d}/2" for d in sorted(DATASETS)}


def test_an_edited_or_foreign_head_file_is_named(duckdb_backend: Backend, key: SigningKey, other_key: SigningKey,
                                                head: Path) -> None:
    b = duckdb_backend
    sealed(b, key, head)
    good = read_head(head)
    assert good is not None
    lowered = replace(good, heads={**good.heads, DS: replace(good.heads[DS], seq=1)})  # hides a deletion
    head.write_bytes(lowered.to_json())
    assert [(f.kind, f.detail) for f in verify(b.source, b.store, head=head).findings] == [
        ("head_mismatch", f"head file {head}: signature does not verify with key {key.key_id}")]
    head.write_bytes(lowered.signed(other_key).to_json())
    [finding] = verify(b.source, b.store, head=head).findings
    assert finding.kind == "head_mismatch" and f"signed by key {other_key.key_id}, which is not published" in finding.detail
    head.write_bytes(b"{not json")
    assert [f.kind for f in verify(b.source, b.store, head=head).findings] == ["head_mismatch"]


def test_another_seal_at_the_anchored_position_is_named(duckdb_backend: Backend, key: SigningKey,
                                                       head: Path) -> None:
    b = duckdb_backend
    sealed(b, key, head)
    record = b.seal_record(NEWEST)
    record["seal_hash"] = "ab" * 32
    b.put_seal_record(record)
    found = kinds(verify(b.source, b.store, head=head))
    assert ("head_mismatch", NEWEST, None) in found


def test_head_file_round_trips(key: SigningKey, head: Path) -> None:
    original = HeadFile({DS: ChainHead(2, NEWEST, "cd" * 32)}, "2026-01-05T12:00:00Z", key.key_id).signed(key)
    write_head(head, original)
    assert read_head(head) == original and (head.stat().st_mode & 0o777) == 0o644
