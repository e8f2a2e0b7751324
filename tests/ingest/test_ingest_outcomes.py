"""What `siem-pack ingest` tells a user about its outcome, on real stores:

- anything dead-lettered or unreadable exits 1, and the verdict line says how much; an empty
  input says so (exit 0);
- the store being written (and other binary stores) is never read as input;
- with Elasticsearch and no --db, dead letters land in the cluster's dead-letter index;
- a cluster that stops answering part-way: the error says how much was stored and that
  re-running is safe, and a re-run proves it.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.paths import content_dir

SAMPLE = content_dir("ingest_pipelines") / "samples" / "openai_compatible.ndjson"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def _records(n: int) -> str:
    """n distinct openai_compatible records (the sample's first, with its own request ids)."""
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    lines = []
    for i in range(n):
        first["request_id"] = f"req-outcome-{i:06d}"
        lines.append(json.dumps(first, separators=(",", ":")))
    return "\n".join(lines) + "\n"


# -- exit codes and the verdict ---------------------------------------------------------------
def test_all_binary_input_exits_1_and_says_every_record_was_dead_lettered(tmp_path: Path, db_path: Path) -> None:
    f = tmp_path / "random.bin"
    f.write_bytes(random.Random(3).randbytes(40_000))
    code, out, _ = _run("ingest", str(f), "--db", str(db_path), "--json")
    s = json.loads(out)
    assert code == 1
    assert s["clean"] is False and s["total"]["read"] == s["total"]["dead_lettered"] > 0
    code, out, _ = _run("ingest", str(f), "--db", str(db_path))
    assert code == 1
    assert f"result: every record dead-lettered (reasons above; kept in the dead_letters table of {db_path})" in out
    with Store(db_path) as store:
        assert store.count("dead_letters") == s["total"]["dead_lettered"] and store.count("events") == 0


def test_an_unreadable_file_exits_1(tmp_path: Path, db_path: Path) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(_records(3))
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    code, out, _ = _run("ingest", str(good), str(broken), "--db", str(db_path))
    assert code == 1, out
    assert "cannot read file" in out
    assert "result: 1 of 4 records dead-lettered" in out


def test_a_clean_input_exits_0_and_an_empty_one_says_so(tmp_path: Path, db_path: Path) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(_records(3))
    code, out, err = _run("ingest", str(good), "--db", str(db_path))
    assert code == 0, err
    assert out.rstrip().endswith("result: ok, 3 records read, none dead-lettered")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.ndjson").write_text("\n\n")
    code, out, _ = _run("ingest", str(empty), "--db", str(db_path))
    assert code == 0
    assert "result: no records found in the input" in out


# -- never read the stores being written -------------------------------------------------------
def test_ingest_dot_never_reads_its_own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIEM_PACK_DB", raising=False)
    (tmp_path / "gateway.ndjson").write_text(_records(5))
    other = tmp_path / "archive" / "old-store.duckdb"
    other.parent.mkdir()
    Store(other).close()  # another store (a real DuckDB file) lying in the folder
    (tmp_path / "archive" / "renamed-store").write_bytes(other.read_bytes())  # a store without its suffix
    for _ in range(3):
        code, out, _ = _run("ingest", ".", "--json")
        assert code == 0, out
        s = json.loads(out)
        assert s["total"]["dead_lettered"] == 0 and s["total"]["read"] == 5
    notes = "\n".join(s["notes"])
    assert "siem-pack.duckdb: the store being written, not a log file" in notes
    assert "old-store.duckdb: a database file, not a log file" in notes
    assert "renamed-store: a DuckDB database, not a log file" in notes
    with Store(tmp_path / "siem-pack.duckdb") as store:
        assert store.count("dead_letters") == 0 and store.count("events") == 5


# -- Elasticsearch: dead letters on the cluster --------------------------------------------------
def _cluster_args(es_settings: Any) -> list[str]:
    return ["--es-url", es_settings.es_url, "--user", es_settings.user, "--password", es_settings.password]


@pytest.mark.elasticsearch
def test_dead_letters_go_to_the_cluster_without_db(tmp_path: Path, es: Any, es_settings: Any, es_prefix: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "mixed.ndjson"
    f.write_text(_records(4) + '{"not": "a known format"}\n{broken\n')
    args = ["ingest", str(f), *_cluster_args(es_settings), "--index", f"{es_prefix}-logs-{{format}}-{{namespace}}",
            "--dead-letter-index", f"{es_prefix}-dead-letters", "--json"]
    code, out, err = _run(*args)
    assert code == 1, err
    s = json.loads(out)
    assert s["total"]["stored"] == 4 and s["total"]["dead_lettered"] == 2
    assert s["dead_letter_target"] == f"index {es_prefix}-dead-letters"
    es.indices.refresh(index=f"{es_prefix}-*")
    hits = es.search(index=f"{es_prefix}-dead-letters", size=10)["hits"]["hits"]
    assert len(hits) == 2
    reasons = sorted(h["_source"]["error"]["message"] for h in hits)
    assert any("unknown format" in r for r in reasons) and any("JSON" in r for r in reasons), reasons
    assert {h["_id"] for h in hits} == {h["_source"]["siem_pack"]["dead_letter"]["id"] for h in hits}
    assert not (tmp_path / "siem-pack.duckdb").exists()  # nothing fell back to a local store
    code, out, _ = _run(*args)  # a re-run adds no dead letter twice
    assert code == 1 and json.loads(out)["total"]["already_present"] == 4
    es.indices.refresh(index=f"{es_prefix}-dead-letters")
    assert es.count(index=f"{es_prefix}-dead-letters")["count"] == 2


# -- Elasticsearch: the node goes away part-way ------------------------------------------------------
class DyingProxy:
    """A TCP proxy in front of the real node that forwards `bulk_allowed` bulk requests, then
    drops every connection and stops listening (what a killed node looks like to a client)."""

    def __init__(self, target: str, bulk_allowed: int) -> None:
        host, port = target.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        self.target = (host, int(port))
        self.bulk_allowed = bulk_allowed
        self.bulks = 0
        self.dead = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.dead.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        try:
            while data := src.recv(65536):
                if outbound and b"/_bulk" in data.split(b"\r\n", 1)[0]:
                    self.bulks += 1
                    if self.bulks > self.bulk_allowed:
                        self.kill()
                        return
                dst.sendall(data)
        except OSError:
            pass

    def kill(self) -> None:
        self.dead.set()
        for s in [self.server, *self.conns]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture()
def dying_proxy(es_settings: Any) -> Iterator[DyingProxy]:
    proxy = DyingProxy(es_settings.es_url, bulk_allowed=2)
    yield proxy
    proxy.kill()


@pytest.mark.elasticsearch
def test_a_node_lost_part_way_says_what_was_stored_and_rerun_is_safe(tmp_path: Path, es: Any, es_settings: Any,
                                                                     es_prefix: str, dying_proxy: DyingProxy) -> None:
    f = tmp_path / "many.ndjson"
    f.write_text(_records(1600))  # 4 batches of 500 records: two get through, the third finds the node gone
    index = f"{es_prefix}-logs-{{format}}-{{namespace}}"
    common = [str(f), "--user", es_settings.user, "--password", es_settings.password, "--index", index,
              "--dead-letter-index", f"{es_prefix}-dead-letters"]
    code, out, err = _run("ingest", "--es-url", dying_proxy.url, *common)
    assert code == 2, out + err
    line = err.strip().splitlines()[-1]
    assert "cannot connect" in line or "timed out" in line, line
    assert "stopped part-way: 1,000 stored, 0 already present, 0 dropped, 0 dead-lettered of 1,500 records read so far" \
        in line, line
    assert "re-running the same command is safe" in line
    assert "Traceback" not in err and es_settings.password not in err
    es.indices.refresh(index=f"{es_prefix}-*")
    assert es.count(index=f"{es_prefix}-logs-*")["count"] == 1000
    code, out, err = _run("ingest", "--es-url", es_settings.es_url, *common, "--json")  # the re-run
    assert code == 0, err
    s = json.loads(out)
    assert (s["total"]["stored"], s["total"]["already_present"]) == (600, 1000)
    es.indices.refresh(index=f"{es_prefix}-*")
    assert es.count(index=f"{es_prefix}-logs-*")["count"] == 1600



def test_the_dead_letter_index_is_deployed_with_a_create_only_ingest_role() -> None:
    from siem_pack.backends.indices import DEAD_LETTER_INDEX
    from siem_pack.deploy.bundle import load_roles, role_body
    from siem_pack.templates import own_indices

    assert DEAD_LETTER_INDEX in {i.name for i in own_indices()}
    (role,) = [r for r in load_roles() if r.job == "ingest"]
    grants = {n: g["privileges"] for g in role_body(role, "p-")["indices"] for n in g["names"]}
    assert grants[f"p-{DEAD_LETTER_INDEX}"] == ["create_doc", "auto_configure"]
    assert grants["p-logs-siem_pack.*"][:1] == ["create_doc"] and "index" not in grants["p-logs-siem_pack.*"]
