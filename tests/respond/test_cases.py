"""Case files: every section present, secrets redacted (a planted fake AWS key never
reaches the files), seal proofs for the source events, and the Kibana case through the
Cases API, contract-tested with KibanaContractServer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import seal_windows
from siem_pack.integrity.store_duckdb import DuckDBEvents, DuckDBSeals
from tests.support.kibana_server import KibanaContractServer

from .conftest import FAKE_AWS_KEY, World

SECTIONS = ["alert", "rule", "timeline", "logs", "baseline", "inventory", "bundle", "integrity", "actions"]


def _seal(db: Path) -> None:
    with Store(db) as store:
        seal_windows(DuckDBEvents(store), DuckDBSeals(store), SigningKey.generate(), now=datetime(2026, 11, 3))


def test_case_build_has_every_section_and_no_secret(world: World, tmp_path: Path) -> None:
    _seal(world.db)
    runner = CliRunner()
    res = runner.invoke(main, ["respond", world.first, "--db", str(world.db), "--by", "alice"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["alerts", "ack", world.first, "--db", str(world.db), "--by", "alice",
                               "--reason", "triaging the secret"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "case"
    res = runner.invoke(main, ["case", "build", world.first, "--db", str(world.db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    md, page, data = ((out / n).read_text() for n in ("case.md", "case.html", "case.json"))
    for text in (md, page, data):
        assert FAKE_AWS_KEY not in text
    case = json.loads(data)
    assert [s["anchor"] for s in case["sections"]] == SECTIONS
    by = {s["anchor"]: s for s in case["sections"]}
    assert by["alert"]["facts"]["response level"] == "review"
    assert by["alert"]["table"]["rows"][0][2:] == ["acknowledged", "alice", "triaging the secret"]
    assert "## Triage and analysis" in by["rule"]["code"][0]["text"]
    assert by["rule"]["facts"]["runbook"] == "docs/runbook.md#secrets"
    assert [r[-1] for r in by["timeline"]["table"]["rows"]] == ["e1", "e3", "e4", "e5", "e2"]
    assert "aws_access_key_id" in by["logs"]["code"][0]["caption"]
    assert "use key" in by["logs"]["code"][0]["text"]
    assert by["baseline"]["table"]["rows"][0][2] == 91.5
    assert by["inventory"]["facts"]["tier"] == "restricted"
    assert by["inventory"]["facts"]["policy verdict at the first event"].startswith("noncompliant")
    assert by["bundle"]["facts"]["siem-pack"]
    assert by["integrity"]["table"]["rows"][0][:2] == ["e1", True], by["integrity"]
    assert [r[1] for r in by["actions"]["table"]["rows"]] == ["webhook"]
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in md and f"id='{anchor}'" in page


def test_case_shows_a_tampered_event(world: World, tmp_path: Path) -> None:
    _seal(world.db)
    with Store(world.db) as store:
        store.con.execute("UPDATE events SET \"event.outcome\" = 'failure', doc = json_merge_patch(doc, "
                          "'{\"event\": {\"outcome\": \"failure\"}}') WHERE \"event.id\" = 'e1'")
    res = CliRunner().invoke(main, ["case", "build", world.first, "--db", str(world.db), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    by = {s["anchor"]: s for s in json.loads((tmp_path / "case.json").read_text())["sections"]}
    row = by["integrity"]["table"]["rows"][0]
    assert row[1] is False and "differs from the sealed event" in row[-1]


def test_case_opens_a_kibana_case_through_the_cases_contract(world: World, tmp_path: Path,
                                                              contracts_dir: Path) -> None:
    with KibanaContractServer(contracts_dir) as kb:
        res = CliRunner().invoke(main, ["case", "build", world.first, "--db", str(world.db), "--out", str(tmp_path),
                                        "--kibana", "--kibana-url", kb.url, "--user", "elastic",
                                        "--password", "changeme", "--json"])
        assert res.exit_code == 0, res.output
        assert kb.problems == []
        assert [(r.method, r.path.split("/")[-1]) for r in kb.requests] == [("POST", "cases"), ("POST", "comments")]
        (case,) = kb.cases.values()
        assert case["owner"] == "securitySolution" and case["severity"] == "high"
        assert json.loads(res.output)["kibana_case"] == case["id"]
        comment = case["comments"][0]["comment"]
        assert "Seal verification" in comment and FAKE_AWS_KEY not in comment


def test_respond_adds_receipts_to_the_kibana_case(world: World, tmp_path: Path, contracts_dir: Path) -> None:
    with KibanaContractServer(contracts_dir) as kb:
        runner = CliRunner()
        res = runner.invoke(main, ["case", "build", world.first, "--db", str(world.db), "--out", str(tmp_path),
                                   "--kibana", "--kibana-url", kb.url, "--json"])
        case_id = json.loads(res.output)["kibana_case"]
        res = runner.invoke(main, ["respond", world.first, "--db", str(world.db), "--by", "alice",
                                   "--kibana-url", kb.url, "--kibana-case", case_id])
        assert res.exit_code == 0, res.output
        assert kb.problems == []
        comment = kb.cases[case_id]["comments"][-1]["comment"]
        assert "webhook" in comment and "dry run" in comment and "by alice" in comment
