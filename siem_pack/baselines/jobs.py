"""Stage 3, step 4: the baseline jobs, as library functions the CLI (siem_pack.cli.jobs) and
the scheduler (scheduler.py) call.

- `fit_baselines`: events → features (features.py, in DuckDB or Elasticsearch) → fitted
  estimator (estimator.py) → signed artifact (artifacts.py), with the content thresholds
  (rule and dashboard template values) learnt from the same frame.
- `score`: the newest artifact scores the windows after its training period and writes
  anomaly events (create-only, idempotent ids) to the DuckDB `anomalies` table or the
  `siem-pack-anomalies` index, where detection rules (siem_pack.detect) read them.
- `refresh_content`: renders the rule templates (siem_pack.detect.rules.render_templates)
  and dashboard templates (siem_pack.dashboards.render_templates) with learnt thresholds.

Each returns a flat report dict; the CLI prints it as one line of JSON.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..backends import es
from ..backends.duckdb import Store
from ..backends.indices import ANOMALIES_INDEX, EVENTS_PATTERN
from ..cluster import es_client, translated
from ..errors import ConfigError
from ..schema import load_schema
from ..settings import ClusterSettings
from ..times import format_ts, utcnow
from . import artifacts, shapes
from .estimator import BaselineEstimator
from .features import (
    AGGREGATES,
    KEYS,
    LISTS,
    FeatureFrameSpec,
    IdentityContext,
    derive,
    features_duckdb,
    features_es,
)

POPULATIONS = {"tier": "siem_pack.model.tier", "team": "team"}
UNSUPPORTED_ON_TEST_NODE = frozenset({"match_only_text", "wildcard", "constant_keyword"})


@dataclass(frozen=True)
class Source:
    """Where events are: the embedded store (`db`) or a cluster (`settings` + `index`)."""

    db: Path | None = None
    settings: ClusterSettings | None = None
    index: str = EVENTS_PATTERN

    @property
    def on_cluster(self) -> bool:
        return self.settings is not None and self.settings.has_cluster

    def base_frame(self, spec: FeatureFrameSpec) -> pd.DataFrame:
        if self.on_cluster:
            assert self.settings is not None
            client = es_client(self.settings)
            with translated(self.settings.require_es()):
                return features_es(client, self.index, spec)
        with Store(self.db) as store:
            return features_duckdb(store, spec)


def with_population(frame: pd.DataFrame, context: IdentityContext) -> pd.DataFrame:
    """Add `team` (from the context; 'unassigned' when unknown) for team populations and peers."""
    out = frame.copy()
    out["team"] = out["user.id"].map(dict(context.teams)).fillna("unassigned")
    return out


def data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the base frame's content (order-independent of how it was computed)."""
    flat = frame[[*KEYS, *AGGREGATES]].copy()
    for col in LISTS:
        flat[col] = frame[col].map(",".join)
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(flat, index=False).to_numpy().tobytes())
    return h.hexdigest()


def content_thresholds(frame: pd.DataFrame, window_seconds: int, quantile: float = 0.999) -> dict[str, int]:
    """Values for the rule templates, learnt from the training frame (a high quantile of the
    per-window figure, with 50 % headroom). requests_per_15m_max is the high quantile of the
    per-window count itself, unscaled: a burst means more calls in 15 minutes than an identity
    makes in a busy window, so agents and tools that call in short bursts all day (and whose
    windows the quantile has seen) stay under it."""
    if frame.empty:
        return {}

    def q(col: str) -> float:
        return float(np.quantile(frame[col].to_numpy(dtype=float), quantile))

    return {
        "input_tokens_max": math.ceil(q("input_tokens_max") * 1.5),
        "output_tokens_max": math.ceil(q("output_tokens_max") * 1.5),
        "response_bytes_max": math.ceil(q("response_bytes_max") * 1.5),
        "requests_per_15m_max": max(1, math.ceil(q("requests") * max(1.0, 900 / window_seconds))),
    }


def _floor(dt: datetime, seconds: int) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + timedelta(seconds=int((dt - epoch).total_seconds()) // seconds * seconds)


def fit_baselines(source: Source, models_dir: Path, key: bytes, *, start: datetime | None = None,
                  end: datetime | None = None, window_seconds: int = 3600, population: str = "tier",
                  context: IdentityContext | None = None, days: int = 14,
                  estimator: BaselineEstimator | None = None) -> dict[str, Any]:
    """Fit on [start, end) (default: the `days` complete days before now) and save an artifact."""
    if population not in POPULATIONS:
        raise ConfigError(f"unknown population {population!r}; known: {', '.join(POPULATIONS)}", where="--population")
    end = _floor(end or utcnow(), window_seconds)
    start = start or end - timedelta(days=days)
    spec = FeatureFrameSpec(start, end, window_seconds)
    ctx = context or IdentityContext.from_inventory()
    base = source.base_frame(spec)
    if len(base) < 50:
        raise ConfigError(f"only {len(base)} (identity, model, window) rows in {start.isoformat()}..{end.isoformat()}: "
                          "too little history to fit a baseline", where="--start/--end")
    frame = with_population(derive(base, ctx), ctx)
    est = estimator or BaselineEstimator(population_column=POPULATIONS[population])
    est.fit(frame)
    risk = est.risk_score(frame)
    quality = {
        "training_rows": int(len(frame)),
        "identities": int(frame["user.id"].nunique()),
        "models": int(frame["gen_ai.request.model"].nunique()),
        "risk_p50": round(float(np.quantile(risk, 0.5)), 2),
        "risk_p99": round(float(np.quantile(risk, 0.99)), 2),
        "anomalous_share": round(float(np.mean(risk >= np.array([est.threshold_for(p) for p in est.population_of(frame)]))), 4),
    }
    training = {"start": start.isoformat(), "end": end.isoformat(), "window_seconds": window_seconds,
                "population": population, "source": "elasticsearch" if source.on_cluster else "duckdb"}
    meta = artifacts.save(est, models_dir, key, training=training, data_hash=data_hash(base), quality=quality,
                          extra={"content_thresholds": content_thresholds(base, window_seconds)})
    meta_path = Path(meta["path"])
    return {"job": "fit-baselines", "version": meta["version"], "artifact": str(meta_path), "rows": len(frame),
            "populations": meta["populations"], "thresholds": {k: round(v, 2) for k, v in est.thresholds_.items()},
            "training_start": start.isoformat(), "training_end": end.isoformat(), **quality}


def anomaly_id(version: str, population: str, user: str, model: str, window_start: datetime) -> str:
    raw = "\x1f".join([version, population, user, model, window_start.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def history_windows(frame: pd.DataFrame) -> np.ndarray:
    """Per row: the identity's active windows before this one (any model)."""
    ranks = frame.groupby("user.id")["window_start"].rank(method="dense").to_numpy()
    out: np.ndarray = ranks.astype("int64") - 1
    return out


def anomaly_docs(frame: pd.DataFrame, risk: np.ndarray, explanations: list[list[Any]], est: BaselineEstimator,
                 version: str, window_seconds: int, history: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Anomaly events (docs/anomalies.md): one per scored (identity, model, window).
    `history`: per row, the identity's earlier active windows; an identity with fewer than
    the estimator's `min_history` is not `established` (its windows are judged against
    fallbacks, so its anomalies are for hunting, not alerting)."""
    pops = est.population_of(frame)
    hist = history if history is not None else history_windows(frame)
    docs = []
    feature_cols = [c for c in frame.columns if c in AGGREGATES or c in
                    ("first_seen_model", "granted", "new_countries", "new_networks", "local_hour", "hour_distance", "identity_models",
                     "restricted_share")]
    for i, row in enumerate(frame.itertuples(index=False)):
        rec = dict(zip(frame.columns, row, strict=True))
        ws: datetime = pd.Timestamp(rec["window_start"]).to_pydatetime()
        we = ws + timedelta(seconds=window_seconds)
        pop = str(pops[i])
        threshold = est.threshold_for(pop)
        ex = explanations[i]
        docs.append({
            "@timestamp": format_ts(we, "auto"),
            "event": {"id": anomaly_id(version, pop, rec["user.id"], rec["gen_ai.request.model"], ws),
                      "kind": "event", "dataset": "siem_pack.anomaly", "module": "siem_pack",
                      "category": ["threat"], "type": ["info"]},
            "user": {"id": rec["user.id"]},
            "gen_ai": {"request": {"model": rec["gen_ai.request.model"]}},
            "siem_pack": {
                "model": {"tier": rec["siem_pack.model.tier"]},
                "anomaly": {
                    "risk_score": round(float(risk[i]), 2),
                    "threshold": round(threshold, 2),
                    "is_anomalous": bool(risk[i] >= threshold),
                    "established": bool(hist[i] >= est.min_history),
                    "population": pop,
                    "model_version": version,
                    "window": {"start": format_ts(ws, "auto"), "end": format_ts(we, "auto")},
                    "top_features": [e.feature for e in ex],
                    "explanation": [e.text() for e in ex],
                    "features": {c: _plain(rec[c]) for c in feature_cols},
                },
            },
        })
    return docs


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return round(float(v), 4)
    return v


def score(source: Source, models_dir: Path, key: bytes, *, start: datetime | None = None, end: datetime | None = None,
          context: IdentityContext | None = None, anomalies_index: str = ANOMALIES_INDEX,
          only_anomalous: bool = False, artifact: Path | None = None) -> dict[str, Any]:
    """Score complete windows in [start, end) that lie after the artifact's training period
    and write anomaly events (create-only: a re-run stores nothing new)."""
    meta_path = artifact or artifacts.latest(models_dir)
    est, meta = artifacts.load(meta_path, key)
    tr = meta["training"]
    window = int(tr["window_seconds"])
    train_start, train_end = datetime.fromisoformat(tr["start"]), datetime.fromisoformat(tr["end"])
    end = _floor(end or utcnow(), window)
    start = max(start or train_end, train_end)
    if end <= start:
        return {"job": "score", "version": meta["version"], "scored": 0, "anomalous": 0, "stored": 0,
                "already_present": 0, "note": f"nothing after the training period ({train_end.isoformat()})"}
    ctx = context or IdentityContext.from_inventory()
    # history from the training start, so trailing baselines and first-seen flags hold
    base = source.base_frame(FeatureFrameSpec(train_start, end, window))
    frame = with_population(derive(base, ctx), ctx)
    mask = (frame["window_start"] >= pd.Timestamp(start)).to_numpy()
    r, ex = est.risk_and_explain(frame, rows=mask)
    scored = frame[mask].reset_index(drop=True)
    docs = anomaly_docs(scored, r, ex, est, meta["version"], window, history=history_windows(frame)[mask])
    anomalous = sum(1 for d in docs if d["siem_pack"]["anomaly"]["is_anomalous"])
    # the shapes one window of one identity cannot show (siem_pack.baselines.shapes)
    iw = shapes.identity_windows(frame, mask) if mask.any() else None
    found = {"cohort": shapes.cohort_docs(frame, mask, ctx.teams, meta["version"], window),
             "exfiltration": shapes.exfiltration_docs(frame, mask, meta["version"], window, windows=iw),
             "burst": shapes.burst_docs(frame, mask, meta["version"], window, windows=iw)}
    for extra in found.values():
        docs += extra
    if only_anomalous:
        docs = [d for d in docs if d["siem_pack"]["anomaly"]["is_anomalous"]]
    stored, present = write_anomalies(source, docs, anomalies_index)
    return {"job": "score", "version": meta["version"], "start": start.isoformat(), "end": end.isoformat(),
            "scored": int(mask.sum()), "anomalous": anomalous, "shapes": {k: len(v) for k, v in found.items()},
            "stored": stored, "already_present": present}


def write_anomalies(source: Source, docs: list[dict[str, Any]], index: str = ANOMALIES_INDEX) -> tuple[int, int]:
    """Create-only by event.id, to the `anomalies` table or the anomalies index."""
    if not docs:
        return 0, 0
    if not source.on_cluster:
        with Store(source.db) as store:
            return store.write_docs("anomalies", docs)
    assert source.settings is not None
    client = es_client(source.settings)
    with translated(source.settings.require_es()):
        props = load_schema().es_properties(UNSUPPORTED_ON_TEST_NODE)
        es.ensure_index(client, index, {"mappings": {"properties": props}})
        written = es.write(client, index, docs, id_of="event.id", refresh="wait_for")
    if written.refused:
        raise ConfigError(f"cannot write an anomaly: {written.refused[0].error}", where=index)
    return written.stored, written.present


def refresh_content(models_dir: Path, key: bytes, *, dashboards_out: Path | None = None,
                    artifact: Path | None = None) -> dict[str, Any]:
    """Render rule and dashboard templates with the newest artifact's thresholds. Parts whose
    renderer is not installed are reported as skipped, never silently."""
    meta = artifacts.read_metadata(artifact or artifacts.latest(models_dir), key)
    rendered: dict[str, Any] = {}
    skipped: list[str] = []
    try:
        from ..detect.rules import render_templates as render_rules
    except ImportError as exc:
        skipped.append(f"rules ({exc})")
    else:
        rules = render_rules(meta.get("content_thresholds") or {})
        rendered["rules"] = sorted(r.rule_id for r in rules)
    pops: dict[str, float] = {k: round(float(v), 2) for k, v in meta.get("thresholds", {}).items()}
    dash_thresholds = {("default" if k == "__all__" else k): v for k, v in pops.items()}
    try:
        from ..dashboards import render_templates as render_dashboards
    except ImportError as exc:
        skipped.append(f"dashboards ({exc})")
    else:
        if dashboards_out is not None:
            dashboards_out.mkdir(parents=True, exist_ok=True)
            paths = render_dashboards(dash_thresholds, out_dir=dashboards_out)
        else:
            paths = render_dashboards(dash_thresholds)
        rendered["dashboards"] = [str(p) for p in paths]
    return {"job": "refresh-content", "version": meta["version"], "thresholds": dash_thresholds,
            "content_thresholds": meta.get("content_thresholds", {}),
            "rules": len(rendered.get("rules", [])), "dashboards": rendered.get("dashboards", []), "skipped": skipped}

