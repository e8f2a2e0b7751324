"""Stage 3, step 5: run the jobs unattended. One process reads a YAML config of named jobs,
each a cron expression and a `siem-pack jobs` command line (`jobs fit-baselines`, `jobs score`,
`jobs refresh-content`, with that command's options), and runs them in-process when due.

- `JOBS` is the registry: job name → the library function it runs (calling jobs.py) and the
  options it takes, parsed when the schedule loads (an unknown job or option is an error
  then) and read when the job runs as the command reads them (an option not given comes from
  its `SIEM_PACK_*` variable, else its default). Each run writes the job's report, the JSON
  line the command prints, then the run's own line.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml

from ..backends.indices import ANOMALIES_INDEX, EVENTS_PATTERN
from ..errors import ConfigError, SiemPackError
from ..settings import OPTIONS, ClusterSettings
from ..times import parse_ts, utcnow
from . import jobs
from .artifacts import load_key
from .features import IdentityContext, parse_window

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


# -- the jobs: name → the library function it runs ------------------------------------------------
Options = Mapping[str, str | bool]  # "--db" → "/data/siem-pack.duckdb", "--only-anomalous" → True
# options that also come from a variable, as `siem-pack jobs ...` reads them
ENV = {"--db": "SIEM_PACK_DB", "--models-dir": "SIEM_PACK_MODELS_DIR",
       **{"--" + name.replace("_", "-"): var for name, var in OPTIONS.items()}}
_TRUE, _FALSE = frozenset({"1", "true", "t", "yes", "y", "on"}), frozenset({"0", "false", "f", "no", "n", "off"})
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class JobOptions:
    """A job's options from the schedule; an option not given is read from its variable (ENV),
    else it takes the command's default. Bad values are ConfigErrors naming the option."""

    values: Options

    def get(self, option: str) -> str | None:
        value = self.values.get(option)
        return value if isinstance(value, str) else os.environ.get(ENV.get(option, "")) or None

    def text(self, option: str, default: str) -> str:
        return self.get(option) or default

    def path(self, option: str) -> Path | None:
        value = self.get(option)
        return Path(value) if value else None

    def flag(self, option: str) -> bool:
        if self.values.get(option) is True:
            return True
        value = os.environ.get(ENV.get(option, ""), "").strip().lower()
        if value and value not in _TRUE | _FALSE:
            raise ConfigError(f"{ENV[option]}={value!r} is not a boolean", where=option)
        return value in _TRUE

    def number(self, option: str, kind: type[N], default: N) -> N:
        value = self.get(option)
        try:
            return kind(value) if value is not None else default
        except ValueError as exc:
            raise ConfigError(f"{value!r} is not {'an integer' if kind is int else 'a number'}", where=option) from exc

    def time(self, option: str) -> datetime | None:
        value = self.get(option)
        try:
            return parse_ts(value) if value else None
        except ValueError as exc:
            raise ConfigError(f"{value!r} is not an ISO-8601 time (2026-01-31T00:00:00Z)", where=option) from exc


def _settings(o: JobOptions) -> ClusterSettings:
    return ClusterSettings(es_url=o.get("--es-url"), kibana_url=o.get("--kibana-url"), space=o.text("--space", "default"),
                           api_key=o.get("--api-key"), user=o.get("--user"), password=o.get("--password"),
                           ca_certs=o.path("--ca-certs"), insecure=o.flag("--insecure"),
                           timeout=o.number("--timeout", float, 30.0))


def _source(o: JobOptions) -> jobs.Source:
    settings = _settings(o)
    return jobs.Source(db=o.path("--db"), settings=settings if settings.has_cluster else None,
                       index=o.text("--index", EVENTS_PATTERN))


def _models_dir(o: JobOptions) -> Path:
    return Path(o.text("--models-dir", "siem-pack-models"))


def _context(o: JobOptions) -> IdentityContext | None:
    path = o.path("--context")
    return IdentityContext.from_file(path) if path else None


def fit_baselines(o: JobOptions) -> dict[str, Any]:
    """`jobs fit-baselines`: jobs.fit_baselines, with the command's options."""
    return jobs.fit_baselines(_source(o), _models_dir(o), load_key(o.path("--key-file")),
                              start=o.time("--start"), end=o.time("--end"),
                              window_seconds=parse_window(o.text("--window", "1h")),
                              population=o.text("--population", "tier"), context=_context(o),
                              days=o.number("--days", int, 14))


def score(o: JobOptions) -> dict[str, Any]:
    """`jobs score`: jobs.score, with the command's options."""
    return jobs.score(_source(o), _models_dir(o), load_key(o.path("--key-file")), start=o.time("--start"),
                      end=o.time("--end"), context=_context(o),
                      anomalies_index=o.text("--anomalies-index", ANOMALIES_INDEX),
                      only_anomalous=o.flag("--only-anomalous"))


def refresh_content(o: JobOptions) -> dict[str, Any]:
    """`jobs refresh-content`: jobs.refresh_content, with the command's options."""
    return jobs.refresh_content(_models_dir(o), load_key(o.path("--key-file")), dashboards_out=o.path("--dashboards-out"))


@dataclass(frozen=True)
class JobKind:
    """What a job runs (a library function, called in this process) and the options of its
    `siem-pack jobs` command it takes (True: a flag, which takes no value; the test suite
    holds them equal to the command's)."""

    run: Callable[[JobOptions], dict[str, Any]]
    options: Mapping[str, bool]


_COMMON = {"--models-dir": False, "--key-file": False}
_SOURCE = {"--db": False, "--index": False, "--context": False, "--start": False, "--end": False,
           **{"--" + name.replace("_", "-"): name == "insecure" for name in OPTIONS}}
JOBS: dict[str, JobKind] = {
    "fit-baselines": JobKind(fit_baselines, {**_COMMON, **_SOURCE, "--window": False, "--days": False,
                                             "--population": False}),
    "score": JobKind(score, {**_COMMON, **_SOURCE, "--anomalies-index": False, "--only-anomalous": True}),
    "refresh-content": JobKind(refresh_content, {**_COMMON, "--dashboards-out": False}),
}


def parse_command(args: Sequence[str], where: str) -> tuple[str, dict[str, str | bool]]:
    """`jobs NAME [--option value | --option=value | --flag]...` → (NAME, options)."""
    if len(args) < 2 or args[0] != "jobs" or args[1] not in JOBS:
        raise ConfigError(f"{shlex.join(args)!r} is not a job; known: {', '.join('jobs ' + n for n in sorted(JOBS))}",
                          where=where)
    name, known = args[1], JOBS[args[1]].options
    options: dict[str, str | bool] = {}
    rest = list(args[2:])
    while rest:
        option, eq, value = rest.pop(0).partition("=")
        if option not in known:
            raise ConfigError(f"jobs {name}: no option {option!r}; known: {', '.join(sorted(known))}", where=where)
        if known[option]:
            if eq:
                raise ConfigError(f"jobs {name}: {option} is a flag and takes no value", where=where)
            options[option] = True
        elif eq:
            options[option] = value
        elif rest and not rest[0].startswith("--"):
            options[option] = rest.pop(0)
        else:
            raise ConfigError(f"jobs {name}: {option} needs a value", where=where)
    return name, options


# -- the schedule ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    name: str
    cron: Cron
    args: tuple[str, ...]  # the command as written, without a leading `siem-pack`
    kind: str  # the JOBS entry it runs
    options: Options


@dataclass(frozen=True)
class Schedule:
    jobs: tuple[Job, ...]
    lock_file: Path


def load_schedule(path: Path) -> Schedule:
    """`lock_file: PATH` and `jobs: [{name, cron, command}]` (command: a list or a string of
    `siem-pack` arguments naming a job of JOBS, e.g. `jobs score --db /data/siem-pack.duckdb`)."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the schedule: {exc}", where=where) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), list) or not raw["jobs"]:
        raise ConfigError("the schedule needs a non-empty `jobs:` list", where=where)
    loaded: list[Job] = []
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
        kind, options = parse_command(args, w)
        loaded.append(Job(name, Cron.parse(str(spec["cron"]), w), args, kind, options))
    lock = Path(raw.get("lock_file") or Path(path).with_suffix(".lock"))
    return Schedule(tuple(loaded), lock)


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


def run_job(job: Job, schedule: Schedule, log: TextIO | None = None) -> dict[str, Any]:
    """Run one job in this process, under the lock: its JOBS function, called directly. The job's
    report goes to `log` as one JSON line, as `siem-pack jobs NAME` prints it."""
    started = time.monotonic()
    with job_lock(schedule.lock_file) as held:
        if not held:
            return {"job": job.name, "status": "skipped", "reason": f"lock held: {schedule.lock_file}"}
        try:
            report = JOBS[job.kind].run(JobOptions(job.options))
            status, reason = "ok", ""
        except SiemPackError as exc:
            status, reason = "failed", str(exc)
        except Exception as exc:  # one job's fault must not stop the scheduler
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
        else:
            if log is not None:
                log.write(json.dumps(report, sort_keys=True, default=str) + "\n")
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
        log: TextIO | None = None, clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The scheduler loop. Each job report is written to `log` as one JSON line; returns a
    summary. SIGTERM/SIGINT stop it after the current job."""
    jobs = _selected(schedule, only)
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    runs: list[dict[str, Any]] = []

    def emit(job: Job) -> None:
        rep = run_job(job, schedule, log)
        runs.append(rep)
        if log is not None:
            log.write(json.dumps(rep, sort_keys=True) + "\n")
            log.flush()

    try:
        if once:
            for job in jobs:
                if stop.requested:
                    break
                emit(job)
        else:
            _every_minute(jobs, emit, stop, until, clock, sleep)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return {"scheduler": "stopped", "reason": stop.requested or ("once" if once else "until"), "runs": len(runs),
            "failed": sum(1 for r in runs if r["status"] == "failed"),
            "skipped": sum(1 for r in runs if r["status"] == "skipped")}


def _selected(schedule: Schedule, only: Sequence[str]) -> list[Job]:
    """The jobs `only` names (all without it); an unknown name is a ConfigError."""
    unknown = set(only) - {j.name for j in schedule.jobs}
    if unknown:
        raise ConfigError(f"no job named {', '.join(sorted(unknown))}; known: {', '.join(j.name for j in schedule.jobs)}",
                          where="--job")
    return [j for j in schedule.jobs if not only or j.name in only]


def _every_minute(jobs: Sequence[Job], emit: Callable[[Job], None], stop: _Stop, until: datetime | None,
                  clock: Callable[[], datetime], sleep: Callable[[float], None]) -> None:
    """Until stopped (or `until`): at each new minute, the jobs whose cron matches it, in order."""
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
                    emit(job)
        # wake at the next minute, in short naps so a signal is seen promptly
        nxt = minute + timedelta(minutes=1)
        if until is not None:
            nxt = min(nxt, until)
        sleep(max(0.0, min(1.0, (nxt - clock()).total_seconds())))
