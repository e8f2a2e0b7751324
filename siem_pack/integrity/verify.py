"""Cross-cutting (integrity): recompute every sealed window and the chains, and name what
changed. Input: an `EventSource` and a `SealStore` (store_duckdb.py, store_es.py), the seals
made by seals.py. Output: a `VerifyReport` (the CLI exits 1 on any finding), an
`EventProof` for one event (`verify_event`), seal status rows for the Integrity dashboard
(`seal_status`) and proofs for a case file (`verify_events`).

Findings, each naming the seal and/or event:
- modified_event / deleted_event / inserted_event: an event's canonical bytes differ from its
  leaf in the seal manifest / an id in the manifest is gone / an event in a sealed window is
  in no manifest (late events belong in an addendum: run `siem-pack seal`);
- missing_seal (a gap in a chain's seq, a closed window behind the chain head with events but
  no seal, a row gone from the DuckDB table), reordered_seal (prev_hash does not link, a
  position used twice, windows out of order), modified_seal (manifest or root do not match
  what was signed, seal_hash altered);
- bad_signature (the signature does not verify with the named key: the seal was changed or
  signed by another key), unknown_key (no published key record, a record whose id does not
  match its key, or a key outside `trusted_keys`);
- journal_mismatch (DuckDB: the journal file's chain, or table and journal disagree);
- modified_column (DuckDB: a per-field column that readers use, `"user.id"` say, disagrees
  with the event's sealed doc; `EventSource.self_check`);
- missing_head / head_mismatch (the head file, head.py: absent though the store holds seals,
  unreadable, badly signed, or anchoring another seal), and missing_seal for each anchored
  seal the chain no longer reaches (the newest seals were deleted).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..times import format_ts
from . import merkle
from .canonical import canonical_bytes, event_dataset, event_time
from .head import check_head
from .keys import KeyRing
from .seals import (
    DEFAULT_WINDOW,
    GENESIS,
    NO_DATASET,
    EventSource,
    Finding,
    LeafEntry,
    Seal,
    SealStore,
    parse_ts_or_none,
    window_leaves,
)

_BATCH = 200  # seals whose manifests are loaded at once


@dataclass
class VerifyReport:
    findings: list[Finding] = field(default_factory=list)
    seals_checked: int = 0
    windows_checked: int = 0
    events_checked: int = 0
    addenda: list[dict[str, Any]] = field(default_factory=list)  # late events sealed after their window (info)
    unsealed: list[dict[str, Any]] = field(default_factory=list)  # windows ahead of the chain head (info)
    keys: list[dict[str, Any]] = field(default_factory=list)
    head: dict[str, Any] | None = None  # the head file checked: path, written_at, key_id, chains anchored
    source: str = ""
    store: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts(), "findings": [asdict(f) for f in self.findings],
                "seals_checked": self.seals_checked, "windows_checked": self.windows_checked,
                "events_checked": self.events_checked, "addenda": self.addenda, "unsealed": self.unsealed,
                "keys": self.keys, "head": self.head, "source": self.source, "store": self.store}


def _key_problem(keys: KeyRing, seal: Seal) -> Finding | None:
    problem = keys.problem(seal.key_id, seal.signature, seal.body_bytes())
    if problem is None:
        return None
    kind, detail = problem
    if kind == "bad_signature":
        detail += ": the seal was changed or signed with another key"
    return Finding(kind, detail, seal_id=seal.seal_id, dataset=seal.dataset, window_start=seal.window_start)


def check_seal_content(seal: Seal) -> list[Finding]:
    """The manifest against what was signed (its SHA-256, the root, count, first/last ids)."""
    where = {"seal_id": seal.seal_id, "dataset": seal.dataset, "window_start": seal.window_start}
    if seal.manifest is None or hashlib.sha256(seal.manifest.encode("utf-8")).hexdigest() != seal.manifest_sha256:
        return [Finding("modified_seal", "manifest does not match the signed manifest_sha256", **where)]
    entries = seal.entries()
    problems = []
    if merkle.root([bytes.fromhex(h) for _, h in entries]).hex() != seal.root:
        problems.append("root")
    if len(entries) != seal.count:
        problems.append("count")
    if entries and (entries[0][0] != seal.first_id or entries[-1][0] != seal.last_id):
        problems.append("first/last id")
    return [Finding("modified_seal", f"manifest disagrees with the signed {', '.join(problems)}", **where)] if problems else []


def _check_chains(seals: Sequence[Seal]) -> list[Finding]:
    findings: list[Finding] = []
    by_ds: dict[str, list[Seal]] = defaultdict(list)
    for s in seals:
        by_ds[s.dataset].append(s)
    for ds, chain in sorted(by_ds.items()):
        chain.sort(key=lambda s: (s.seq, s.seal_id))
        seen: dict[int, Seal] = {}
        for s in chain:
            if s.seq in seen:
                findings.append(Finding("reordered_seal", f"chain {ds}: position {s.seq} is held by both "
                                        f"{seen[s.seq].seal_id} and {s.seal_id}", seal_id=s.seal_id, dataset=ds,
                                        window_start=s.window_start))
            seen.setdefault(s.seq, s)
        last_window: Seal | None = None
        for seq in range(0, max(seen) + 1):
            current = seen.get(seq)
            if current is None:
                after = seen.get(next((q for q in range(seq + 1, max(seen) + 1) if q in seen), -1))
                findings.append(Finding("missing_seal", f"chain {ds}: seal at position {seq} is missing"
                                        + (f" (before {after.seal_id})" if after else ""),
                                        seal_id=f"{ds}/{seq}", dataset=ds))
                continue
            prev = seen.get(seq - 1)
            if prev is not None and current.prev_hash != prev.seal_hash:
                findings.append(Finding("reordered_seal", f"chain {ds}: {current.seal_id} does not follow {prev.seal_id} "
                                        "(prev_hash does not link)", seal_id=current.seal_id, dataset=ds,
                                        window_start=current.window_start))
            if seq == 0 and current.prev_hash != GENESIS:
                findings.append(Finding("reordered_seal", f"chain {ds}: {current.seal_id} is first but links to an earlier "
                                        "seal", seal_id=current.seal_id, dataset=ds, window_start=current.window_start))
            if current.kind == "window":
                if last_window is not None and current.window_start <= last_window.window_start:
                    findings.append(Finding("reordered_seal", f"chain {ds}: window {current.window_start} of {current.seal_id} "
                                            f"comes after window {last_window.window_start} of {last_window.seal_id}",
                                            seal_id=current.seal_id, dataset=ds, window_start=current.window_start))
                last_window = current
    return findings


def _in_range(start: str, end: str, lo: datetime | None, hi: datetime | None) -> bool:
    s, e = parse_ts_or_none(start), parse_ts_or_none(end)
    return (hi is None or (s is not None and s < hi)) and (lo is None or (e is not None and e > lo))


Window = tuple[str, str, str]  # (dataset, window_start, window_end)


@dataclass
class _WindowScan:
    """The sealed windows in range, each with its seal and addenda, and what comparing their
    events now to the manifests left to report."""

    groups: dict[Window, list[Seal]] = field(default_factory=lambda: defaultdict(list))
    expected_anywhere: dict[str, Seal] = field(default_factory=dict)  # event id -> its seal, over every window
    deleted: list[tuple[str, Seal]] = field(default_factory=list)
    inserted: list[tuple[str, Window]] = field(default_factory=list)


def _check_seals(report: VerifyReport, keys: KeyRing, headers: Sequence[Seal], head: Path | None) -> None:
    """Each seal's key and hash, the chains, and the chains against the head file."""
    usage = Counter(s.key_id for s in headers)
    report.keys = [{"key_id": k.key_id, "published_at": k.published_at, "seals": usage.get(k.key_id, 0),
                    "trusted": keys.trusted is None or k.key_id in keys.trusted} for k in keys.by_id.values()]
    for s in headers:
        problem = _key_problem(keys, s)
        if problem:
            report.findings.append(problem)
        elif s.computed_hash() != s.seal_hash:
            report.findings.append(Finding("modified_seal", "seal_hash does not match the signed body",
                                           seal_id=s.seal_id, dataset=s.dataset, window_start=s.window_start))
    report.findings.extend(_check_chains(headers))
    if head is not None:
        anchored, findings = check_head(head, headers, keys)
        report.findings.extend(findings)
        if anchored is not None:
            report.head = {"path": str(head), "written_at": anchored.written_at, "key_id": anchored.key_id,
                           "chains": {ds: h.seal_id for ds, h in anchored.heads.items()}}


def _scan_windows(source: EventSource, store: SealStore, headers: Sequence[Seal], report: VerifyReport,
                  start: datetime | None, end: datetime | None) -> _WindowScan:
    """The events now against the manifests of their seals, window by window, a batch of
    seals' manifests at a time."""
    scan = _WindowScan()
    for s in headers:
        if _in_range(s.window_start, s.window_end, start, end):
            scan.groups[(s.dataset, s.window_start, s.window_end)].append(s)
    by_ds: dict[str, list[Window]] = defaultdict(list)
    for g in sorted(scan.groups):
        by_ds[g[0]].append(g)
    for ds, glist in sorted(by_ds.items()):
        for i in range(0, len(glist), _BATCH):
            batch = glist[i:i + _BATCH]
            ids = [s.seal_id for g in batch for s in scan.groups[g]]
            full = {s.seal_id: s for s in store.seals(with_manifest=True, ids=ids)}
            windows = [(_ts(ws), _ts(we)) for _, ws, we in batch]
            sizes = [sum(s.count for s in scan.groups[g]) for g in batch]
            for k, keyed in window_leaves(source, ds, windows, sizes):
                _compare_window(scan, batch[k], keyed, _expected(scan.groups[batch[k]], full, report,
                                                                 scan.expected_anywhere), report)
    return scan


def _compare_window(scan: _WindowScan, g: Window, keyed: Sequence[LeafEntry],
                    expected: dict[str, tuple[str, Seal]], report: VerifyReport) -> None:
    report.windows_checked += 1
    report.events_checked += len(keyed)
    seen: set[str] = set()
    for _, eid, leaf in keyed:
        if eid in seen:
            scan.inserted.append((eid, g))
            continue
        seen.add(eid)
        exp = expected.get(eid)
        if exp is None:
            scan.inserted.append((eid, g))
        elif exp[0] != leaf.hex():
            report.findings.append(Finding("modified_event", "canonical bytes differ from the sealed leaf",
                                           seal_id=exp[1].seal_id, event_id=eid, dataset=g[0], window_start=g[1]))
    scan.deleted.extend((eid, seal) for eid, (_, seal) in expected.items() if eid not in seen)


def _report_gone(scan: _WindowScan, moved: dict[str, dict[str, Any]], column_changed: set[str | None],
                 report: VerifyReport) -> None:
    """Sealed events missing from their window: deleted, or moved out of it."""
    for eid, seal in scan.deleted:
        doc = moved.get(eid)
        if doc is not None and eid in column_changed and _belongs(doc, seal):
            continue  # only its columns say it left the window: named by the column findings
        if doc is None:
            report.findings.append(Finding("deleted_event", f"sealed in {seal.seal_id}, no longer stored",
                                           seal_id=seal.seal_id, event_id=eid, dataset=seal.dataset,
                                           window_start=seal.window_start))
        else:
            t = event_time(doc)
            report.findings.append(Finding(
                "modified_event", f"moved out of its sealed window (now dataset {event_dataset(doc) or NO_DATASET}, "
                f"@timestamp {format_ts(t, 'auto') if t else 'missing'})", seal_id=seal.seal_id, event_id=eid,
                dataset=seal.dataset, window_start=seal.window_start))


def _report_inserted(scan: _WindowScan, moved: dict[str, dict[str, Any]], report: VerifyReport) -> None:
    for eid, g in scan.inserted:
        if eid in scan.expected_anywhere and eid in moved:
            continue  # reported above as moved
        ds, ws, _ = g
        report.findings.append(Finding("inserted_event", f"in sealed window {ws} of {ds} but in none of its seals "
                                       "(a late event is sealed in an addendum by `siem-pack seal`)",
                                       seal_id=scan.groups[g][0].seal_id, event_id=eid, dataset=ds, window_start=ws))


def verify(source: EventSource, store: SealStore, *, start: datetime | None = None, end: datetime | None = None,
           trusted_keys: Iterable[str] | None = None, head: Path | None = None) -> VerifyReport:
    """Check every seal (signature, key, chain) and every sealed window in [start, end)
    against the events as they are now, the stored copies of the events' fields against
    their documents, and, with `head`, the chains against that head file (head.py; without
    it the newest seals are not checked: the CLI always gives one)."""
    report = VerifyReport(source=source.name, store=store.name)
    keys = KeyRing(store.keys(), trusted_keys)
    headers = store.seals()
    report.seals_checked = len(headers)
    _check_seals(report, keys, headers, head)
    scan = _scan_windows(source, store, headers, report, start, end)
    moved = source.lookup([eid for eid, _ in scan.deleted]) if scan.deleted else {}
    # stored copies of the events' fields (DuckDB's columns) against their documents: the rows
    # in range, and those a column took out of their sealed window
    columns = _column_findings(source, start, end, list(moved), scan.expected_anywhere)
    _report_gone(scan, moved, {f.event_id for f in columns}, report)
    _report_inserted(scan, moved, report)
    report.findings.extend(columns)

    # windows behind a chain's head that hold events but have no seal
    _check_unsealed(source, headers, report, start, end)
    report.findings.extend(store.self_check())
    return report


def _column_findings(source: EventSource, start: datetime | None, end: datetime | None, moved: Sequence[str],
                     sealed: dict[str, Seal]) -> list[Finding]:
    """`modified_column` findings of the rows in [start, end) and of `moved`, each with the
    seal of its event when it was checked."""
    found = {(f.event_id, f.column): f for f in source.self_check(start, end)}
    if moved:
        found.update({(f.event_id, f.column): f for f in source.self_check(ids=moved)})
    out = []
    for f in found.values():
        seal = sealed.get(f.event_id or "")
        out.append(replace(f, seal_id=seal.seal_id, window_start=seal.window_start) if seal else f)
    return out


def _belongs(doc: dict[str, Any], seal: Seal) -> bool:
    """The document's own dataset and @timestamp place it in the seal's window."""
    t = event_time(doc)
    return ((event_dataset(doc) or NO_DATASET) == seal.dataset and t is not None
            and _ts(seal.window_start) <= t < _ts(seal.window_end))


def _expected(heads: Sequence[Seal], full: dict[str, Seal], report: VerifyReport,
              anywhere: dict[str, Seal]) -> dict[str, tuple[str, Seal]]:
    """event id -> (sealed leaf, seal) over a window's seal and addenda whose content checks out."""
    expected: dict[str, tuple[str, Seal]] = {}
    for head in heads:
        seal = full.get(head.seal_id)
        if seal is None:
            continue
        content = check_seal_content(seal)
        if content:
            report.findings.extend(content)
            continue
        if seal.kind == "addendum":
            report.addenda.append({"seal_id": seal.seal_id, "addendum_of": seal.addendum_of, "dataset": seal.dataset,
                                   "window_start": seal.window_start, "count": seal.count,
                                   "sealed_at": seal.sealed_at})
        for eid, leaf in seal.entries():
            expected[eid] = (leaf, seal)
            anywhere[eid] = seal
    return expected


def _ts(text: str) -> datetime:
    value = parse_ts_or_none(text)
    if value is None:
        raise ValueError(f"unreadable time {text!r}")
    return value


def _check_unsealed(source: EventSource, headers: Sequence[Seal], report: VerifyReport,
                    start: datetime | None, end: datetime | None) -> None:
    lengths: dict[str, Counter[timedelta]] = defaultdict(Counter)
    head_start: dict[str, str] = {}
    sealed: set[tuple[str, str]] = set()
    for s in headers:
        sealed.add((s.dataset, s.window_start))
        if s.kind == "window":
            lengths[s.dataset][_ts(s.window_end) - _ts(s.window_start)] += 1
            head_start[s.dataset] = max(head_start.get(s.dataset, ""), s.window_start)
    by_length: dict[timedelta, set[str]] = defaultdict(set)
    for ds, c in lengths.items():
        by_length[c.most_common(1)[0][0]].add(ds)
    if not by_length:
        by_length[DEFAULT_WINDOW] = set()
    for length, datasets in by_length.items():
        for b in source.buckets(length):
            if (start and b.start + length <= start) or (end and b.start >= end):
                continue
            ws = format_ts(b.start, "auto")
            if (b.dataset, ws) in sealed:
                continue
            if b.dataset in datasets and ws < head_start[b.dataset]:
                report.findings.append(Finding("missing_seal", f"window {ws} of {b.dataset} holds {b.count} event(s) "
                                               "but has no seal, though later windows are sealed",
                                               dataset=b.dataset, window_start=ws))
            elif b.dataset in datasets or not lengths.get(b.dataset):
                report.unsealed.append({"dataset": b.dataset, "window_start": ws, "count": b.count})


@dataclass
class EventProof:
    """Inclusion of one event in a signed seal, checked against the event as stored now."""

    event_id: str
    proven: bool
    problems: list[str] = field(default_factory=list)
    seal_id: str | None = None
    key_id: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    leaf_index: int | None = None
    leaf: str | None = None
    path: list[dict[str, str]] = field(default_factory=list)
    root: str | None = None
    canonical_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_event(source: EventSource, store: SealStore, event_id: str,
                 trusted_keys: Iterable[str] | None = None) -> EventProof:
    """Prove that `event_id` is stored unchanged and included in a signed seal."""
    return verify_events(source, store, [event_id], trusted_keys)[0]


@dataclass
class _Prover:
    """What proving events reads once: the seals, the key ring, the seals out of their chain,
    the events' disagreeing columns; manifests fetched as needed and kept."""

    source: EventSource
    store: SealStore
    headers: list[Seal]
    keys: KeyRing
    chain_problems: set[str]
    column_problems: dict[str, list[str]]  # event id -> its columns that disagree with its doc
    cache: dict[str, Seal] = field(default_factory=dict)

    def locate(self, eid: str, ds: str, t: datetime) -> tuple[tuple[Seal, int, tuple[str, str]] | None, bool]:
        """(the seal holding the event, its leaf index and entry) or None; whether its window has seals."""
        candidates = [s for s in self.headers if s.dataset == ds and _ts(s.window_start) <= t < _ts(s.window_end)]
        missing = [s.seal_id for s in candidates if s.seal_id not in self.cache]
        self.cache.update({s.seal_id: s for s in self.store.seals(with_manifest=True, ids=missing)} if missing else {})
        found = next(((self.cache[s.seal_id], i, e) for s in candidates if s.seal_id in self.cache
                      for i, e in enumerate(self.cache[s.seal_id].entries()) if e[0] == eid), None)
        return found, bool(candidates)

    def prove(self, eid: str, doc: dict[str, Any] | None) -> EventProof:
        if doc is None:
            return EventProof(eid, False, ["event not found in " + self.source.name])
        ds, t = event_dataset(doc) or NO_DATASET, event_time(doc)
        if t is None:
            return EventProof(eid, False, ["event has no readable @timestamp"])
        found, sealed_window = self.locate(eid, ds, t)
        if found is None:
            why = "its window is not sealed yet (run `siem-pack seal`)" if not sealed_window else \
                "it is in none of the seals of its window"
            return EventProof(eid, False, [f"event is not sealed: {why}"])
        seal, index, (_, sealed_leaf) = found
        data = canonical_bytes(doc)
        leaf = merkle.leaf_hash(data)
        proof = merkle.prove([bytes.fromhex(h) for _, h in seal.entries()], index)
        problems = [f.detail for f in check_seal_content(seal)]
        key_problem = _key_problem(self.keys, seal)
        if key_problem:
            problems.append(key_problem.detail)
        if seal.seal_id in self.chain_problems:
            problems.append(f"seal {seal.seal_id} is out of its chain (run `siem-pack verify`)")
        if leaf.hex() != sealed_leaf:
            problems.append("the event as stored now differs from the sealed event")
        problems.extend(self.column_problems.get(eid, []))
        if not proof.check(leaf) or proof.root != seal.root:
            problems.append("the audit path does not lead to the signed root")
        return EventProof(
            eid, not problems, problems, seal.seal_id, seal.key_id, seal.window_start, seal.window_end, index,
            leaf.hex(), [{"side": p.side, "hash": p.hash} for p in proof.path], seal.root,
            hashlib.sha256(data).hexdigest())


def verify_events(source: EventSource, store: SealStore, event_ids: Sequence[str],
                  trusted_keys: Iterable[str] | None = None) -> list[EventProof]:
    """Proofs for several events (a case file's integrity section), in the order given."""
    docs = source.lookup(list(event_ids))
    headers = store.seals()
    keys = KeyRing(store.keys(), trusted_keys)
    chain_problems = {f.seal_id for f in _check_chains(headers) if f.seal_id}
    column_problems: dict[str, list[str]] = defaultdict(list)
    for f in source.self_check(ids=list(docs)) if docs else []:
        column_problems[f.event_id or ""].append(f.detail)
    prover = _Prover(source, store, headers, keys, chain_problems, column_problems)
    return [prover.prove(eid, docs.get(eid)) for eid in event_ids]


def seal_status(store: SealStore, source: EventSource | None = None) -> list[dict[str, Any]]:
    """One row per dataset chain for the Integrity panels: seals, addenda, last window sealed,
    last sealed_at, head hash, key ids, signature/chain problems (no event reads), and, with a
    `source`, the events still waiting for a seal."""
    headers = store.seals()
    keys = KeyRing(store.keys(), None)
    chain = Counter(f.dataset for f in _check_chains(headers))
    rows: dict[str, dict[str, Any]] = {}
    for s in sorted(headers, key=lambda s: (s.dataset, s.seq)):
        r = rows.setdefault(s.dataset, _status_row(s.dataset))
        r["seals"] += 1
        r["addenda"] += s.kind == "addendum"
        r["events_sealed"] += s.count
        if s.kind == "window":
            r["last_window_end"] = max(r["last_window_end"] or "", s.window_end)
        r["last_sealed_at"] = max(r["last_sealed_at"] or "", s.sealed_at)
        r["head_seq"], r["head_hash"] = s.seq, s.seal_hash
        if s.key_id not in r["key_ids"]:
            r["key_ids"].append(s.key_id)
        r["problems"] += _key_problem(keys, s) is not None
    for ds, n in chain.items():
        if ds in rows:
            rows[ds]["problems"] += n
    if source is not None:
        for b in source.buckets(DEFAULT_WINDOW):
            r = rows.setdefault(b.dataset, _status_row(b.dataset))
            if r["last_window_end"] is None or format_ts(b.start, "auto") >= r["last_window_end"]:
                r["unsealed_events"] = (r["unsealed_events"] or 0) + b.count
    return [rows[k] for k in sorted(rows)]


def _status_row(dataset: str) -> dict[str, Any]:
    return {"dataset": dataset, "seals": 0, "addenda": 0, "events_sealed": 0, "last_window_end": None,
            "last_sealed_at": None, "head_seq": None, "head_hash": None, "key_ids": [], "problems": 0,
            "unsealed_events": None}
