"""Benchmark: baselines (stage 3) at 100k and 1M synthetic events, embedded and on the node.

For each size it prints seconds for features (engine aggregation + derive), fit (training
windows) and score (risk + explanations for the windows after training), the job's peak
RSS, and the growth from 100k to 1M. Each measured job runs in its own subprocess, so peak
RSS is the job's (VmHWM), not the generator's. On the node it also prints the node's own time
(the sum of `took` over the composite pages) apart from the client's.

Targets (embedded): 1M events in <= 60 s and <= 2 GiB on 2 cores; 10x events <= 12x time.

    python benchmarks/bench_baselines.py                 # embedded only
    source .engines/env && python benchmarks/bench_baselines.py --node
    python benchmarks/bench_baselines.py --sizes 100000  # one size
    python benchmarks/bench_baselines.py --quality 7,8,9,10  # detection quality per seed only

--quality fits on the 14 training days of the seeded usage the estimator tests use
(tests/baselines/test_estimator.py) and prints, per seed, the ROC AUC over all injected
anomalies and per kind, and how many windows of each benign trap reach the top decile.

On the node the events go to a benchmark-only index (siem_pack.backends.es.write), deleted
afterwards.
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
import uuid
from pathlib import Path
from typing import Any

PEOPLE_PER_100K = 169  # ~590 events per person over 18 days at the default rate


def generate(size: int, db: Path) -> dict[str, Any]:
    from siem_pack.backends.duckdb import Store
    from siem_pack.baselines import synthetic

    humans = max(8, round(size / 100_000 * PEOPLE_PER_100K))
    u = synthetic.generate(seed=5, humans=humans, services=max(1, humans // 40))
    with Store(db) as store:
        synthetic.load_duckdb(store, u.events)
    return {"events": len(u.events), "train_start": u.train_start.isoformat(), "train_end": u.train_end.isoformat(),
            "end": u.end.isoformat(), "humans": humans}


def job(db: Path, info: dict[str, Any], es_index: str | None) -> dict[str, Any]:
    """One measured run: features, fit, score. Prints its figures as JSON."""
    from datetime import datetime

    from siem_pack.backends.duckdb import Store
    from siem_pack.baselines.estimator import BaselineEstimator
    from siem_pack.baselines.features import FeatureFrameSpec, derive, features_duckdb, features_es
    from siem_pack.baselines.jobs import with_population

    start, train_end, end = (datetime.fromisoformat(info[k]) for k in ("train_start", "train_end", "end"))
    spec = FeatureFrameSpec(start, end)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if es_index:
        from siem_pack.cluster import es_client
        from siem_pack.settings import ClusterSettings

        client = es_client(ClusterSettings(es_url=os.environ["SIEM_PACK_TEST_ES_URL"],
                                           user=os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                                           password=os.environ["SIEM_PACK_TEST_ES_PASSWORD"], timeout=600))
        took: list[int] = []
        base = features_es(client, es_index, spec, on_page=lambda body: took.append(int(body.get("took", 0))))
        out["node_took_s"] = round(sum(took) / 1000, 2)
        out["pages"] = len(took)
    else:
        with Store(db, read_only=True) as store:
            base = features_duckdb(store, spec)
    t1 = time.perf_counter()
    frame = derive(base)
    frame = with_population(frame, __import__("siem_pack.baselines.features", fromlist=["IdentityContext"])
                            .IdentityContext())
    t2 = time.perf_counter()
    train = frame[frame["window_start"] < train_end]
    est = BaselineEstimator().fit(train)
    t3 = time.perf_counter()
    after = (frame["window_start"] >= train_end).to_numpy()  # what `jobs score` scores
    risk, explanations = est.risk_and_explain(frame, rows=after)
    scored = int(after.sum())
    t4 = time.perf_counter()
    assert len(risk) == len(explanations) == scored
    out.update({"rows": len(frame), "train_rows": len(train), "scored_rows": scored,
                "aggregate_s": round(t1 - t0, 2), "features_s": round(t2 - t0, 2), "fit_s": round(t3 - t2, 2),
                "score_s": round(t4 - t3, 2), "total_s": round(t4 - t0, 2),
                "peak_rss_mib": peak_rss_mib()})
    return out


def quality(seed: int) -> str:
    """The estimator test's figures for one seed: ROC AUC overall and per injected kind, and
    windows of each benign trap in the top decile (risk of the windows after training)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from siem_pack.backends.duckdb import Store
    from siem_pack.baselines import synthetic
    from siem_pack.baselines.estimator import BaselineEstimator
    from siem_pack.baselines.features import FeatureFrameSpec, derive, features_duckdb
    from siem_pack.baselines.jobs import with_population

    u = synthetic.generate(seed=seed)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "q.duckdb") as store:
        synthetic.load_duckdb(store, u.events)
        base = features_duckdb(store, FeatureFrameSpec(u.train_start, u.end))
    frame = with_population(derive(base, u.context), u.context)
    risk = BaselineEstimator().fit(frame[frame["window_start"] < u.train_end]).risk_score(frame)
    test = (frame["window_start"] >= u.train_end).to_numpy()
    keys = [(a, b.to_pydatetime(), m) for a, b, m in zip(frame["user.id"][test], frame["window_start"][test],
                                                        frame["gen_ai.request.model"][test], strict=True)]
    labels = np.array([k in u.anomalies for k in keys])
    parts = [f"seed {seed}: {frame['user.id'].nunique()} identities, ROC AUC {roc_auc_score(labels, risk[test]):.2f}"]
    for kind in synthetic.ANOMALY_KINDS:
        mine = np.array([u.anomalies.get(k) == kind for k in keys])
        keep = mine | ~labels
        parts.append(f"{kind} {roc_auc_score(mine[keep], risk[test][keep]):.2f}")
    top = risk[test] >= np.quantile(risk[test], 0.9)
    for kind in synthetic.TRAP_KINDS:
        mine = np.array([k in u.traps[kind] for k in keys])
        parts.append(f"{kind} {int(top[mine].sum())} of {int(mine.sum())} in the top decile")
    return "; ".join(parts)


def peak_rss_mib() -> float:
    """This process's peak RSS since exec (VmHWM). ru_maxrss would not do: Linux keeps the
    forking parent's high-water mark across exec, so a child of the (large) generator reports it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _sub(mode: str, db: Path, info: dict[str, Any], es_index: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_job", mode, "--_db", str(db), "--_info", json.dumps(info)]
    if es_index:
        cmd += ["--_index", es_index]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"{mode} job failed:\n{res.stderr[-3000:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def bulk_to_node(db: Path, index: str) -> dict[str, Any]:
    """Stream the events from the DuckDB file into a benchmark-only index."""
    from elasticsearch import Elasticsearch

    from siem_pack.backends import es as port
    from siem_pack.backends.duckdb import Store
    from siem_pack.baselines.jobs import UNSUPPORTED_ON_TEST_NODE
    from siem_pack.doc import unflatten
    from siem_pack.schema import load_schema
    from siem_pack.times import format_ts

    es = Elasticsearch(os.environ["SIEM_PACK_TEST_ES_URL"], request_timeout=600,
                       basic_auth=(os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                                   os.environ["SIEM_PACK_TEST_ES_PASSWORD"]))
    es.indices.create(index=index, mappings={"properties": load_schema().es_properties(UNSUPPORTED_ON_TEST_NODE)},
                      settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"})
    cols = ["@timestamp", "event.id", "event.kind", "event.dataset", "event.outcome", "user.id", "gen_ai.request.model",
            "gen_ai.operation.name", "siem_pack.model.tier", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
            "siem_pack.request.bytes", "siem_pack.response.bytes", "siem_pack.policy.verdict", "source.ip",
            "source.geo.country_iso_code", "user_agent.original", "siem_pack.client.version"]
    store = Store(db, read_only=True)
    # the columns the features read, not whole documents (the feature compiler's way: Store.con)
    cur = store.con.execute("SELECT " + ", ".join(f'"{c}"' for c in cols) + " FROM events")

    def docs() -> Any:
        while True:
            batch = cur.fetchmany(10_000)
            if not batch:
                return
            for row in batch:
                flat = {c: v for c, v in zip(cols, row, strict=True) if v is not None}
                flat["@timestamp"] = format_ts(flat["@timestamp"], "auto")
                yield unflatten(flat)

    t0 = time.perf_counter()
    try:
        written = port.write(es, index, docs(), op="index", id_of="event.id", chunk_size=5000)
    finally:
        store.close()
    written.raise_refused("events", index)
    es.indices.refresh(index=index)
    es.indices.forcemerge(index=index, max_num_segments=1)
    return {"indexed": written.stored, "bulk_s": round(time.perf_counter() - t0, 1)}


def delete_index(index: str) -> None:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(os.environ["SIEM_PACK_TEST_ES_URL"],
                       basic_auth=(os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                                   os.environ["SIEM_PACK_TEST_ES_PASSWORD"]))
    es.options(ignore_status=[404]).indices.delete(index=index)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="Comma-separated event counts.")
    ap.add_argument("--node", action="store_true", help="Also run on the real Elasticsearch node.")
    ap.add_argument("--node-only", action="store_true", help="Only the node runs (with --node).")
    ap.add_argument("--quality", metavar="SEEDS", help="Only print detection quality for these seeds (e.g. 7,8,9,10).")
    ap.add_argument("--_job"), ap.add_argument("--_db"), ap.add_argument("--_info"), ap.add_argument("--_index")
    args = ap.parse_args()
    if args._job:
        print(json.dumps(job(Path(args._db), json.loads(args._info), args._index)))
        return
    if args.quality:
        for seed in args.quality.split(","):
            print(quality(int(seed)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, dict[int, dict[str, Any]]] = {"embedded": {}, "node": {}}
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            db = Path(tmp) / f"bench-{size}.duckdb"
            t0 = time.perf_counter()
            info = generate(size, db)
            print(f"\n== {info['events']:,} events ({info['humans']} people, 18 days, 1h windows); "
                  f"generated in {time.perf_counter() - t0:.1f}s")
            if not args.node_only:
                emb = _sub("embedded", db, info)
                emb["events"] = info["events"]
                results["embedded"][size] = emb
                print("embedded:", json.dumps(emb))
            if args.node:
                index = f"bench-baselines-{uuid.uuid4().hex[:8]}"
                try:
                    b = bulk_to_node(db, index)
                    print(f"node bulk: {b['indexed']:,} events in {b['bulk_s']}s (not part of the job)")
                    node = _sub("node", db, info, index)
                    node["events"] = info["events"]
                    results["node"][size] = node
                    print("node:    ", json.dumps(node))
                finally:
                    delete_index(index)
    print("\n== summary")
    for mode, by in results.items():
        for _size, r in sorted(by.items()):
            extra = f"  node took {r['node_took_s']}s over {r['pages']} pages" if "node_took_s" in r else ""
            print(f"{mode:9s} {r['events']:>9,} events {r['rows']:>7,} rows: features {r['features_s']:6.2f}s "
                  f"fit {r['fit_s']:6.2f}s score {r['score_s']:6.2f}s total {r['total_s']:6.2f}s "
                  f"peak RSS {r['peak_rss_mib']:7.1f} MiB{extra}")
        if len(by) >= 2:
            lo, hi = min(by), max(by)
            ev = by[hi]["events"] / by[lo]["events"]
            tm = by[hi]["total_s"] / max(by[lo]["total_s"], 1e-9)
            print(f"{mode:9s} growth {lo:,} -> {hi:,}: events x{ev:.1f}, time x{tm:.1f} "
                  f"(target <= x{1.2 * ev:.1f}), RSS x{by[hi]['peak_rss_mib'] / by[lo]['peak_rss_mib']:.1f}")
    if 1_000_000 in results["embedded"]:
        r = results["embedded"][1_000_000]
        print(f"embedded 1M targets: total {r['total_s']}s (<= 60: {'ok' if r['total_s'] <= 60 else 'MISSED'}), "
              f"peak RSS {r['peak_rss_mib']} MiB (<= 2048: {'ok' if r['peak_rss_mib'] <= 2048 else 'MISSED'})")


if __name__ == "__main__":
    main()
