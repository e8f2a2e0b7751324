"""Benchmark of stage 1 → 2 (not a test): prints figures and ratios against baselines
measured in the same run.

1. Offline normalization, per format: events/s through the entry pipeline on the offline
   executor (siem_pack.ingest_job.Normalizer: pipelines, validation, fingerprint), against
   plain `json.loads` + `json.dumps` of the same lines, both in CPU time, interleaved.
   Target ratio >= 0.3.
2. Bulk indexing into the real Elasticsearch node: docs/s of our sink (create-only, `_id` =
   fingerprint) against `elasticsearch.helpers.streaming_bulk` of the same pre-normalized
   documents. Target ratio >= 0.8.

Records: our own samples of each format (`ingest_pipelines/samples/`), so it runs from a bare
clone; with SIEM_PACK_SHARED naming the upstream conformance folder, its samples too.

Usage:  source .engines/env && python benchmarks/bench_ingest.py [--records 3000] [--bulk 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from siem_pack.ingest.formats import FORMATS
from siem_pack.ingest.pipeline import load_pipelines
from siem_pack.ingest.reader import Record
from siem_pack.ingest_job import IngestSummary, Normalizer, _EsSink


def _upstream_fixtures() -> Path | None:
    """The upstream samples' folder when SIEM_PACK_SHARED names the conformance data, else None."""
    env = os.environ.get("SIEM_PACK_SHARED")
    folder = Path(env) / "fixtures" if env else None
    return folder if folder is not None and folder.is_dir() else None


def _lines(fmt: Any, n: int) -> list[str]:
    """n records of the format, cycling through its own samples (and the upstream ones, if found)."""
    fixtures = _upstream_fixtures()
    base = [r for s in fmt.samples if s.own or fixtures for r in s.records(fixtures)]
    return [base[i % len(base)] for i in range(n)]


def _cpu(fn: Any) -> float:
    """CPU seconds of one call: the offline work is single-threaded, and CPU time is far
    less disturbed than wall time when the machine is shared (report `uptime` anyway)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def offline(n: int, repeat: int = 3) -> None:
    ps = load_pipelines()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    source = f"own and upstream samples ({_upstream_fixtures()})" if _upstream_fixtures() else "own samples"
    print(f"offline normalization ({n} records per format from {source}, CPU time, best of {repeat} interleaved "
          f"runs; load average {load} on {os.cpu_count()} CPUs)")
    print(f"  {'format':<20} {'events/s':>10} {'json baseline/s':>16} {'ratio':>7}")
    ratios = []
    for name, fmt in sorted(FORMATS.items()):
        lines = _lines(fmt, n)
        recs = [Record("bench", i, t) for i, t in enumerate(lines)]
        norm = Normalizer(ps, "auto")

        def ours(recs: list[Record] = recs, norm: Normalizer = norm) -> None:
            for r in recs:
                norm.normalize(r)

        def baseline(lines: list[str] = lines) -> None:
            for t in lines:
                json.dumps(json.loads(t))
        ok = sum(1 for r in recs[:50] if isinstance(norm.normalize(r)[1], dict))
        t_ours = t_base = float("inf")
        for _ in range(repeat):  # interleaved, so both see the same machine
            t_base = min(t_base, _cpu(baseline))
            t_ours = min(t_ours, _cpu(ours))
        ratio = t_base / t_ours
        ratios.append(ratio)
        flag = "" if ok == min(50, len(recs)) else f"  ({50 - ok} of 50 not normalized!)"
        print(f"  {name:<20} {n / t_ours:>10.0f} {n / t_base:>16.0f} {ratio:>7.3f}{flag}")
    ratios.sort()
    print(f"  min ratio {ratios[0]:.3f}, median {ratios[len(ratios) // 2]:.3f}, target >= 0.3")


def bulk(n: int) -> None:
    # the baseline is the client library's own bulk helper, not siem_pack.backends.es (which
    # the sink writes through): the ratio shows what the port and the sink add to it
    from elasticsearch.helpers import streaming_bulk

    from siem_pack.cluster import es_client
    from siem_pack.settings import ClusterSettings

    url = os.environ.get("SIEM_PACK_TEST_ES_URL")
    if n <= 0:
        return
    if not url:
        print("bulk: skipped (no SIEM_PACK_TEST_ES_URL; `source .engines/env`)")
        return
    settings = ClusterSettings(es_url=url, user=os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
                               password=os.environ.get("SIEM_PACK_TEST_ES_PASSWORD"), timeout=120)
    client = es_client(settings)
    ps = load_pipelines()
    norm = Normalizer(ps, "auto")
    fmt = FORMATS["bedrock_invocation"]
    docs = []
    for i, line in enumerate(_lines(fmt, n)):
        rec = json.loads(line)
        rec["requestId"] = f"bench-{i}"  # distinct records, distinct fingerprints
        _, doc = norm.normalize(Record("bench", i, json.dumps(rec)))
        assert isinstance(doc, dict), doc
        docs.append(doc)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        def baseline() -> float:
            index = f"{prefix}-base"
            actions = ({"_op_type": "create", "_index": index, "_id": d["event"]["id"], "_source": d} for d in docs)
            t = time.perf_counter()
            for ok, _ in streaming_bulk(client, actions, chunk_size=500, raise_on_error=False):
                assert ok
            return time.perf_counter() - t

        def ours() -> float:
            sink = _EsSink(settings, f"{prefix}-ours-{{format}}-{{namespace}}", "default")
            summary = IngestSummary("bench")
            t = time.perf_counter()
            sink.write({"bedrock_invocation": docs}, summary)
            el = time.perf_counter() - t
            assert summary.of("bedrock_invocation").stored == len(docs), summary.to_dict()
            return el
        times_base, times_ours = [], []
        for _ in range(2):  # alternate, fresh indices each time, best of 2
            times_base.append(baseline())
            times_ours.append(ours())
            _drop(client, prefix)
        tb, to = min(times_base), min(times_ours)
        print(f"bulk indexing into Elasticsearch ({n} normalized documents, create-only, best of 2)")
        print(f"  ours (siem-pack sink)          {n / to:>10.0f} docs/s")
        print(f"  elasticsearch.helpers.streaming_bulk {n / tb:>10.0f} docs/s")
        print(f"  ratio {tb / to:.3f}, target >= 0.8")
    finally:
        _drop(client, prefix)


def _drop(client: Any, prefix: str) -> None:
    """Delete the benchmark's indices by name (the node refuses wildcard deletes)."""
    names = list(client.options(ignore_status=[404]).indices.get(index=f"{prefix}-*").body or {})
    for name in names:
        client.indices.delete(index=name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=3000, help="records per format (offline)")
    ap.add_argument("--bulk", type=int, default=20000, help="documents for the bulk comparison (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs per format (offline), best kept")
    args = ap.parse_args()
    offline(args.records, args.repeat)
    bulk(args.bulk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
