"""The jobs as commands: fit-baselines, score (idempotent, only after training), refresh-content;
on the embedded store and on the real Elasticsearch node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from elasticsearch.helpers import bulk

from siem_pack.backends.duckdb import Store
from siem_pack.baselines import jobs
from siem_pack.baselines.artifacts import KEY_ENV
from siem_pack.baselines.synthetic import Usage
from siem_pack.cli import main
from siem_pack.schema import load_schema
from siem_pack.settings import ClusterSettings


def _context_file(tmp_path: Path, u: Usage) -> Path:
    p = tmp_path / "ctx.yml"
    p.write_text(yaml.safe_dump({
        "identities": {k: {"time_zone": v, "team": u.context.teams[k]} for k, v in u.context.timezones.items()},
        "grants": [{"user": g.user_id, "model": g.model, "start": g.start.isoformat() + "Z"} for g in u.context.grants],
    }))
    return p


def _run(args: list[str], key: bytes) -> tuple[int, dict[str, Any], str]:
    res = CliRunner().invoke(main, args, env={KEY_ENV: key.decode()})
    report = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else {}
    return res.exit_code, report, res.stderr


def test_fit_score_refresh_on_the_embedded_store(tmp_path: Path, usage_db: Path, quality_usage: Usage,
                                                 key: bytes) -> None:
    u = quality_usage
    ctx = _context_file(tmp_path, u)
    models = tmp_path / "models"
    common = ["--db", str(usage_db), "--models-dir", str(models), "--context", str(ctx)]
    code, fit, err = _run(["jobs", "fit-baselines", *common, "--start", u.train_start.isoformat() + "Z",
                           "--end", u.train_end.isoformat() + "Z"], key)
    assert code == 0, err
    assert fit["job"] == "fit-baselines" and fit["rows"] > 1000 and Path(fit["artifact"]).is_file()

    # a start inside the training period is moved to its end: a model scores only later windows
    code, sc, err = _run(["jobs", "score", *common, "--start", u.train_start.isoformat() + "Z",
                          "--end", u.end.isoformat() + "Z"], key)
    assert code == 0, err
    shaped = sum(sc["shapes"].values())  # cross-identity and shape documents (baselines/shapes.py)
    assert sc["start"] == u.train_end.isoformat() and sc["scored"] > 0 and sc["stored"] == sc["scored"] + shaped
    assert 0 < sc["anomalous"] < sc["scored"]
    with Store(usage_db) as store:
        rows = store.con.execute('SELECT min("siem_pack.anomaly.window.start"), count(*), '
                                 'count(DISTINCT "event.id") FROM anomalies').fetchone()
        doc = next(store.search_all("anomalies"))
    assert rows[0] >= u.train_end and rows[1] == rows[2] == sc["stored"]
    assert doc["event"]["dataset"] == "siem_pack.anomaly" and doc["siem_pack"]["anomaly"]["model_version"] == fit["version"]
    assert doc["@timestamp"] == doc["siem_pack"]["anomaly"]["window"]["end"]

    code, again, err = _run(["jobs", "score", *common, "--end", u.end.isoformat() + "Z"], key)
    assert code == 0, err
    assert again["stored"] == 0 and again["already_present"] == sc["stored"]

    code, ref, err = _run(["jobs", "refresh-content", "--models-dir", str(models), "--dashboards-out",
                           str(tmp_path / "dash")], key)
    assert code == 0, err
    assert ref["rules"] >= 1 and ref["content_thresholds"]["requests_per_15m_max"] >= 1
    assert ref["dashboards"] and Path(ref["dashboards"][0]).is_file()
    assert str(ref["thresholds"]["default"]) in Path(ref["dashboards"][0]).read_text()


def test_score_with_a_tampered_artifact_exits_2_with_one_line(tmp_path: Path, usage_db: Path,
                                                               quality_usage: Usage, key: bytes) -> None:
    u = quality_usage
    models = tmp_path / "models"
    code, fit, err = _run(["jobs", "fit-baselines", "--db", str(usage_db), "--models-dir", str(models),
                           "--end", u.train_end.isoformat() + "Z", "--days", "7"], key)
    assert code == 0, err
    meta = Path(fit["artifact"])
    meta.write_text(meta.read_text().replace('"population_column"', '"population_colunm"'))
    code, _, err = _run(["jobs", "score", "--db", str(usage_db), "--models-dir", str(models)], key)
    assert code == 2
    assert err.strip() == (f"siem-pack: error: {meta}: artifact signature does not match: tampered, "
                           "or signed with another key")


def test_missing_key_exits_2_naming_both_settings(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["jobs", "refresh-content", "--models-dir", str(tmp_path)], env={KEY_ENV: ""})
    assert res.exit_code == 2
    assert res.stderr.strip() == ("siem-pack: error: --key-file: no baseline signing key (at least 16 bytes): "
                                  "pass --key-file or set SIEM_PACK_BASELINE_KEY")


def test_too_little_history_is_a_clear_error(tmp_path: Path, key: bytes) -> None:
    code, _, err = _run(["jobs", "fit-baselines", "--db", str(tmp_path / "empty.duckdb"), "--models-dir",
                         str(tmp_path / "m"), "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z"], key)
    assert code == 2 and "too little history to fit a baseline" in err


@pytest.mark.elasticsearch
def test_fit_and_score_on_elasticsearch_are_create_only(es: Any, es_settings: ClusterSettings, es_prefix: str,
                                                        tmp_path: Path, small_usage: Usage, key: bytes) -> None:
    u = small_usage
    index = f"{es_prefix}-logs"
    es.indices.create(index=index, mappings={"properties": load_schema().es_properties(
        jobs.UNSUPPORTED_ON_TEST_NODE)})
    docs = list(u.docs())
    bulk(es, ({"_index": index, "_id": d["event"]["id"], "_source": d} for d in docs), refresh=True)
    src = jobs.Source(settings=es_settings, index=index)
    fit = jobs.fit_baselines(src, tmp_path / "m", key, start=u.train_start, end=u.train_end, context=u.context)
    assert fit["training_rows"] > 50
    target = f"{es_prefix}-anomalies"
    first = jobs.score(src, tmp_path / "m", key, end=u.end, context=u.context, anomalies_index=target)
    assert first["scored"] > 0 and first["stored"] == first["scored"] + sum(first["shapes"].values())
    second = jobs.score(src, tmp_path / "m", key, end=u.end, context=u.context, anomalies_index=target)
    assert second["stored"] == 0 and second["already_present"] == first["stored"]
    es.indices.refresh(index=target)
    assert es.count(index=target)["count"] == first["stored"]
    hit = es.search(index=target, size=1, sort=[{"siem_pack.anomaly.risk_score": "desc"}])["hits"]["hits"][0]
    assert hit["_id"] == hit["_source"]["event"]["id"]
    assert hit["_source"]["siem_pack"]["anomaly"]["explanation"]
