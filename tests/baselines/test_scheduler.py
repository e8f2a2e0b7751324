"""The scheduler: cron parsing, the job registry and its options, the lock, --once, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from siem_pack.backends.indices import ANOMALIES_INDEX
from siem_pack.baselines import scheduler
from siem_pack.cli import main
from siem_pack.errors import ConfigError


@pytest.mark.parametrize("expr,when,hit", [
    ("*/15 * * * *", datetime(2026, 3, 2, 10, 30), True),
    ("*/15 * * * *", datetime(2026, 3, 2, 10, 31), False),
    ("5 2 * * 0", datetime(2026, 3, 1, 2, 5), True),  # a Sunday
    ("5 2 * * 7", datetime(2026, 3, 1, 2, 5), True),
    ("5 2 * * 1-5", datetime(2026, 3, 1, 2, 5), False),
    ("0 0 1 * 1", datetime(2026, 3, 2, 0, 0), True),  # dom or dow when both are restricted
    ("0,30 9-17 * 3 *", datetime(2026, 3, 5, 17, 30), True),
])
def test_cron_matches(expr: str, when: datetime, hit: bool) -> None:
    assert scheduler.Cron.parse(expr).matches(when) is hit


def test_cron_next_after() -> None:
    assert scheduler.Cron.parse("5 * * * *").next_after(datetime(2026, 3, 2, 10, 5)) == datetime(2026, 3, 2, 11, 5)


@pytest.mark.parametrize("expr,msg", [("* * *", "needs 5 fields"), ("61 * * * *", "out of range"),
                                      ("a * * * *", "not a number")])
def test_bad_cron_is_a_config_error(expr: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        scheduler.Cron.parse(expr)


def _config(tmp_path: Path, jobs: list[dict]) -> Path:
    import yaml

    p = tmp_path / "schedule.yml"
    p.write_text(yaml.safe_dump({"lock_file": str(tmp_path / "jobs.lock"), "jobs": jobs}))
    return p


@pytest.fixture()
def noop_job(monkeypatch: pytest.MonkeyPatch) -> list[scheduler.JobOptions]:
    """`jobs noop [--db PATH] [--quick]` registered in JOBS; hands you the options of each run."""
    runs: list[scheduler.JobOptions] = []

    def noop(o: scheduler.JobOptions) -> dict[str, object]:
        runs.append(o)
        return {"job": "noop", "db": str(o.path("--db")), "quick": o.flag("--quick")}

    monkeypatch.setitem(scheduler.JOBS, "noop", scheduler.JobKind(noop, {"--db": False, "--quick": True}))
    return runs


def test_once_runs_each_job_and_reports(tmp_path: Path, noop_job: list[scheduler.JobOptions]) -> None:
    cfg = _config(tmp_path, [{"name": "quick", "cron": "0 0 * * *", "command": "siem-pack jobs noop --db x --quick"},
                             {"name": "bad", "cron": "0 0 * * *", "command": ["jobs", "score", "--models-dir",
                                                                             str(tmp_path / "none")]}])
    res = CliRunner().invoke(main, ["schedule", "run", "--config", str(cfg), "--once"], env={"SIEM_PACK_BASELINE_KEY": ""})
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines()]
    assert lines[0] == {"db": "x", "job": "noop", "quick": True}  # the job's report, then the run's line
    assert lines[1]["job"] == "quick" and lines[1]["status"] == "ok"
    assert lines[2]["job"] == "bad" and lines[2]["status"] == "failed"
    assert lines[2]["reason"].startswith("--key-file: no baseline signing key")
    assert lines[-1]["runs"] == 2 and lines[-1]["failed"] == 1


def test_a_job_calls_its_library_function_with_the_command_options(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from siem_pack.baselines import jobs
    from siem_pack.settings import OPTIONS

    for var in [*OPTIONS.values(), "SIEM_PACK_DB", "SIEM_PACK_MODELS_DIR"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SIEM_PACK_BASELINE_KEY", "k" * 16)
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(jobs, "score", lambda *a, **kw: calls.append((a, kw)) or {"job": "score"})
    assert set(scheduler.JOBS) == {"fit-baselines", "score", "refresh-content"}
    _, options = scheduler.parse_command(["jobs", "score", "--db", str(tmp_path / "x.duckdb"), "--only-anomalous"], "s")
    assert scheduler.JOBS["score"].run(scheduler.JobOptions(options)) == {"job": "score"}
    ((args, kw),) = calls
    assert args == (jobs.Source(db=tmp_path / "x.duckdb"), Path("siem-pack-models"), b"k" * 16)
    assert kw == {"start": None, "end": None, "context": None, "anomalies_index": ANOMALIES_INDEX,
                  "only_anomalous": True}


def test_job_options_come_from_the_command_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIEM_PACK_DB", "/from/env.duckdb")
    monkeypatch.setenv("SIEM_PACK_INSECURE", "yes")
    name, options = scheduler.parse_command(["jobs", "score", "--es-url=http://es:9200", "--only-anomalous",
                                             "--start", "2026-03-01T00:00:00Z"], "s.yml")
    assert name == "score"
    o = scheduler.JobOptions(options)
    assert o.get("--es-url") == "http://es:9200" and o.flag("--only-anomalous") and o.flag("--insecure")
    assert o.path("--db") == Path("/from/env.duckdb")
    assert o.time("--start") == datetime(2026, 3, 1)
    assert o.text("--index", "logs-siem_pack.*") == "logs-siem_pack.*"
    assert o.number("--timeout", float, 30.0) == 30.0
    with pytest.raises(ConfigError, match="is not an integer"):
        scheduler.JobOptions({"--days": "two"}).number("--days", int, 14)


def test_the_documented_schedule_loads(tmp_path: Path) -> None:
    import re

    docs = (Path(__file__).resolve().parents[2] / "docs" / "baselines.md").read_text()
    block = re.search(r"```yaml\n# schedule.yml\n(.*?)```", docs, re.S)
    assert block, "docs/baselines.md has no schedule.yml example"
    (tmp_path / "schedule.yml").write_text(block.group(1))
    sched = scheduler.load_schedule(tmp_path / "schedule.yml")
    assert [(j.name, j.kind) for j in sched.jobs] == [("fit", "fit-baselines"), ("score", "score"),
                                                      ("content", "refresh-content")]


def test_each_job_takes_its_commands_options() -> None:
    from siem_pack.cli.jobs import jobs as group

    for name, kind in scheduler.JOBS.items():
        command = group.commands[name]
        options = {opt: p.is_flag for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        options.pop("--help", None)
        assert options == dict(kind.options), name


@pytest.mark.parametrize("command,msg", [
    ("jobs --help", "'jobs --help' is not a job; known: jobs fit-baselines, jobs refresh-content, jobs score"),
    ("rules run --db x", "'rules run --db x' is not a job; known:"),
    ("jobs score --window 1h", "jobs score: no option '--window'; known: --anomalies-index, --api-key,"),
    ("jobs score --db", "jobs score: --db needs a value"),
    ("jobs score --only-anomalous=yes", "jobs score: --only-anomalous is a flag and takes no value"),
])
def test_a_command_that_is_no_job_fails_when_the_schedule_loads(tmp_path: Path, command: str, msg: str) -> None:
    cfg = _config(tmp_path, [{"name": "x", "cron": "* * * * *", "command": command}])
    with pytest.raises(ConfigError) as err:
        scheduler.load_schedule(cfg)
    assert str(err.value).startswith(f"{cfg}: jobs[0]: {msg}")


def test_a_held_lock_skips_the_run(tmp_path: Path) -> None:
    sched = scheduler.load_schedule(_config(tmp_path, [{"name": "content", "cron": "* * * * *",
                                                         "command": "jobs refresh-content"}]))
    with scheduler.job_lock(sched.lock_file) as held:
        assert held
        child = subprocess.run([sys.executable, "-m", "siem_pack", "schedule", "run", "--config",
                                str(tmp_path / "schedule.yml"), "--once"], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    first = json.loads(child.stdout.splitlines()[0])
    assert first["status"] == "skipped" and "lock held" in first["reason"]


def test_until_runs_due_jobs_then_stops(tmp_path: Path, noop_job: list[scheduler.JobOptions]) -> None:
    sched = scheduler.load_schedule(_config(tmp_path, [{"name": "quick", "cron": "* * * * *",
                                                         "command": "jobs noop"}]))
    clock = [datetime(2026, 3, 2, 10, 0, 30)]

    def now() -> datetime:
        return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=max(seconds, 1.0))

    summary = scheduler.run(sched, until=datetime(2026, 3, 2, 10, 3, 0), clock=now, sleep=sleep)
    assert summary["runs"] == 3 and len(noop_job) == 3  # 10:00, 10:01, 10:02
    assert summary["reason"] == "until" and summary["failed"] == 0


def _catches_sigterm(pid: int) -> bool:
    """The process has a SIGTERM handler (Linux: the SigCgt mask in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    cfg = _config(tmp_path, [{"name": "yearly", "cron": "0 0 1 1 *", "command": "jobs refresh-content"}])
    proc = subprocess.Popen([sys.executable, "-m", "siem_pack", "schedule", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # imports, then the loop installs its handler
        while not _catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None and _catches_sigterm(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"failed": 0, "reason": "SIGTERM", "runs": 0, "scheduler": "stopped", "skipped": 0}


def test_bad_schedule_file_is_one_error_line(tmp_path: Path) -> None:
    p = tmp_path / "s.yml"
    p.write_text("jobs: []\n")
    res = CliRunner().invoke(main, ["schedule", "run", "--config", str(p), "--once"])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"siem-pack: error: {p}: the schedule needs a non-empty `jobs:` list"
