"""`siem-pack schedule run --config FILE`: wraps siem_pack.baselines.scheduler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .options import parse_time


@click.group()
def schedule() -> None:
    """Run the baseline jobs on cron expressions in one process."""


@schedule.command()
@click.option("--config", "config", type=click.Path(path_type=Path), required=True, help="Schedule YAML.")
@click.option("--once", is_flag=True, help="Run the (selected) jobs once now and exit (for a Kubernetes CronJob).")
@click.option("--job", "only", multiple=True, help="Only this job (repeatable).")
@click.option("--until", default=None, help="Stop at this ISO-8601 time (UTC).")
def run(config: Path, once: bool, only: tuple[str, ...], until: str | None) -> None:
    """Run jobs when their cron expressions match (UTC). Each job's command is a `jobs`
    command (fit-baselines, score, refresh-content) with its options, run in this process. A
    lock file keeps runs from overlapping; SIEM_PACK_* variables fill options not given;
    SIGTERM stops cleanly after the current job. Each job run prints the job's report and one
    JSON line of its own; a summary line ends the output.

    \b
    Examples:
      siem-pack schedule run --config /etc/siem-pack/schedule.yml
      siem-pack schedule run --config schedule.yml --once --job score
    \b
    schedule.yml:
      lock_file: /var/lib/siem-pack/jobs.lock
      jobs:
        - {name: fit, cron: "0 2 * * 0", command: "jobs fit-baselines --db /data/siem-pack.duckdb"}
        - {name: score, cron: "5 * * * *", command: "jobs score --db /data/siem-pack.duckdb"}
    """
    from ..baselines import scheduler as lib

    sched = lib.load_schedule(config)
    summary = lib.run(sched, once=once, only=only, until=parse_time(until, "--until"), log=sys.stdout)
    click.echo(json.dumps(summary, sort_keys=True))


def register(group: click.Group) -> None:
    group.add_command(schedule)
