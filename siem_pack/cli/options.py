"""Options shared by every command that talks to a cluster, each also from SIEM_PACK_*."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..settings import OPTIONS, ClusterSettings


def cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --es-url, --kibana-url, --space, --api-key, --user, --password, --ca-certs,
    --insecure and --timeout; the command receives one `settings: ClusterSettings`."""
    opts = [
        click.option("--es-url", envvar=OPTIONS["es_url"], help="Elasticsearch URL [SIEM_PACK_ES_URL]."),
        click.option("--kibana-url", envvar=OPTIONS["kibana_url"], help="Kibana URL [SIEM_PACK_KIBANA_URL]."),
        click.option("--space", envvar=OPTIONS["space"], default="default", show_default=True,
                     help="Kibana space [SIEM_PACK_SPACE]."),
        click.option("--api-key", envvar=OPTIONS["api_key"], help="API key, encoded form [SIEM_PACK_API_KEY]."),
        click.option("--user", envvar=OPTIONS["user"], help="Basic-auth user [SIEM_PACK_USER]."),
        click.option("--password", envvar=OPTIONS["password"], help="Basic-auth password [SIEM_PACK_PASSWORD]."),
        click.option("--ca-certs", envvar=OPTIONS["ca_certs"], type=click.Path(path_type=Path),
                     help="CA bundle for TLS verification [SIEM_PACK_CA_CERTS]."),
        click.option("--insecure", envvar=OPTIONS["insecure"], is_flag=True,
                     help="Turn TLS verification off (not recommended) [SIEM_PACK_INSECURE]."),
        click.option("--timeout", envvar=OPTIONS["timeout"], type=float, default=30.0, show_default=True,
                     help="Request timeout in seconds [SIEM_PACK_TIMEOUT]."),
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, es_url: str | None, kibana_url: str | None, space: str, api_key: str | None,
                user: str | None, password: str | None, ca_certs: Path | None, insecure: bool, timeout: float,
                **kwargs: Any) -> Any:
        settings = ClusterSettings(es_url=es_url, kibana_url=kibana_url, space=space, api_key=api_key, user=user,
                                   password=password, ca_certs=ca_certs, insecure=insecure, timeout=timeout)
        return fn(*args, settings=settings, **kwargs)

    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)


def geoip_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--geoip-db: a folder of MaxMind databases or a CSV of networks (ingest, run, pipelines test)."""
    return click.option("--geoip-db", "geoip_db", type=click.Path(exists=True, path_type=Path),
                        envvar="SIEM_PACK_GEOIP_DB",
                        help="Folder of MaxMind .mmdb databases, or a CSV of networks (docs/geography.md) "
                             "[SIEM_PACK_GEOIP_DB].")(fn)


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", type=click.Path(path_type=Path), envvar="SIEM_PACK_DB", default=None,
                        help="Embedded DuckDB file [SIEM_PACK_DB; default ./siem-pack.duckdb].")(fn)


def parse_time(value: str | None, where: str) -> datetime | None:
    """An ISO-8601 option value (`--from`, `--to`) as naive UTC, or a one-line error naming the option."""
    from ..times import parse_ts

    if not value:
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise ConfigError(f"{value!r} is not an ISO-8601 time (2026-01-31T00:00:00Z)", where=where) from exc


def format_choices() -> list[str]:
    """`auto` and every name of the format registry (for --format)."""
    from ..ingest.formats import FORMATS

    return ["auto", *sorted(FORMATS)]
