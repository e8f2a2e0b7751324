"""The real commands: `siem-pack keys generate`, `seal`, `verify` (exit codes and lines)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.settings import ClusterSettings

from .synthetic import Backend, synthetic_events

NOW = "2026-01-05T12:00:00Z"


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "seal.key"
    result = CliRunner().invoke(main, ["keys", "generate", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("key_id ") and "public_key " in result.output
    assert "PRIVATE" not in result.output and path.read_text().splitlines()[1] not in result.output
    assert (path.stat().st_mode & 0o777) == 0o600
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_seal_then_verify_on_duckdb(db_path: Path, key_file: Path) -> None:
    docs = synthetic_events(24)
    with Store(db_path) as store:
        store.insert_events(docs)
    sealed = run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW)
    assert sealed.exit_code == 0, sealed.output
    assert sealed.output.startswith("sealed 6 window(s) and 0 addendum(s), 24 event(s)")
    head = db_path.with_name(db_path.name + ".seals.head.json")  # the default: beside the store
    assert sealed.output.splitlines()[-1] == f"head file written: {head}"
    ok = run("verify", "--db", str(db_path))
    assert ok.exit_code == 0 and ok.output.startswith("OK: 6 seal(s), 6 window(s), 24 event(s)")
    assert f"  head file {head}: 2 chain(s) anchored, written 2026-01-05T12:00:00Z by key " in ok.output
    victim = docs[3]["event"]["id"]
    proven = run("verify", "--db", str(db_path), "--event", victim)
    assert proven.exit_code == 0 and proven.output.startswith(f"PROVEN {victim}: leaf ")

    with Store(db_path) as store:
        store.con.execute('DELETE FROM events WHERE "event.id" = ?', [victim])
    bad = run("verify", "--db", str(db_path))
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"siem-pack: error: {db_path}:seals: 1 finding(s): deleted_event 1"
    assert "deleted_event    seal=siem_pack.bedrock_invocation/" in bad.stdout and f"event={victim}" in bad.stdout
    as_json = run("verify", "--db", str(db_path), "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert [(f["kind"], f["event_id"]) for f in report["findings"]] == [("deleted_event", victim)]
    gone = run("verify", "--db", str(db_path), "--event", victim)
    assert gone.exit_code == 1 and gone.stderr.strip() == f"siem-pack: error: --event: 1 event(s) not proven: {victim}"


def test_key_from_environment_and_trusted_keys(db_path: Path, key_file: Path) -> None:
    with Store(db_path) as store:
        store.insert_events(synthetic_events(10))
    env = {"SIEM_PACK_SEAL_KEY": key_file.read_text(), "SIEM_PACK_SEAL_KEY_FILE": ""}
    assert run("seal", "--db", str(db_path), "--now", NOW, env=env).exit_code == 0
    untrusted = run("verify", "--db", str(db_path), "--trust-key", "0123456789abcdef")
    assert untrusted.exit_code == 1 and "unknown_key" in untrusted.stderr


def test_bad_key_file_and_options_exit_2(db_path: Path, key_file: Path) -> None:
    os.chmod(key_file, 0o644)
    r = run("seal", "--db", str(db_path), "--key", str(key_file))
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"siem-pack: error: {key_file}: key file mode is 0644; it must be readable by its "
                                f"owner only (chmod 600 {key_file})")
    os.chmod(key_file, 0o600)
    r = run("seal", "--db", str(db_path), "--key", str(key_file), "--window", "an hour")
    assert r.exit_code == 2 and r.stderr.strip() == "siem-pack: error: --window: 'an hour' is not a duration like 30s, 15m, 1h or 1d"
    r = run("verify", "--db", str(db_path), "--from", "yesterday")
    assert r.exit_code == 2 and "--from: 'yesterday' is not an ISO-8601 time" in r.stderr


def test_a_tampered_column_is_named_by_verify(db_path: Path, key_file: Path) -> None:
    docs = synthetic_events(24)
    with Store(db_path) as store:
        store.insert_events(docs)
    assert run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW).exit_code == 0
    victim = docs[3]
    with Store(db_path) as store:  # what the issue did: the report reads this column, not `doc`
        store.con.execute("""UPDATE events SET "user.id" = 'someone-else' WHERE "event.id" = ?""",
                          [victim["event"]["id"]])
    bad = run("verify", "--db", str(db_path))
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"siem-pack: error: {db_path}:seals: 1 finding(s): modified_column 1"
    line = next(x for x in bad.stdout.splitlines() if x.startswith("  modified_column"))
    assert line.startswith("  modified_column  seal=siem_pack.bedrock_invocation/") and line.endswith(
        f" event={victim['event']['id']} column=user.id: column user.id holds 'someone-else', but the event's "
        f"doc (the sealed evidence) gives {victim['user']['id']!r}")
    as_json = json.loads(run("verify", "--db", str(db_path), "--json").stdout)
    assert [(f["kind"], f["event_id"], f["column"]) for f in as_json["findings"]] == [
        ("modified_column", victim["event"]["id"], "user.id")]


def test_deleting_the_newest_seal_and_its_journal_line_is_named(db_path: Path, key_file: Path) -> None:
    with Store(db_path) as store:
        store.insert_events(synthetic_events(24))
    assert run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW).exit_code == 0
    newest = "siem_pack.litellm_spend/2"
    with Store(db_path) as store:
        store.con.execute("DELETE FROM seals WHERE seal_id = ?", [newest])
    journal = db_path.with_name(db_path.name + ".seals.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-1])["record"]["seal_id"] == newest
    journal.write_bytes(b"".join(lines[:-1]))
    bad = run("verify", "--db", str(db_path))
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"siem-pack: error: {db_path}:seals: 1 finding(s): missing_seal 1"
    head = db_path.with_name(db_path.name + ".seals.head.json")
    assert f"  missing_seal     seal={newest} event=-: the head file {head} (written 2026-01-05T12:00:00Z) " \
        f"anchors chain siem_pack.litellm_spend at {newest}, but the store's chain ends at " \
        "siem_pack.litellm_spend/1: its newest seal(s) were deleted" in bad.stdout.splitlines()
    refused = run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW)
    assert refused.exit_code == 1 and refused.stderr.startswith(
        f"siem-pack: error: {head}: the seal store disagrees with the head file, nothing sealed")


def test_a_missing_head_file_is_reported(db_path: Path, key_file: Path) -> None:
    with Store(db_path) as store:
        store.insert_events(synthetic_events(10))
    head = db_path.parent / "anchor" / "head.json"
    env = {"SIEM_PACK_SEAL_HEAD": str(head)}
    assert run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW, env=env).exit_code == 0
    head.unlink()
    bad = run("verify", "--db", str(db_path), env=env)
    assert bad.exit_code == 1 and bad.stderr.strip().endswith("1 finding(s): missing_head 1")
    assert f"  missing_head     seal=- event=-: no head file at {head}, though the store holds" in bad.stdout
    refused = run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW, env=env)
    assert refused.exit_code == 2 and refused.stderr.startswith(
        f"siem-pack: error: {head}: no head file, though the seal store holds")
    init = run("seal", "--db", str(db_path), "--key", str(key_file), "--now", NOW, "--init-head", env=env)
    assert init.exit_code == 0 and init.output.splitlines()[-1] == f"head file written: {head}"
    assert run("verify", "--db", str(db_path), "--head", str(head)).exit_code == 0


@pytest.mark.elasticsearch
def test_seal_then_verify_on_elasticsearch(elasticsearch_backend: Backend, es_settings: ClusterSettings,
                                           key_file: Path, tmp_path: Path) -> None:
    b = elasticsearch_backend
    b.insert(synthetic_events(24))
    cluster = ["--es-url", str(es_settings.es_url), "--user", str(es_settings.user),
               "--events-index", b.source.name, "--seals-index", b.extra["seals_index"]]
    env = {"SIEM_PACK_PASSWORD": str(es_settings.password)}
    no_head = ("siem-pack: error: --head: on Elasticsearch the head file has no default place: give --head FILE "
               "or SIEM_PACK_SEAL_HEAD (a path outside the cluster)")
    for r in (run("seal", *cluster, "--key", str(key_file), env=env), run("verify", *cluster, env=env)):
        assert r.exit_code == 2 and r.stderr.strip() == no_head
    cluster += ["--head", str(tmp_path / "seals.head.json")]
    sealed = run("seal", *cluster, "--key", str(key_file), "--now", NOW, env=env)
    assert sealed.exit_code == 0, sealed.output + sealed.stderr
    assert sealed.output.startswith("sealed 6 window(s)")
    assert run("verify", *cluster, env=env).exit_code == 0
    victim = synthetic_events(24)[5]
    victim["user"]["id"] = "mallory"
    b.replace_event(victim)
    bad = run("verify", *cluster, "--json", env=env)
    assert bad.exit_code == 1
    assert [(f["kind"], f["event_id"]) for f in json.loads(bad.stdout)["findings"]] == [
        ("modified_event", victim["event"]["id"])]
    assert str(es_settings.password) not in bad.output + bad.stderr
