"""The real commands: `siem-pack keys generate`, `seal`, `verify` (exit codes and lines)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.settings import ClusterSettings
from siem_pack.store import Store

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
    ok = run("verify", "--db", str(db_path))
    assert ok.exit_code == 0 and ok.output.startswith("OK: 6 seal(s), 6 window(s), 24 event(s)")
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


@pytest.mark.elasticsearch
def test_seal_then_verify_on_elasticsearch(elasticsearch_backend: Backend, es_settings: ClusterSettings,
                                           key_file: Path) -> None:
    b = elasticsearch_backend
    b.insert(synthetic_events(24))
    cluster = ["--es-url", str(es_settings.es_url), "--user", str(es_settings.user),
               "--events-index", b.source.name, "--seals-index", b.extra["seals_index"]]
    env = {"SIEM_PACK_PASSWORD": str(es_settings.password)}
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
