"""Stage 3, step 3: fitted baselines → signed, versioned artifacts on disk.

Input: a fitted `BaselineEstimator` (estimator.py) and what it was fitted on. Output: two
files per version in a models folder, `baseline-<version>.pkl` and `baseline-<version>.json`
(metadata: training window, features, populations, data hash, library versions, parameters,
quality figures, the pickle's SHA-256 and an HMAC-SHA256 over all of it). jobs.py loads the
newest for scoring; the signature is checked *before* anything is unpickled, so a tampered
file never reaches pickle.

The key comes from configuration: `SIEM_PACK_BASELINE_KEY` or `--key-file`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SiemPackError
from .estimator import MODEL_FEATURES, BaselineEstimator

KEY_ENV = "SIEM_PACK_BASELINE_KEY"
FORMAT = 1


class ArtifactError(SiemPackError):
    """A saved baseline cannot be trusted or used (bad signature, other features, missing)."""


def load_key(key_file: Path | None = None) -> bytes:
    """The signing key from `--key-file` or `SIEM_PACK_BASELINE_KEY` (never logged)."""
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the baseline key: {exc.strerror}", where="--key-file") from exc
    else:
        key = os.environ.get(KEY_ENV, "").encode()
    if len(key) < 16:
        raise ConfigError(f"no baseline signing key (at least 16 bytes): pass --key-file or set {KEY_ENV}",
                          where="--key-file")
    return key


def _versions() -> dict[str, str]:
    import duckdb
    import numpy
    import pandas
    import sklearn

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "duckdb": duckdb.__version__}


def _sign(key: bytes, meta: Mapping[str, Any]) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "signature"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def save(estimator: BaselineEstimator, models_dir: Path, key: bytes, *, training: Mapping[str, Any],
         data_hash: str, quality: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the artifact pair; returns the metadata (with `version` and `path`). `extra`
    adds signed fields (jobs.py stores the learnt content thresholds there)."""
    blob = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    version = f"{training['end'].replace(':', '').replace('-', '')}-{hashlib.sha256(blob).hexdigest()[:12]}"
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "training": dict(training),
        "features": list(estimator.feature_names_in_),
        "populations": list(estimator.populations_),
        "population_column": estimator.population_column,
        "thresholds": dict(estimator.thresholds_),
        "data_hash": data_hash,
        "libraries": _versions(),
        "parameters": estimator.get_params(),
        "quality": dict(quality),
        "pickle_sha256": hashlib.sha256(blob).hexdigest(),
        **dict(extra or {}),
    }
    meta["signature"] = _sign(key, meta)
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / f"baseline-{version}.pkl").write_bytes(blob)
    (models_dir / f"baseline-{version}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return {**meta, "path": str(models_dir / f"baseline-{version}.json")}


def latest(models_dir: Path) -> Path:
    """The newest artifact's metadata file (versions sort by training end)."""
    found = sorted(Path(models_dir).glob("baseline-*.json"))
    if not found:
        raise ArtifactError("no baseline artifact: run `siem-pack jobs fit-baselines` first", where=str(models_dir))
    return found[-1]


def read_metadata(meta_path: Path, key: bytes) -> dict[str, Any]:
    """The metadata, after checking its signature."""
    try:
        meta = json.loads(Path(meta_path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read the artifact metadata: {exc}", where=str(meta_path)) from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("signature"), str):
        raise ArtifactError("artifact metadata has no signature", where=str(meta_path))
    if not hmac.compare_digest(_sign(key, meta), meta["signature"]):
        raise ArtifactError("artifact signature does not match: tampered, or signed with another key",
                            where=str(meta_path))
    return meta


def load(meta_path: Path, key: bytes, features: Sequence[str] = MODEL_FEATURES) -> tuple[BaselineEstimator, dict[str, Any]]:
    """Verify (signature, pickle hash, feature list), then unpickle."""
    meta = read_metadata(meta_path, key)
    if list(meta.get("features", [])) != list(features):
        raise ArtifactError(f"artifact features {meta.get('features')} differ from this version's {list(features)}: "
                            "refit with `siem-pack jobs fit-baselines`", where=str(meta_path))
    pkl = Path(meta_path).with_suffix(".pkl")
    try:
        blob = pkl.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read the model file: {exc.strerror}", where=str(pkl)) from exc
    if not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), str(meta.get("pickle_sha256"))):
        raise ArtifactError("model file does not match its signed hash: tampered", where=str(pkl))
    est = pickle.loads(blob)  # noqa: S301 - verified above
    if not isinstance(est, BaselineEstimator):
        raise ArtifactError("model file holds no BaselineEstimator", where=str(pkl))
    return est, meta
