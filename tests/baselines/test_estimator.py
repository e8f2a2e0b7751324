"""The baseline estimator: scikit-learn contract, quality floor on injected anomalies, benign
traps out of the top decile, explanations against the identity's own baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from siem_pack.backends.duckdb import Store
from siem_pack.baselines import synthetic
from siem_pack.baselines.estimator import MODEL_FEATURES, BaselineEstimator
from siem_pack.baselines.features import FeatureFrameSpec, derive, features_duckdb
from siem_pack.baselines.jobs import with_population
from siem_pack.errors import InputError


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, quality_usage: synthetic.Usage
           ) -> tuple[synthetic.Usage, pd.DataFrame, BaselineEstimator, np.ndarray]:
    u = quality_usage
    path = tmp_path_factory.mktemp("q") / "q.duckdb"
    with Store(path) as store:
        synthetic.load_duckdb(store, u.events)
        base = features_duckdb(store, FeatureFrameSpec(u.train_start, u.end))
    frame = with_population(derive(base, u.context), u.context)
    est = BaselineEstimator().fit(frame[frame["window_start"] < u.train_end])
    return u, frame, est, est.risk_score(frame)


def _keys(frame: pd.DataFrame) -> list[tuple[str, object, str]]:
    return [(a, b.to_pydatetime(), m) for a, b, m in
            zip(frame["user.id"], frame["window_start"], frame["gen_ai.request.model"], strict=True)]


def test_params_only_in_init_and_fit_returns_self() -> None:
    est = BaselineEstimator(n_estimators=10, history_windows=24)
    assert est.get_params()["n_estimators"] == 10
    assert not [k for k in vars(est) if k.endswith("_")]  # nothing learnt before fit


def test_risk_score_before_fit_is_a_clear_error(scored: tuple) -> None:
    _, frame, _, _ = scored
    with pytest.raises(InputError, match="not fitted"):
        BaselineEstimator().risk_score(frame)


def test_missing_feature_column_is_named(scored: tuple) -> None:
    _, frame, est, _ = scored
    with pytest.raises(InputError, match="hour_distance"):
        est.risk_score(frame.drop(columns=["hour_distance"]))


def test_fit_learns_state_with_trailing_underscore(scored: tuple) -> None:
    _, _, est, risk = scored
    assert est.feature_names_in_ == MODEL_FEATURES
    assert "__all__" in est.forests_ and est.populations_
    assert risk.min() >= 0 and risk.max() <= 100


def test_injected_anomalies_reach_roc_auc_0_9(scored: tuple) -> None:
    u, frame, _, risk = scored
    test = (frame["window_start"] >= u.train_end).to_numpy()
    labels = np.array([k in u.anomalies for k in _keys(frame[test])])
    assert labels.sum() >= 50
    assert roc_auc_score(labels, risk[test]) >= 0.9
    for kind in synthetic.ANOMALY_KINDS:  # each kind on its own against the normal windows (some
        # kinds have two windows, so a softer floor)
        mine = np.array([u.anomalies.get(k) == kind for k in _keys(frame[test])])
        keep = mine | ~labels
        assert roc_auc_score(mine[keep], risk[test][keep]) >= 0.85, kind


@pytest.mark.parametrize("kind", synthetic.TRAP_KINDS)
def test_benign_traps_stay_out_of_the_top_decile(scored: tuple, kind: str) -> None:
    """Nightly batch accounts, a whole team's campaign, a gradual ramp after a grant. The
    floor: at most 2 % of a trap's windows in the top decile (chance would put 10 % there)."""
    u, frame, _, risk = scored
    test = (frame["window_start"] >= u.train_end).to_numpy()
    top = risk[test] >= np.quantile(risk[test], 0.9)
    mine = np.array([k in u.traps[kind] for k in _keys(frame[test])])
    assert mine.sum() >= 20
    assert top[mine].mean() <= 0.02, f"{kind}: {top[mine].sum()} of {mine.sum()} windows in the top decile"


def test_explanations_name_the_moved_feature_and_the_identity_baseline(scored: tuple) -> None:
    u, frame, est, risk = scored
    explanations = est.explain(frame)
    keys = _keys(frame)
    bursts = [i for i, k in enumerate(keys) if u.anomalies.get(k) == "burst"]
    new_models = [i for i, k in enumerate(keys) if u.anomalies.get(k) == "new_model"]
    assert bursts and new_models
    for i in bursts:
        top = explanations[i][0]
        assert top.feature in {"requests", "input_tokens_sum", "output_tokens_sum", "response_bytes"}
        assert top.value > 3 * top.baseline and top.z >= 3
    for i in new_models:
        assert "first_seen_model" in [e.feature for e in explanations[i]]
    assert all(len(e) <= est.top_k for e in explanations)


def test_normal_for_this_identity_counts(scored: tuple) -> None:
    """A batch account's 50 requests an hour is its normal; a person's 50 is not."""
    u, frame, est, risk = scored
    test = (frame["window_start"] >= u.train_end).to_numpy()
    batch = test & frame["user.id"].str.startswith("svc-").to_numpy()
    assert frame.loc[batch, "requests"].median() > 20
    assert np.median(risk[batch]) < np.quantile(risk[test], 0.9)


def test_population_by_team(scored: tuple) -> None:
    u, frame, _, _ = scored
    est = BaselineEstimator(population_column="team", n_estimators=50).fit(frame[frame["window_start"] < u.train_end])
    assert "platform" in est.populations_ and set(est.populations_) <= set(frame["team"])
    assert est.risk_score(frame.head(200)).shape == (200,)
