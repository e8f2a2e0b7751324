"""Artifacts: signed metadata checked before unpickling; tampering and feature drift fail clearly."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.baselines import artifacts
from siem_pack.baselines.estimator import BaselineEstimator
from siem_pack.baselines.features import FeatureFrameSpec, derive, features_duckdb
from siem_pack.baselines.synthetic import Usage, load_duckdb
from siem_pack.errors import ConfigError


@pytest.fixture()
def saved(tmp_path: Path, small_usage: Usage, key: bytes) -> tuple[Path, pd.DataFrame]:
    with Store(tmp_path / "a.duckdb") as store:
        load_duckdb(store, small_usage.events)
        frame = derive(features_duckdb(store, FeatureFrameSpec(small_usage.train_start, small_usage.end)))
    est = BaselineEstimator(n_estimators=20, min_population_rows=50).fit(frame)
    meta = artifacts.save(est, tmp_path / "models", key, training={"start": "2026-03-02T00:00:00",
                          "end": "2026-03-06T00:00:00", "window_seconds": 3600}, data_hash="abc",
                          quality={"training_rows": len(frame)})
    return Path(meta["path"]), frame


def test_round_trip_keeps_scores_and_metadata(saved: tuple[Path, pd.DataFrame], key: bytes) -> None:
    path, frame = saved
    est, meta = artifacts.load(path, key)
    assert meta["data_hash"] == "abc" and meta["libraries"]["scikit-learn"]
    assert meta["parameters"]["n_estimators"] == 20 and meta["training"]["window_seconds"] == 3600
    assert set(meta) >= {"features", "populations", "quality", "thresholds", "signature", "pickle_sha256"}
    assert artifacts.latest(path.parent) == path
    assert est.risk_score(frame).shape == (len(frame),)


def test_tampered_metadata_fails_before_unpickling(saved: tuple[Path, pd.DataFrame], key: bytes) -> None:
    path, _ = saved
    meta = json.loads(path.read_text())
    meta["thresholds"]["__all__"] = 99.0
    path.write_text(json.dumps(meta))
    path.with_suffix(".pkl").write_bytes(b"not a pickle at all")  # never reached
    with pytest.raises(artifacts.ArtifactError, match="signature does not match"):
        artifacts.load(path, key)


def test_tampered_pickle_fails_before_unpickling(saved: tuple[Path, pd.DataFrame], key: bytes) -> None:
    path, _ = saved

    class Boom:
        def __reduce__(self) -> tuple:
            return (exec, ("raise SystemExit('unpickled!')",))

    path.with_suffix(".pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(artifacts.ArtifactError, match="does not match its signed hash"):
        artifacts.load(path, key)


def test_other_key_fails(saved: tuple[Path, pd.DataFrame]) -> None:
    path, _ = saved
    with pytest.raises(artifacts.ArtifactError, match="signed with another key"):
        artifacts.load(path, b"another-key-0123456789")


def test_other_feature_list_fails(saved: tuple[Path, pd.DataFrame], key: bytes) -> None:
    path, _ = saved
    with pytest.raises(artifacts.ArtifactError, match="differ from this version"):
        artifacts.load(path, key, features=["z_requests"])


def test_missing_or_short_key_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifacts.KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="SIEM_PACK_BASELINE_KEY"):
        artifacts.load_key()
    (tmp_path / "k").write_text("short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        artifacts.load_key(tmp_path / "k")


def test_no_artifact_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(artifacts.ArtifactError, match="jobs fit-baselines"):
        artifacts.latest(tmp_path)
