"""Cross-cutting (drills): a simulated organisation's raw logs, inventory and ground truth.

`simulate(out_dir, days, identities, seed, org=...)` writes, under `out_dir`:
  logs/<format>.ndjson   raw records in the real vendor formats (format registry names),
  inventory/             the organisation as inventory content (models, identities, grants,
                         approvals),
  truth.json             the labelled attack scenarios and the raw ids of their events,
  networks.csv           every site's egress range with its country, city and operator (the
                         GeoIP CSV `--geoip-db` reads, docs/geography.md).
The same seed and sizes always give byte-identical files. Next stage: `siem_pack.run`
(ingest, baselines, rules) and `siem_pack.drill` (scoring against truth.json).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..inventory import load_inventory
from .attacks import SCENARIOS, ground_truth, plan_attacks
from .org import DEFAULT_START, Org, Policy, benign_activity, build_org
from .profiles import PROFILES
from .writers import write_inventory, write_logs, write_networks

NETWORKS_NAME = "networks.csv"

__all__ = ["PROFILES", "SCENARIOS", "SimulationResult", "simulate"]


@dataclass(frozen=True)
class SimulationResult:
    out_dir: Path
    logs_dir: Path
    inventory_dir: Path
    truth_path: Path
    records: dict[str, int]
    scenarios: int
    org: Org  # with the identities attacks created through a sanctioned path (inventoried keys)
    attack_identities: int = 0

    @property
    def networks_path(self) -> Path:
        return self.out_dir / NETWORKS_NAME

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out_dir), "logs": str(self.logs_dir), "inventory": str(self.inventory_dir),
                "truth": str(self.truth_path), "networks": str(self.networks_path), "records": self.records, "records_total": sum(self.records.values()),
                "identities": len(self.org.identities) - self.attack_identities,
                "attack_identities": self.attack_identities, "days": self.org.days, "scenarios": self.scenarios,
                "seed": self.org.seed, "org": self.org.profile.name}


def default_warmup(days: int) -> int:
    """Days of benign history before the first attack (baselines and new-terms histories)."""
    return max(1, min(7, days // 2))


def simulate(out_dir: Path, days: int = 14, identities: int = 40, seed: int = 7,
             start: datetime = DEFAULT_START, warmup_days: int | None = None,
             scenarios: list[str] | None = None, org: str = "acme") -> SimulationResult:
    if days < 3:
        raise InputError(f"--days must be at least 3 (got {days})", where="--days")
    if identities < 8:
        raise InputError(f"--identities must be at least 8 (got {identities})", where="--identities")
    unknown = sorted(set(scenarios or []) - set(SCENARIOS))
    if unknown:
        raise InputError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
                         where="--scenario")
    if org not in PROFILES:
        raise InputError(f"unknown organisation {org!r}; known: {', '.join(PROFILES)}", where="--org")
    warmup = default_warmup(days) if warmup_days is None else warmup_days
    rng = random.Random(seed)
    the_org = build_org(seed, PROFILES[org], identities=identities, days=days, start=start)
    logs_dir, inv_dir = out_dir / "logs", out_dir / "inventory"
    for d in (logs_dir, inv_dir):  # a re-run replaces the previous simulation whole
        if d.exists():
            shutil.rmtree(d)
    # the inventory first: benign traffic is what its policy allows (the verdict ingest applies)
    write_inventory(the_org, inv_dir)
    acts = benign_activity(the_org, random.Random(rng.getrandbits(64)), Policy(load_inventory(inv_dir)))
    attack_list = plan_attacks(the_org, random.Random(rng.getrandbits(64)), warmup, scenarios)
    for sc in attack_list:
        acts.extend(sc.acts)
    # identities an attack creates through a sanctioned path (keys the gateway syncs) are known
    # to the inventory; attacker keys outside it stay unknown (Scenario.extra_aliases)
    known = the_org.identities + tuple(i for sc in attack_list for i in sc.new_identities)
    counts = write_logs(acts, logs_dir, random.Random(rng.getrandbits(64)), the_org)
    inventoried = replace(the_org, identities=known)
    write_inventory(inventoried, inv_dir)  # with the keys the attacks had synced
    truth = ground_truth(the_org, attack_list, warmup)
    write_networks(the_org, out_dir / NETWORKS_NAME)
    truth_path = out_dir / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return SimulationResult(out_dir, logs_dir, inv_dir, truth_path, counts, len(attack_list), inventoried,
                            attack_identities=len(known) - len(the_org.identities))
