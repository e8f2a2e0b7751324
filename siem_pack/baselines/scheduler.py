"""Stage 3, step 5: run the jobs unattended. One process reads a YAML config of named jobs,
each a cron expression and a `siem-pack` command line (usually `jobs fit-baselines`,
`jobs score`, `jobs refresh-content`), and runs them in-process when due.

- cron: five fields (minute hour day-of-month month day-of-week), with `*`, lists, ranges
  and steps (`*/15`, `1-5`, `0,30`); day-of-month and day-of-week combine as cron does (either
  matches when both are restricted). Times are UTC.
- a lock file (`flock`) is held while a job runs, so two schedulers (or a scheduler and a
  Kubernetes CronJob) never run jobs at the same time; a run that finds it held is skipped
  and reported.
- SIGTERM/SIGINT: the current job finishes, then the loop stops cleanly (exit 0).
- `once=True` runs every configured job (or the named ones) now and returns; `until` stops
  the loop at a time. Both make the scheduler testable.

Neighbours: jobs.py (what runs), siem_pack.cli.schedule (the command).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from ..errors import ConfigError, SiemPackError

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 folds to 0)
    dom_any: bool
    dow_any: bool

    @classmethod
    def parse(cls, text: str, where: str = "cron") -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ConfigError(f"cron {text!r} needs 5 fields (minute hour day month weekday), got {len(parts)}",
                              where=where)
        sets = [_field(p, name, lo, hi, where) for p, (name, lo, hi) in zip(parts, FIELDS, strict=True)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        return cls(text, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")

    def matches(self, t: datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.dom_any or self.dow_any:
            return dom and dow
        return dom or dow

    def next_after(self, t: datetime) -> datetime:
        """The first matching minute strictly after `t` (searches up to ~4 years)."""
        cand = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366 * 4):
            if self.matches(cand):
                return cand
            cand += timedelta(minutes=1)
        raise ConfigError(f"cron {self.text!r} never matches", where="cron")


def _field(text: str, name: str, lo: int, hi: int, where: str) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        base, _, step_s = item.partition("/")
        try:
            step = int(step_s) if step_s else 1
            if base == "*":
                a, b = lo, hi
            elif "-" in base:
                a_s, b_s = base.split("-", 1)
                a, b = int(a_s), int(b_s)
            else:
                a = int(base)
                b = hi if step_s else a
        except ValueError as exc:
            raise ConfigError(f"cron {name} field {text!r} is not a number, range, list or step", where=where) from exc
        if step < 1 or a < lo or b > hi or a > b:
            raise ConfigError(f"cron {name} field {text!r} out of range {lo}-{hi}", where=where)
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Job:
    name: str
    cron: Cron
    args: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    jobs: tuple[Job, ...]
    lock_file: Path


def load_schedule(path: Path) -> Schedule:
    """`lock_file: PATH` and `jobs: [{name, cron, command}]` (command: a list or a string of
    `siem-pack` arguments, e.g. `jobs score --db /data/siem-pack.duckdb`)."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the schedule: {exc}", where=where) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), list) or not raw["jobs"]:
        raise ConfigError("the schedule needs a non-empty `jobs:` list", where=where)
    jobs = []
    seen: set[str] = set()
    for i, spec in enumerate(raw["jobs"]):
        w = f"{where}: jobs[{i}]"
        if not isinstance(spec, dict) or not {"name", "cron", "command"} <= set(spec):
            raise ConfigError("each job needs name, cron and command", where=w)
        name = str(spec["name"])
        if name in seen:
            raise ConfigError(f"job name {name!r} is used twice", where=w)
        seen.add(name)
        cmd = spec["command"]
        args = tuple(shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd])
        if args and args[0] == "siem-pack":
            args = args[1:]
        if not args:
            raise ConfigError("empty command", where=w)
        jobs.append(Job(name, Cron.parse(str(spec["cron"]), w), args))
    lock = Path(raw.get("lock_file") or Path(path).with_suffix(".lock"))
    return Schedule(tuple(jobs), lock)


@contextmanager
def job_lock(path: Path) -> Iterator[bool]:
    """Yield True while holding the lock, False when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_job(job: Job, schedule: Schedule) -> dict[str, Any]:
    """Run one job in this process (the `siem-pack` command line), under the lock."""
    from ..cli import main

    started = time.monotonic()
    with job_lock(schedule.lock_file) as held:
        if not held:
            return {"job": job.name, "status": "skipped", "reason": f"lock held: {schedule.lock_file}"}
        try:  # standalone_mode=False: click returns the exit code instead of exiting
            rc = main.main(list(job.args), prog_name="siem-pack", standalone_mode=False)
            status, reason = ("ok", "") if not rc else ("failed", f"exit {rc}")
        except SiemPackError as exc:
            status, reason = "failed", str(exc)
        except SystemExit as exc:  # click's ctx.exit from the error handler
            status, reason = ("ok", "") if not exc.code else ("failed", f"exit {exc.code}")
        except Exception as exc:  # one job's fault must not stop the scheduler
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
    out = {"job": job.name, "status": status, "seconds": round(time.monotonic() - started, 3)}
    if reason:
        out["reason"] = reason
    return out


class _Stop:
    def __init__(self) -> None:
        self.requested: str | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.requested = signal.Signals(signum).name


def run(schedule: Schedule, *, once: bool = False, only: Sequence[str] = (), until: datetime | None = None,
        log: TextIO | None = None, clock: Callable[[], datetime] = datetime.utcnow,
        sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The scheduler loop. Each job report is written to `log` as one JSON line; returns a
    summary. SIGTERM/SIGINT stop it after the current job."""
    jobs = [j for j in schedule.jobs if not only or j.name in only]
    unknown = set(only) - {j.name for j in schedule.jobs}
    if unknown:
        raise ConfigError(f"no job named {', '.join(sorted(unknown))}; known: {', '.join(j.name for j in schedule.jobs)}",
                          where="--job")
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    runs: list[dict[str, Any]] = []

    def emit(rep: dict[str, Any]) -> None:
        runs.append(rep)
        if log is not None:
            log.write(json.dumps(rep, sort_keys=True) + "\n")
            log.flush()

    try:
        if once:
            for job in jobs:
                if stop.requested:
                    break
                emit(run_job(job, schedule))
        else:
            last = clock().replace(second=0, microsecond=0) - timedelta(minutes=1)
            while not stop.requested:
                now = clock()
                if until is not None and now >= until:
                    break
                minute = now.replace(second=0, microsecond=0)
                if minute > last:
                    last = minute
                    for job in jobs:
                        if stop.requested:
                            break
                        if job.cron.matches(minute):
                            emit(run_job(job, schedule))
                # wake at the next minute, in short naps so a signal is seen promptly
                nxt = minute + timedelta(minutes=1)
                if until is not None:
                    nxt = min(nxt, until)
                sleep(max(0.0, min(1.0, (nxt - clock()).total_seconds())))
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return {"scheduler": "stopped", "reason": stop.requested or ("once" if once else "until"), "runs": len(runs),
            "failed": sum(1 for r in runs if r["status"] == "failed"),
            "skipped": sum(1 for r in runs if r["status"] == "skipped")}
