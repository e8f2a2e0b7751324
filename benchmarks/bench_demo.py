#!/usr/bin/env python3
"""Benchmark: `siem-pack demo` end to end (simulate, ingest, baselines, rules, seals, score,
report) in a fresh folder, as a newcomer runs it. Target: under 2 minutes on 2 cores.

Prints the wall time of each stage, the total, and the ratio to the 120 s target; also the
report alone against the pipeline (the baseline in the same run). Wall time depends on the
machine's load; the child's CPU time (user + sys) is printed beside it. Run it on an idle
machine:

    python benchmarks/bench_demo.py [--days 10 --identities 24] [--repeat 1]
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

TARGET_S = 120.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--identities", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    extra = []
    if args.days:
        extra += ["--days", str(args.days)]
    if args.identities:
        extra += ["--identities", str(args.identities)]
    print(f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  target: {TARGET_S:.0f} s")
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            out = Path(tmp) / "demo"
            t0 = time.monotonic()
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            res = subprocess.run([sys.executable, "-m", "siem_pack", "demo", "--out", str(out), "--json", *extra],
                                 capture_output=True, text=True, check=False)
            wall = time.monotonic() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            if res.returncode != 0:
                print(res.stderr[-3000:], file=sys.stderr)
                return 1
            result = json.loads(res.stdout)
            stages = result["timings_s"]
            print(f"run {i + 1}: total {wall:.1f} s wall, {cpu:.1f} s CPU (ratio to target: wall {wall / TARGET_S:.2f}, "
                  f"CPU {cpu / TARGET_S:.2f}); "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
                  + f"; report/pipeline {stages['report'] / max(stages['pipeline'], 1e-9):.3f}")
            print(f"       {result['events']} events, {result['alerts']} alerts, "
                  f"{result['attacks_caught']}/{result['attacks']} attacks caught, {result['seals']} seals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
