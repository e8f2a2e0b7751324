"""The scheduler: cron parsing, the lock, --once, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

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


def test_once_runs_each_job_and_reports(tmp_path: Path) -> None:
    cfg = _config(tmp_path, [{"name": "help", "cron": "0 0 * * *", "command": "jobs --help"},
                             {"name": "bad", "cron": "0 0 * * *", "command": ["jobs", "score", "--models-dir",
                                                                             str(tmp_path / "none")]}])
    res = CliRunner().invoke(main, ["schedule", "run", "--config", str(cfg), "--once"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines() if x.startswith("{")]
    by = {x.get("job"): x for x in lines if "job" in x}
    assert by["help"]["status"] == "ok"
    assert by["bad"]["status"] == "failed"
    assert lines[-1]["runs"] == 2 and lines[-1]["failed"] == 1


def test_a_held_lock_skips_the_run(tmp_path: Path) -> None:
    sched = scheduler.load_schedule(_config(tmp_path, [{"name": "help", "cron": "* * * * *",
                                                         "command": "jobs --help"}]))
    with scheduler.job_lock(sched.lock_file) as held:
        assert held
        child = subprocess.run([sys.executable, "-m", "siem_pack", "schedule", "run", "--config",
                                str(tmp_path / "schedule.yml"), "--once"], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    first = json.loads(child.stdout.splitlines()[0])
    assert first["status"] == "skipped" and "lock held" in first["reason"]


def test_until_runs_due_jobs_then_stops(tmp_path: Path) -> None:
    sched = scheduler.load_schedule(_config(tmp_path, [{"name": "help", "cron": "* * * * *",
                                                         "command": "jobs --help"}]))
    clock = [datetime(2026, 3, 2, 10, 0, 30)]

    def now() -> datetime:
        return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=max(seconds, 1.0))

    summary = scheduler.run(sched, until=datetime(2026, 3, 2, 10, 3, 0), clock=now, sleep=sleep)
    assert summary["runs"] == 3  # 10:00, 10:01, 10:02
    assert summary["reason"] == "until"


def _catches_sigterm(pid: int) -> bool:
    """The process has a SIGTERM handler (Linux: the SigCgt mask in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    cfg = _config(tmp_path, [{"name": "yearly", "cron": "0 0 1 1 *", "command": "jobs --help"}])
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
