#!/usr/bin/env python3
"""Benchmark: `siem-pack run` (ingest, walk-forward baselines, every rule, on the embedded
store) on simulated organisations of growing size. Targets: peak RSS at most 1 GiB at about
100,000 events, and at 1,000,000 events no more than 2x slower per event than at 100,000.

Each size is simulated first (not timed), then `siem-pack run` runs as a child process; its
wall and CPU time and peak resident memory (ru_maxrss of the child) are printed, per event
too, and every size's per-event time is divided by the first (smallest) size's: the
baseline of the same run. Wall time depends on the machine's load; CPU time is printed
beside it. Run it on an idle machine:

    python benchmarks/bench_run.py                     # 100k and 1M events (about 25 minutes)
    python benchmarks/bench_run.py --sizes 100000      # the memory target only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEMORY_TARGET = 1 << 30  # bytes at the first size
SLOWDOWN_TARGET = 2.0  # per-event time at the largest size over the first
EVENTS_PER_IDENTITY_DAY = 26  # what the default organisation makes, measured (acme, 150 x 21: 82,030)
DAYS = 29


def _child_rusage() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_CHILDREN)


def measure(events: int, workdir: Path, seed: int) -> dict[str, float]:
    identities = max(8, round(events / (EVENTS_PER_IDENTITY_DAY * DAYS)))
    sim = workdir / f"sim-{events}"
    subprocess.run([sys.executable, "-m", "siem_pack", "simulate", "--days", str(DAYS), "--identities", str(identities),
                    "--seed", str(seed), "--out", str(sim), "--json"], check=True, capture_output=True, text=True)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: measure each run in its own
    # grandchild so an earlier, larger size cannot mask a smaller one
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t0 = time.monotonic()\n"
        "res = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.monotonic() - t0\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc': res.returncode, 'wall': wall, 'cpu': ru.ru_utime + ru.ru_stime,"
        " 'rss': ru.ru_maxrss * 1024, 'stdout': res.stdout[-20000:], 'stderr': res.stderr[-3000:]}))\n"
    )
    cmd = [sys.executable, "-c", probe, sys.executable, "-m", "siem_pack", "run", str(sim / "logs"),
           "--inventory", str(sim / "inventory"), "--out", str(workdir / f"run-{events}"), "--json"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if out["rc"] not in (0, 1):  # 1: findings (alerts), a normal outcome of a run
        sys.stderr.write(out["stderr"])
        raise SystemExit(f"siem-pack run failed with exit {out['rc']}")
    summary = json.loads(out["stdout"])
    stored = int(summary["ingest"]["total"]["stored"])
    return {"identities": identities, "events": stored, "wall": out["wall"], "cpu": out["cpu"], "rss": out["rss"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="Approximate event counts, smallest first (the first is the baseline).")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  targets: peak RSS <= 1 GiB at the first size, "
          f"per-event time <= {SLOWDOWN_TARGET:g}x the first at the largest")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        for size in args.sizes:
            t0 = time.monotonic()
            r = measure(size, Path(tmp), args.seed)
            rows.append(r)
            base = rows[0]
            per = r["wall"] / max(r["events"], 1) * 1e6
            per_base = base["wall"] / max(base["events"], 1) * 1e6
            print(f"{r['events']:>9} events ({r['identities']} identities x {DAYS} days): run {r['wall']:.1f} s wall, "
                  f"{r['cpu']:.1f} s CPU, {per:.0f} us/event (x{per / per_base:.2f} of the first size), "
                  f"peak RSS {r['rss'] / 2**20:.0f} MiB ({r['rss'] / MEMORY_TARGET:.2f} of 1 GiB); "
                  f"simulate+run {time.monotonic() - t0:.0f} s", flush=True)
    first, last = rows[0], rows[-1]
    slowdown = (last["wall"] / max(last["events"], 1)) / (first["wall"] / max(first["events"], 1))
    ok_mem = first["rss"] <= MEMORY_TARGET
    ok_speed = len(rows) == 1 or slowdown <= SLOWDOWN_TARGET
    print(f"memory at the first size: {'PASS' if ok_mem else 'FAIL'}; per-event slowdown at the largest: "
          f"x{slowdown:.2f} {'PASS' if ok_speed else 'FAIL'}")
    return 0 if ok_mem and ok_speed else 1


if __name__ == "__main__":
    sys.exit(main())
