"""`siem-pack rules ...` driven through the real command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siem_pack.cli import main
from siem_pack.paths import content_root


def test_list_json() -> None:
    res = CliRunner().invoke(main, ["rules", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) >= 20 and {"rule_id", "type", "mission_indicator"} <= set(rows[0])


def test_build_and_export(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["rules", "build", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "27 rule(s) valid against schema/kibana/rule.yml" in res.output
    res = CliRunner().invoke(main, ["rules", "export", "--out", str(tmp_path / "e"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert "auth_failures_then_success" in report["splunk_unmapped"]
    conf = (tmp_path / "e" / "savedsearches.conf").read_text()
    assert conf.count("\n[siem-pack: ") == report["rules"] - len(report["splunk_unmapped"])


def test_test_on_duckdb() -> None:
    res = CliRunner().invoke(main, ["rules", "test", "--rule", "secret_in_prompt"])
    assert res.exit_code == 0, res.output
    assert "2/2 fixture file(s) passed" in res.output


@pytest.mark.elasticsearch
def test_test_on_elasticsearch(es_settings: Any, es_prefix: str) -> None:
    res = CliRunner().invoke(main, ["rules", "test", "--rule", "denied_model_retries", "--prefix", es_prefix,
                                    "--es-url", es_settings.es_url, "--user", es_settings.user,
                                    "--password", es_settings.password])
    assert res.exit_code == 0, res.output
    assert "elasticsearch=1" in res.output


def _broken_content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    src = content_root()
    shutil.copytree(src / "detections", root / "detections")
    shutil.copytree(src / "schema", root / "schema")
    p = root / "detections" / "secret_in_prompt.toml"
    p.write_text(p.read_text().replace('query = "siem_pack.secrets.detectors: *"',
                                       'query = "siem_pack.secret.detector: *"'))
    return root


def test_bad_field_exits_1_naming_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIEM_PACK_CONTENT", str(_broken_content(tmp_path)))
    res = CliRunner().invoke(main, ["rules", "list"])
    assert res.exit_code == 1
    line = res.output.strip().splitlines()[0]
    assert line.startswith("siem-pack: error: ") and "secret_in_prompt.toml:" in line
    assert "field 'siem_pack.secret.detector' is not in schema/fields.yml" in line


def test_build_exits_1_naming_the_file_our_schema_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _broken_content(tmp_path)
    p = root / "detections" / "secret_in_prompt.toml"
    p.write_text((content_root() / "detections" / "secret_in_prompt.toml").read_text()
                 .replace("max_signals = 100", "max_signals = 0"))
    monkeypatch.setenv("SIEM_PACK_CONTENT", str(root))
    for args in (["rules", "build"], ["rules", "export", "--out", str(tmp_path / "out")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1, res.output
        assert res.output.strip() == (f"siem-pack: error: {p}: API body fails schema/kibana/rule.yml (query): "
                                      "max_signals: 0 is less than the minimum of 1")
    assert not (tmp_path / "out").exists()


def test_failing_fixture_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _broken_content(tmp_path)
    p = root / "detections" / "secret_in_prompt.toml"
    p.write_text((content_root() / "detections" / "secret_in_prompt.toml").read_text())
    miss = root / "detections" / "fixtures" / "secret_in_prompt" / "miss.ndjson"
    shutil.copy(root / "detections" / "fixtures" / "secret_in_prompt" / "hit.ndjson", miss)
    monkeypatch.setenv("SIEM_PACK_CONTENT", str(root))
    res = CliRunner().invoke(main, ["rules", "test", "--rule", "secret_in_prompt"])
    assert res.exit_code == 1
    assert "siem-pack: error: detections/fixtures: 1 fixture(s) failed:" in res.output
    assert "secret_in_prompt/miss: duckdb: 1 alert(s) on miss fixture" in res.output


def test_run_over_a_db_is_idempotent(tmp_path: Path) -> None:
    from siem_pack.backends.duckdb import Store
    from siem_pack.detect.fixtures import fixture_dir, load_fixture
    from siem_pack.detect.rules import load_rules

    db = tmp_path / "r.duckdb"
    rule = next(r for r in load_rules() if r.stem == "secret_in_prompt")
    with Store(db) as s:
        s.write_docs("events", load_fixture(fixture_dir(rule) / "hit.ndjson"))
    args = ["rules", "run", "--db", str(db), "--start", "2026-11-02T09:00:00Z", "--end", "2026-11-02T11:00:00Z",
            "--json"]
    first = json.loads(CliRunner().invoke(main, args).output)
    second = json.loads(CliRunner().invoke(main, args).output)
    assert first["stored"] == first["alerts"] >= 1 and first["per_rule"]["secret_in_prompt"] == 1
    assert second["stored"] == 0 and second["already_present"] == first["alerts"]


def test_run_needs_a_period() -> None:
    res = CliRunner().invoke(main, ["rules", "run", "--start", "2026-11-02T09:00:00Z"])
    assert res.exit_code == 2
    assert "siem-pack: error: --start/--end: give --start and --end, or --last" in res.output
