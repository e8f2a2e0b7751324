"""`siem-pack ingest` and `siem-pack pipelines` driven through the real command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from sample_cases import PROMPT_START, prompt_record

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.paths import content_dir

SAMPLE = content_dir("ingest_pipelines") / "samples" / "openai_compatible.ndjson"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_ingest_prints_the_invariant_per_format(tmp_path: Path, db_path: Path) -> None:
    f = tmp_path / "mixed.ndjson"
    f.write_text(SAMPLE.read_text().splitlines()[0] + '\n{"not": "a known format"}\n{broken\n')
    code, out, err = _run("ingest", str(f), "--db", str(db_path))
    assert code == 1, err  # two records dead-lettered: exit 1, as README's exit codes say
    assert f"ingest into embedded store {db_path}" in out
    assert re.search(r"\n  openai_compatible +1 +1 +0 +0 +0  ok\n", out), out
    assert re.search(r"\n  unknown +2 +0 +0 +0 +2  DEAD LETTERS\n", out), out
    assert "result: 2 of 3 records dead-lettered" in out, out
    assert "invariant: read = stored + already present + dropped + dead-lettered" in out
    code, out, _ = _run("ingest", str(f), "--db", str(db_path), "--json")
    summary = json.loads(out)
    assert summary["invariant_holds"] is True
    assert summary["formats"]["openai_compatible"]["already_present"] == 1
    with Store(db_path) as store:
        assert store.count("events") == 1 and store.count("dead_letters") == 2


def test_ingest_with_a_format_hint(tmp_path: Path, db_path: Path) -> None:
    code, out, err = _run("ingest", str(SAMPLE), "--db", str(db_path), "--format", "openai_compatible", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert list(s["formats"]) == ["openai_compatible"]
    assert s["total"]["read"] == s["total"]["stored"] > 0


def test_unknown_format_and_missing_path_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = _run("ingest", str(SAMPLE), "--format", "nope")
    assert code == 2 and "Invalid value for '--format'" in err
    code, _, err = _run("ingest", str(tmp_path / "absent.log"))
    assert code == 2 and "does not exist" in err


def test_follow_needs_one_file(tmp_path: Path) -> None:
    code, _, err = _run("ingest", str(tmp_path), "--follow")
    assert code == 2 and "--follow takes exactly one file" in err


def test_pipelines_test_prints_ecs_documents(tmp_path: Path) -> None:
    code, out, err = _run("pipelines", "test", str(SAMPLE))
    assert code == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs and all(d["siem_pack"]["format"] == "openai_compatible" for d in docs)
    assert all(d["event"]["kind"] == "event" and d["@timestamp"] for d in docs)
    assert f"{len(docs)} read, {len(docs)} events, 0 dropped, 0 dead-lettered" in err


def test_pipelines_test_exits_1_on_dead_letters(tmp_path: Path) -> None:
    f = tmp_path / "bad.ndjson"
    f.write_text('{"unknown": true}\n')
    code, out, err = _run("pipelines", "test", str(f))
    assert code == 1
    assert out == ""
    assert f"dead letter: {f}:1: unknown format [entry-unknown-format]" in err
    assert err.strip().endswith(f"siem-pack: error: {f}: 1 record(s) dead-lettered (see above)")


def test_pipelines_list_validates_everything(tmp_path: Path) -> None:
    code, out, err = _run("pipelines", "list", "--json")
    assert code == 0, err
    ids = [r["id"] for r in json.loads(out)]
    assert "siem_pack-entry" in ids and "siem_pack-secrets" in ids


def test_pipelines_list_reports_content_errors_with_exit_1(tmp_path: Path, monkeypatch: object) -> None:
    import shutil

    root = tmp_path / "bundle"
    shutil.copytree(content_dir("ingest_pipelines"), root / "ingest_pipelines")
    shutil.copytree(content_dir("schema"), root / "schema")
    shutil.copytree(content_dir("inventory"), root / "inventory")
    (root / "ingest_pipelines" / "siem_pack-broken.yml").write_text("processors:\n  - grokk: {tag: oops}\n")
    monkeypatch.setenv("SIEM_PACK_CONTENT", str(root))  # type: ignore[attr-defined]
    code, _, err = _run("pipelines", "list")
    assert code == 1
    assert f"siem-pack: error: {root / 'ingest_pipelines' / 'siem_pack-broken.yml'}: processors[0] grokk tag=oops: unknown processor [grokk]" in err


def test_keep_content_truncated_is_a_setting(tmp_path: Path) -> None:
    """Prompt text is not stored by default; --keep-content truncated keeps it, cut and redacted."""
    import duckdb

    text = prompt_record()
    src = tmp_path / "one.ndjson"
    src.write_text(text + "\n")
    prompts = {}
    for mode in ("none", "truncated"):
        db = tmp_path / f"{mode}.duckdb"
        res = CliRunner().invoke(main, ["ingest", str(src), "--db", str(db), "--keep-content", mode])
        assert res.exit_code == 0, res.output
        with duckdb.connect(str(db), read_only=True) as con:
            prompts[mode] = con.execute('SELECT "siem_pack.content.prompt" FROM events').fetchall()[0][0]
    assert prompts["none"] is None
    assert prompts["truncated"].startswith(PROMPT_START) and len(prompts["truncated"]) == 257
    res = CliRunner().invoke(main, ["ingest", str(src), "--db", str(tmp_path / "x.duckdb"), "--keep-content", "all"])
    assert res.exit_code == 2 and "Invalid value for '--keep-content'" in res.output
