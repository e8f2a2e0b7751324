"""Attack drills, stage 0: a simulated organisation's raw logs, inventory and ground truth.

`simulate(out_dir, days, identities, seed)` writes, under `out_dir`:
  logs/<format>.ndjson   raw records in the real vendor formats (format registry names),
  inventory/             the organisation as inventory content (models, identities, grants,
                         approvals),
  truth.json             the labelled attack scenarios and the raw ids of their events.
The same seed and sizes always give byte-identical files. Next stage: `siem_pack.run`
(ingest, baselines, rules) and `siem_pack.drill` (scoring against truth.json).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from .attacks import SCENARIOS, ground_truth, plan_attacks
from .org import DEFAULT_START, Org, benign_activity, build_org
from .writers import write_inventory, write_logs

__all__ = ["SCENARIOS", "SimulationResult", "simulate"]


@dataclass(frozen=True)
class SimulationResult:
    out_dir: Path
    logs_dir: Path
    inventory_dir: Path
    truth_path: Path
    records: dict[str, int]
    scenarios: int
    org: Org

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out_dir), "logs": str(self.logs_dir), "inventory": str(self.inventory_dir),
                "truth": str(self.truth_path), "records": self.records, "records_total": sum(self.records.values()),
                "identities": len(self.org.identities), "days": self.org.days, "scenarios": self.scenarios,
                "seed": self.org.seed}


def default_warmup(days: int) -> int:
    """Days of benign history before the first attack (baselines and new-terms histories)."""
    return max(1, min(7, days // 2))


def simulate(out_dir: Path, days: int = 14, identities: int = 40, seed: int = 7,
             start: datetime = DEFAULT_START, warmup_days: int | None = None,
             scenarios: list[str] | None = None) -> SimulationResult:
    if days < 3:
        raise InputError(f"--days must be at least 3 (got {days})", where="--days")
    if identities < 8:
        raise InputError(f"--identities must be at least 8 (got {identities})", where="--identities")
    unknown = sorted(set(scenarios or []) - set(SCENARIOS))
    if unknown:
        raise InputError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
                         where="--scenario")
    warmup = default_warmup(days) if warmup_days is None else warmup_days
    rng = random.Random(seed)
    org = build_org(seed, identities=identities, days=days, start=start)
    acts = benign_activity(org, random.Random(rng.getrandbits(64)))
    attack_list = plan_attacks(org, random.Random(rng.getrandbits(64)), warmup, scenarios)
    for sc in attack_list:
        acts.extend(sc.acts)
    logs_dir, inv_dir = out_dir / "logs", out_dir / "inventory"
    for d in (logs_dir, inv_dir):  # a re-run replaces the previous simulation whole
        if d.exists():
            shutil.rmtree(d)
    counts = write_logs(acts, logs_dir, random.Random(rng.getrandbits(64)))
    write_inventory(org, inv_dir)
    truth = ground_truth(org, attack_list, warmup)
    truth_path = out_dir / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return SimulationResult(out_dir, logs_dir, inv_dir, truth_path, counts, len(attack_list), org)
