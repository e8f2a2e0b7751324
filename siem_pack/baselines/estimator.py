"""Stage 3, step 2: feature frames → risk scores with explanations.

Input: a derived feature frame from features.py (`derive`), holding each identity's
history before the windows to score. Output: `risk_score` (0–100, higher = riskier) and
`explain` (top features, each with its distance from the identity's own baseline); jobs.py
writes both as anomaly events. Saved by artifacts.py.

How: every volume feature is turned into a robust z-score against the identity's *trailing*
baseline for that model (mean and standard deviation of log1p(value) over its previous
`history_windows` active windows, by prefix sums), falling back to the identity's baseline over all its
models, then the population's, while the pair has fewer than `min_history` windows. A peer
correction removes what the identity's whole team did in the same window (a campaign is
not one person's anomaly). Flags (first-seen model, new countries, distance from usual
hours, rise in restricted share) join the z-scores, and one `IsolationForest` per population
(model tier or team) isolates the unusual windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from ..errors import InputError

# the volume features the forests see (the frame has more: p95s, maxima and request bytes
# move with these and would only add noise)
VOLUME = ["requests", "operations", "input_tokens_sum", "output_tokens_sum", "response_bytes", "errors", "denied",
          "source_ips", "user_agents", "client_versions", "identity_models"]
FLAGS = ["first_seen_model", "new_countries", "hour_distance", "restricted_rise"]
RELATIVE = [f"z_{f}" for f in VOLUME] + FLAGS  # what explanations rank
# what the forests see: a few dense summaries of the z-scores, plus the flags
VOLUME_CORE = ["requests", "input_tokens_sum", "output_tokens_sum", "response_bytes"]
SPREAD = ["source_ips", "user_agents", "client_versions", "operations"]
MODEL_FEATURES = ["z_volume_mean", "z_volume_max", "z_failures", "z_spread_max", "z_identity_models", *FLAGS]
# how many z-units a flag counts for when ranking explanations
FLAG_WEIGHT = {"first_seen_model": 4.0, "new_countries": 4.0, "hour_distance": 0.6, "restricted_rise": 6.0}
ALL = "__all__"
DEAD_ZONE = 2.0
TAIL_WEIGHT = 0.05
Z_LOW = 0.0  # drops below the baseline are not a risk
CALIBRATION_QUANTILES = [0.0, 0.5, 0.9, 0.99, 1.0]
CALIBRATION_RISKS = [0.0, 50.0, 75.0, 90.0, 97.0, 100.0]
SCALE_FLOOR = 0.5  # in log1p units: below this, an identity's spread is treated as this
# rare counts: one error or denial in a window is not a surprise on its own
COUNT_FLOOR = {"errors": 1.0, "denied": 1.0, "source_ips": 0.7, "user_agents": 0.7, "client_versions": 0.7,
               "operations": 0.7, "identity_models": 0.7}
FLOORS = np.array([COUNT_FLOOR.get(f, SCALE_FLOOR) for f in VOLUME])


@dataclass(frozen=True)
class Explanation:
    """One top feature of a window: its value, the identity's baseline and the z-score."""

    feature: str
    value: float
    baseline: float
    z: float

    def text(self) -> str:
        return f"{self.feature}={self.value:g} (baseline {self.baseline:g}, z={self.z:.1f})"


class BaselineEstimator:
    """Isolation forests over identity-relative features, one per population."""

    def __init__(self, population_column: str = "siem_pack.model.tier", history_windows: int = 168,
                 min_history: int = 8, n_estimators: int = 100, max_samples: int | str = "auto",
                 threshold_quantile: float = 0.99, peer_min: int = 3, min_population_rows: int = 200,
                 calibration_rows: int = 20000, top_k: int = 3, random_state: int = 0) -> None:
        self.population_column = population_column
        self.history_windows = history_windows
        self.min_history = min_history
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.threshold_quantile = threshold_quantile
        self.peer_min = peer_min
        self.min_population_rows = min_population_rows
        self.calibration_rows = calibration_rows
        self.top_k = top_k
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("population_column", "history_windows", "min_history", "n_estimators",
                                              "max_samples", "threshold_quantile", "peer_min", "min_population_rows",
                                              "calibration_rows", "top_k", "random_state")}

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> BaselineEstimator:
        self._check(X)
        logs = np.log1p(X[VOLUME].clip(lower=0).astype(float))
        self.identity_baselines_ = _robust(logs.groupby(X["user.id"].to_numpy()))
        self.population_baselines_ = _robust(logs.groupby(self._populations(X)))
        self.global_baseline_ = _robust(logs.groupby(np.zeros(len(X))))
        F = _inputs(self._relative(X)[0])
        pops = self._populations(X)
        self.forests_: dict[str, IsolationForest] = {}
        self.thresholds_: dict[str, float] = {}
        self.calibration_: dict[str, list[float]] = {}
        self.tails_: dict[str, np.ndarray] = {}
        self.floors_: dict[str, np.ndarray] = {}
        groups = {ALL: np.ones(len(X), dtype=bool)}
        for pop in sorted(set(pops)):
            mask = pops == pop
            if mask.sum() >= self.min_population_rows:
                groups[str(pop)] = mask
        rng = np.random.default_rng(self.random_state)
        for pop, mask in groups.items():
            forest = IsolationForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                                     random_state=self.random_state)
            # only rises count: values under the population's median are lifted to it, so the
            # forest isolates highs, not the all-quiet corner
            self.floors_[pop] = np.median(F[mask], axis=0)
            Fp = np.maximum(F[mask], self.floors_[pop])
            forest.fit(Fp)
            self.forests_[pop] = forest
            # tail probabilities, calibration and threshold from a seeded sample: their
            # resolution needs thousands of rows, not millions
            sample = F[mask]
            if len(sample) > self.calibration_rows:
                sample = sample[rng.choice(len(sample), self.calibration_rows, replace=False)]
            self.tails_[pop] = np.sort(np.maximum(sample, self.floors_[pop]), axis=0)
            raw = self._raw(pop, sample)
            self.calibration_[pop] = [float(v) for v in np.quantile(raw, CALIBRATION_QUANTILES)]
            risk = _calibrate(raw, self.calibration_[pop])
            self.thresholds_[pop] = float(np.quantile(risk, self.threshold_quantile))
        self.populations_ = sorted(p for p in groups if p != ALL)
        self.feature_names_in_ = list(MODEL_FEATURES)
        self.n_training_rows_ = int(len(X))
        return self

    # -- score ----------------------------------------------------------------------------------
    def risk_score(self, X: pd.DataFrame) -> np.ndarray:
        """0–100 per row of X, higher is riskier."""
        return self._score(_inputs(self._relative(X)[0]), self._populations(X))

    def population_of(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted population that scores each row (ALL when its own had too few rows)."""
        self._fitted()
        pops = self._populations(X)
        return np.array([p if p in self.forests_ else ALL for p in pops], dtype=object)

    def threshold_for(self, population: str) -> float:
        return self.thresholds_.get(population, self.thresholds_[ALL])

    def explain(self, X: pd.DataFrame, top_k: int | None = None) -> list[list[Explanation]]:
        """The top features per row: value, the identity's baseline and how far (z) from it."""
        F, base = self._relative(X)
        return self._explain(X, F, base, top_k or self.top_k)

    def risk_and_explain(self, X: pd.DataFrame, rows: np.ndarray | None = None, top_k: int | None = None
                         ) -> tuple[np.ndarray, list[list[Explanation]]]:
        """`risk_score` and `explain` with one pass over the relative features, for the rows
        selected by the boolean mask `rows` (default all; X still supplies their history)."""
        F, base = self._relative(X)
        sel = np.ones(len(X), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        risk = self._score(_inputs(F[sel]), self._populations(X)[sel])
        return risk, self._explain(X[sel], F[sel], base[sel], top_k or self.top_k)

    def _explain(self, X: pd.DataFrame, F: np.ndarray, base: np.ndarray, k: int) -> list[list[Explanation]]:
        weights = np.array([1.0] * len(VOLUME) + [FLAG_WEIGHT[f] for f in FLAGS])
        strength = F * weights
        order = np.argsort(-strength, axis=1, kind="stable")[:, :k]
        values = X[VOLUME].to_numpy(dtype=float)
        flags = F[:, len(VOLUME):]
        out: list[list[Explanation]] = []
        for i in range(len(X)):
            items = []
            for j in order[i]:
                if strength[i, j] <= 0:
                    continue
                if j < len(VOLUME):
                    items.append(Explanation(VOLUME[j], float(values[i, j]), round(float(base[i, j]), 2),
                                             round(float(F[i, j]), 2)))
                else:
                    name = FLAGS[j - len(VOLUME)]
                    items.append(Explanation(name, float(flags[i, j - len(VOLUME)]), 0.0, round(float(strength[i, j]), 2)))
            out.append(items)
        return out

    def _score(self, F: np.ndarray, pops: np.ndarray) -> np.ndarray:
        self._fitted()
        risk = np.empty(len(F))
        for pop in set(pops):
            mask = pops == pop
            key = str(pop) if str(pop) in self.forests_ else ALL
            risk[mask] = _calibrate(self._raw(key, F[mask]), self.calibration_[key])
        return risk

    def _raw(self, pop: str, F: np.ndarray) -> np.ndarray:
        """The forest's anomaly score (0..1) plus a tail term: −log10 of how rarely the
        population reached each input at least this high in training, summed. The forest
        sees combinations; the tail term sees values training never held (a forest cannot
        split on a column that was constant in training, such as a new country)."""
        F = np.maximum(F, self.floors_[pop])
        sorted_train = self.tails_[pop]
        n = len(sorted_train)
        tail = np.zeros(len(F))
        for j in range(F.shape[1]):
            above = n - np.searchsorted(sorted_train[:, j], F[:, j], side="left")
            p = (above + 1) / (n + 1)
            tail += np.where(F[:, j] > self.floors_[pop][j], -np.log10(p), 0.0)
        raw: np.ndarray = -self.forests_[pop].score_samples(F) + TAIL_WEIGHT * tail
        return raw

    # -- relative features ----------------------------------------------------------------------
    def _relative(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(model inputs, baselines in raw units) per row, in X's order."""
        self._check(X)
        self._fitted(partial=True)
        n = len(X)
        order = np.lexsort((X["window_start"].to_numpy(), X["gen_ai.request.model"].to_numpy(),
                            X["user.id"].to_numpy()))
        Xs = X.iloc[order].reset_index(drop=True)
        logs = np.log1p(Xs[VOLUME].clip(lower=0).astype(float))
        pair = Xs.groupby(["user.id", "gen_ai.request.model"], sort=False).ngroup().to_numpy()
        seen = Xs.groupby(pair, sort=False).cumcount().to_numpy()
        # fallbacks while the pair is young: the identity's, then the population's, then everyone's
        fb_med, fb_scale = self._fallback(Xs)
        # the trailing baseline over winsorised history: earlier spikes (beyond 3 robust spreads of
        # the identity's fitted baseline) do not drag it up
        history = np.minimum(logs.to_numpy(), fb_med + 3 * np.maximum(fb_scale, FLOORS))
        med_a, spread_a = _trailing(history, seen, self.history_windows)
        # a grant starts a new baseline for its pair: the approved usage is compared with itself
        granted = Xs["granted"].to_numpy(dtype=bool) if "granted" in Xs.columns else np.zeros(n, dtype=bool)
        young = (seen < self.min_history) & ~granted
        med_a[young] = fb_med[young]
        spread_a[young] = fb_scale[young]
        # few windows give a poor spread: never trust one below the identity's own
        spread_a = np.where((seen < self.min_history)[:, None], np.fmax(spread_a, fb_scale), spread_a)
        first_granted = granted & (seen == 0)
        med_a[first_granted] = logs.to_numpy()[first_granted]
        med_a = np.where(np.isnan(med_a), fb_med, med_a)
        # and up to the identity's usual level the granted model is expected to grow
        med_a[granted] = np.fmax(med_a[granted], fb_med[granted])
        spread_a = np.where(np.isnan(spread_a), fb_scale, spread_a)
        z = (logs.to_numpy() - med_a) / np.maximum(spread_a, FLOORS)
        z = np.clip(z, Z_LOW, 10.0)
        z = self._peer_correct(Xs, z)
        restricted = Xs["restricted_share"].to_numpy(dtype=float)
        r_base = np.nan_to_num(_trailing(restricted[:, None], seen, self.history_windows)[0][:, 0])
        flags = np.column_stack([
            Xs["first_seen_model"].to_numpy(dtype=float),
            np.minimum(Xs["new_countries"].to_numpy(dtype=float), 3.0),
            np.minimum(Xs["hour_distance"].to_numpy(dtype=float), 12.0),
            np.clip(restricted - r_base, 0.0, 1.0),
        ])
        F_sorted = np.column_stack([z, flags])
        base_sorted = np.expm1(med_a)
        F = np.empty_like(F_sorted)
        base = np.empty_like(base_sorted)
        F[order] = F_sorted
        base[order] = base_sorted
        assert F.shape == (n, len(RELATIVE))
        return F, base

    def _fallback(self, Xs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ident = self.identity_baselines_
        popb = self.population_baselines_
        glob = self.global_baseline_
        uid = Xs["user.id"].to_numpy()
        pops = self._populations(Xs)
        med = ident["median"].reindex(uid).to_numpy()
        scale = ident["scale"].reindex(uid).to_numpy()
        pmed = popb["median"].reindex(pops).to_numpy()
        pscale = popb["scale"].reindex(pops).to_numpy()
        gmed = np.broadcast_to(glob["median"].to_numpy()[0], med.shape)
        gscale = np.broadcast_to(glob["scale"].to_numpy()[0], scale.shape)
        med = np.where(np.isnan(med), np.where(np.isnan(pmed), gmed, pmed), med)
        scale = np.where(np.isnan(scale), np.where(np.isnan(pscale), gscale, pscale), scale)
        return med, scale

    def _peer_correct(self, Xs: pd.DataFrame, z: np.ndarray) -> np.ndarray:
        """Subtract the team's shared rise: the median over the team's identities (each at its
        largest z across models) in the same window, when at least `peer_min` are active."""
        if "team" not in Xs.columns:
            return z
        zf = pd.DataFrame(z, columns=VOLUME)
        zf["user.id"], zf["team"], zf["w"] = Xs["user.id"].to_numpy(), Xs["team"].to_numpy(), Xs["window_start"].to_numpy()
        per_id = zf.groupby(["team", "w", "user.id"], sort=False)[VOLUME].max()
        team = per_id.groupby(level=["team", "w"])
        shift = team.median().clip(lower=0.0)
        shift[team.size() < self.peer_min] = 0.0
        aligned = shift.reindex(pd.MultiIndex.from_arrays([zf["team"], zf["w"]])).to_numpy()
        out: np.ndarray = np.clip(z - np.nan_to_num(aligned), Z_LOW, 10.0)
        return out

    def _populations(self, X: pd.DataFrame) -> np.ndarray:
        col = self.population_column
        if col not in X.columns:
            raise InputError(f"population column {col!r} is missing from the feature frame", where="population")
        pops: np.ndarray = X[col].fillna("unknown").astype(str).to_numpy()
        return pops

    def _check(self, X: pd.DataFrame) -> None:
        missing = [c for c in ["user.id", "gen_ai.request.model", "window_start", *VOLUME, "first_seen_model",
                               "new_countries", "hour_distance", "restricted_share"] if c not in X.columns]
        if missing:
            raise InputError(f"feature frame lacks {', '.join(missing)}", where="features")

    def _fitted(self, partial: bool = False) -> None:
        needed = "identity_baselines_" if partial else "forests_"
        if not hasattr(self, needed):
            raise InputError("the baseline is not fitted: run fit first (siem-pack jobs fit-baselines)",
                             where="estimator")


def _trailing(values: np.ndarray, seen: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each row's previous `window` rows in its group (rows
    sorted by group then time; `seen` = the row's position in its group), by prefix sums:
    O(rows), whatever the window. NaN where there is no earlier row (std: fewer than two)."""
    n = len(values)
    k = np.arange(n)
    lo = np.maximum(k - window, k - seen)  # first earlier row inside the group and the window
    prefix = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    prefix2 = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values * values, axis=0)])
    count = (k - lo)[:, None].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (prefix[k] - prefix[lo]) / count
        var = ((prefix2[k] - prefix2[lo]) - count * mean * mean) / (count - 1)
        std = np.sqrt(np.clip(var, 0.0, None))
    std[count[:, 0] < 2] = np.nan
    return mean, std


def _inputs(R: np.ndarray) -> np.ndarray:
    """Relative features (z per volume feature, flags) → the forests' inputs."""
    col = {name: i for i, name in enumerate(VOLUME)}
    core = R[:, [col[f] for f in VOLUME_CORE]]
    spread = R[:, [col[f] for f in SPREAD]]
    # a dead zone on the rare counts: within one spread of the baseline is noise, and forests
    # isolate any non-zero value in a mostly-zero column
    failures = np.maximum(np.maximum(R[:, col["errors"]], R[:, col["denied"]]) - DEAD_ZONE, 0.0)
    dense = np.column_stack([core.mean(axis=1), core.max(axis=1), failures, spread.max(axis=1),
                             R[:, col["identity_models"]]])
    flags = R[:, len(VOLUME):].copy()
    flags[:, FLAGS.index("hour_distance")] = np.maximum(flags[:, FLAGS.index("hour_distance")] - 1.0, 0.0)
    return np.column_stack([dense, flags])


def _calibrate(raw: np.ndarray, knots: list[float]) -> np.ndarray:
    """Isolation-forest anomaly scores (0..1) → risk 0–100, comparable across populations:
    the population's training quantiles map to fixed risks (median → 50, 99th → 90, maximum
    → 97); above the maximum the risk rises linearly to 100 at the score's ceiling of 1."""
    xs = np.maximum.accumulate(np.array([*knots, max(1.0, knots[-1] + 1e-9)]))
    xs = xs + np.arange(len(xs)) * 1e-12  # strictly increasing for interp
    risk: np.ndarray = np.clip(np.interp(raw, xs, CALIBRATION_RISKS), 0.0, 100.0)
    return risk


def _robust(grouped: Any) -> pd.DataFrame:
    """Per group: median of log1p values and a robust spread (1.4826 × MAD), per volume feature."""
    med = grouped.median()
    keys = grouped.ngroup().to_numpy()
    mad = (grouped.obj - med.to_numpy()[keys]).abs().groupby(keys).median()
    mad.index = med.index
    return pd.concat({"median": med, "scale": (mad * 1.4826).clip(lower=SCALE_FLOOR)}, axis=1)
