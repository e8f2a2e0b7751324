"""`siem-pack jobs fit-baselines | score | refresh-content`: wraps siem_pack.baselines.jobs.
Each prints a one-line JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..backends.indices import ANOMALIES_INDEX, EVENTS_PATTERN
from ..settings import ClusterSettings
from .options import cluster_options, db_option, parse_time

if TYPE_CHECKING:
    from ..baselines import jobs as lib_t
    from ..baselines.features import IdentityContext

# kept here so `--help` does not import scikit-learn (siem_pack.baselines.jobs has the same)
POPULATIONS = ("team", "tier")


def _lib() -> Any:
    from ..baselines import jobs

    return jobs


def _key(key_file: Path | None) -> bytes:
    from ..baselines.artifacts import load_key

    return load_key(key_file)


def _window(text: str) -> int:
    from ..baselines.features import parse_window

    return parse_window(text)


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--models-dir", type=click.Path(path_type=Path), envvar="SIEM_PACK_MODELS_DIR",
                     default=Path("siem-pack-models"), show_default=True,
                     help="Folder of baseline artifacts [SIEM_PACK_MODELS_DIR]."),
        click.option("--key-file", type=click.Path(path_type=Path), default=None,
                     help="File holding the artifact signing key (else SIEM_PACK_BASELINE_KEY)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _source(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--index", default=EVENTS_PATTERN, show_default=True,
                     help="Event index pattern on the cluster (with --es-url)."),
        click.option("--context", "context_file", type=click.Path(path_type=Path), default=None,
                     help="YAML of identities' time zones, teams and grants (default: the inventory)."),
        click.option("--start", default=None, help="ISO-8601 start (UTC)."),
        click.option("--end", default=None, help="ISO-8601 end, exclusive (UTC; default now)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _ctx(path: Path | None) -> IdentityContext | None:
    from ..baselines.features import IdentityContext

    return IdentityContext.from_file(path) if path else None


def _src(settings: ClusterSettings, db: Path | None, index: str) -> lib_t.Source:
    source: lib_t.Source = _lib().Source(db=db, settings=settings if settings.has_cluster else None, index=index)
    return source


def _print(report: dict[str, Any]) -> None:
    click.echo(json.dumps(report, sort_keys=True, default=str))


@click.group()
def jobs() -> None:
    """Baseline jobs: fit isolation forests, score windows into anomaly events, render
    templates with learnt thresholds. Each prints a one-line JSON report."""


@jobs.command("fit-baselines")
@cluster_options
@db_option
@_common
@_source
@click.option("--window", default="1h", show_default=True, help="Window length (30m, 1h, 1d).")
@click.option("--days", type=int, default=14, show_default=True, help="Training days when --start is not given.")
@click.option("--population", type=click.Choice(list(POPULATIONS)), default="tier", show_default=True,
              help="Fit one forest per model tier or per team.")
def fit_baselines(settings: ClusterSettings, db: Path | None, models_dir: Path, key_file: Path | None,
                  index: str, context_file: Path | None, start: str | None, end: str | None, window: str,
                  days: int, population: str) -> None:
    """Compute features over the training period, fit, and save a signed artifact.

    \b
    Examples:
      SIEM_PACK_BASELINE_KEY=... siem-pack jobs fit-baselines --db siem-pack.duckdb --days 14
      siem-pack jobs fit-baselines --es-url https://es:9200 --api-key "$KEY" --key-file /run/secrets/baseline.key
    """
    _print(_lib().fit_baselines(_src(settings, db, index), models_dir, _key(key_file),
                             start=parse_time(start, "--start"), end=parse_time(end, "--end"),
                             window_seconds=_window(window), population=population, context=_ctx(context_file),
                             days=days))


@jobs.command()
@cluster_options
@db_option
@_common
@_source
@click.option("--anomalies-index", default=ANOMALIES_INDEX, show_default=True,
              help="Index for anomaly events (with --es-url).")
@click.option("--only-anomalous", is_flag=True, help="Write only windows at or above their threshold.")
def score(settings: ClusterSettings, db: Path | None, models_dir: Path, key_file: Path | None, index: str,
          context_file: Path | None, start: str | None, end: str | None, anomalies_index: str,
          only_anomalous: bool) -> None:
    """Score the windows after the newest artifact's training period and write anomaly
    events (create-only: a re-run stores nothing twice).

    \b
    Examples:
      siem-pack jobs score --db siem-pack.duckdb
      siem-pack jobs score --es-url https://es:9200 --api-key "$KEY" --start 2026-03-01T00:00:00Z
    """
    _print(_lib().score(_src(settings, db, index), models_dir, _key(key_file),
                     start=parse_time(start, "--start"), end=parse_time(end, "--end"),
                     context=_ctx(context_file), anomalies_index=anomalies_index, only_anomalous=only_anomalous))


@jobs.command("refresh-content")
@_common
@click.option("--dashboards-out", type=click.Path(path_type=Path), default=None,
              help="Write rendered dashboard specs here (default: the dashboards/ content folder).")
def refresh_content(models_dir: Path, key_file: Path | None, dashboards_out: Path | None) -> None:
    """Render the rule and dashboard templates with the newest artifact's thresholds.

    \b
    Example:
      siem-pack jobs refresh-content --models-dir /var/lib/siem-pack/models
    """
    _print(_lib().refresh_content(models_dir, _key(key_file), dashboards_out=dashboards_out))


def register(group: click.Group) -> None:
    group.add_command(jobs)
