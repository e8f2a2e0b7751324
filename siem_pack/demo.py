"""Cross-cutting (drills): the README's main job: `siem-pack demo`, every stage of the embedded
default on one machine. Simulate a small organisation with labelled attacks
(siem_pack.simulate), run the whole pipeline (siem_pack.run: ingest, baselines, rules), seal the
events (siem_pack.integrity, with a throw-away key), score the alerts against the attacks
(siem_pack.drill.score_run), and write the static report (siem_pack.report)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends.duckdb import Store

Progress = Callable[[str], None]
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class DemoOptions:
    days: int = 10
    identities: int = 24
    seed: int = 7


@dataclass
class DemoResult:
    out_dir: Path
    report: Path
    db: Path
    records: int
    events: int
    alerts_by_severity: dict[str, int]
    attacks: int
    attacks_caught: int
    missed: list[str]
    seals: int
    period: tuple[str, str] = ("", "")  # the first and the last event's day (for the audit export hint)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def alerts(self) -> int:
        return sum(self.alerts_by_severity.values())

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "report": str(self.report), "db": str(self.db),
                "records": self.records, "events": self.events, "alerts": self.alerts,
                "alerts_by_severity": self.alerts_by_severity, "attacks": self.attacks,
                "attacks_caught": self.attacks_caught, "missed": self.missed, "seals": self.seals,
                "period": list(self.period), "timings_s": self.timings_s}


def demo(out_dir: Path, options: DemoOptions = DemoOptions(), progress: Progress | None = None) -> DemoResult:
    """Simulate, run, seal, score and report; returns what the summary prints."""
    from .drill import score_run
    from .integrity.keys import SigningKey
    from .integrity.seals import seal_windows
    from .integrity.store_duckdb import DuckDBEvents, DuckDBSeals
    from .report import build_report
    from .run import DB_NAME, run
    from .simulate import simulate

    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> None:
        timings[name] = round(time.monotonic() - t0, 2)

    t0 = time.monotonic()
    say(f"simulating {options.identities} identities over {options.days} days, with attacks")
    sim = simulate(out_dir / "simulation", days=options.days, identities=options.identities, seed=options.seed)
    step("simulate", t0)
    run_dir = out_dir / "run"
    t0 = time.monotonic()
    run([sim.logs_dir], run_dir, inventory_dir=sim.inventory_dir, progress=lambda m: say(f"pipeline: {m}"))
    step("pipeline", t0)
    db = run_dir / DB_NAME
    t0 = time.monotonic()
    say("sealing the event windows (a throw-away demo key)")
    with Store(db) as store:
        seal_windows(DuckDBEvents(store), DuckDBSeals(store), SigningKey.generate())
        seals = int((store.con.execute("SELECT count(*) FROM seals WHERE kind <> 'key'").fetchone() or [0])[0])
        events = store.count("events")
        first, last = store.con.execute('SELECT min("@timestamp"), max("@timestamp") FROM events').fetchone() \
            or (None, None)
        by_sev = dict(store.con.execute('SELECT "kibana.alert.severity", count(*) FROM alerts GROUP BY 1').fetchall())
    step("seal", t0)
    t0 = time.monotonic()
    say("scoring the alerts against the simulated attacks")
    scored = score_run(sim.out_dir, run_dir)
    step("score", t0)
    t0 = time.monotonic()
    say("writing the report")
    report = build_report(db, out_dir / "report.html")
    step("report", t0)
    severity = Counter({str(k): int(v) for k, v in by_sev.items()})
    ordered = {s: severity.pop(s, 0) for s in SEVERITIES}
    ordered.update(dict(sorted(severity.items())))
    return DemoResult(out_dir=out_dir, report=report.path, db=db, records=sum(sim.records.values()), events=events,
                      alerts_by_severity=ordered, attacks=len(scored.scenarios),
                      attacks_caught=sum(1 for s in scored.scenarios if s.detected),
                      missed=[s.id for s in scored.scenarios if not s.detected], seals=seals,
                      period=(f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}") if first and last else ("", ""),
                      timings_s=timings)


def render(result: DemoResult) -> str:
    sev = ", ".join(f"{n} {s}" for s, n in result.alerts_by_severity.items() if n)
    lines = [
        f"events:   {result.events:,} stored from {result.records:,} simulated raw records",
        f"alerts:   {result.alerts:,}" + (f" ({sev})" if sev else ""),
        f"attacks:  {result.attacks_caught} of {result.attacks} simulated attacks caught"
        + (f" (missed: {', '.join(result.missed)})" if result.missed else ""),
        f"seals:    {result.seals:,} signed seals over the event windows",
        f"time:     {sum(result.timings_s.values()):.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in result.timings_s.items()) + ")",
        f"report:   {result.report}",
        f"store:    {result.db} (try: siem-pack audit export --db {result.db} --from {result.period[0]} "
        f"--to {result.period[1]} --out audit)",
    ]
    return "\n".join(lines)
