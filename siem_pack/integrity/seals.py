"""Cross-cutting (integrity): signed, chained seals over closed event windows.

Input: events from an `EventSource` (DuckDB `events` or `logs-siem_pack.*`), in windows of
a fixed length (epoch-aligned, e.g. 1h) per `event.dataset`. Output: `Seal` records appended
to a `SealStore` (store_duckdb.py, store_es.py); verify.py checks them.

A seal holds the window, the count, the first and last event ids, the Merkle root over the
events' canonical bytes in (@timestamp, event.id) order (merkle.py, canonical.py), the
SHA-256 of its manifest (the ordered `[event.id, leaf hash]` list, which lets verify name
each changed event), the previous seal's hash and its position `seq`, and an Ed25519
signature (keys.py) over all of that.

Decisions (docs/integrity.md):
- One chain PER DATASET (`seal_id` = "<dataset>/<seq>"): datasets seal independently and in
  parallel, and the create-only store refuses a second seal at the same position (no forks).
- A window is sealed once its end plus a grace period has passed. Events that arrive later
  for a sealed window are sealed in an ADDENDUM (kind "addendum", `addendum_of` the window
  seal) on the same chain, and reported by `seal_windows`; so is a whole window whose events
  all arrive after later windows were sealed (`addendum_of` None).
"""

from __future__ import annotations

import base64
import hashlib
import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, Protocol

from ..errors import InputError
from ..times import format_ts, parse_ts, utcnow
from . import merkle
from .canonical import canonical_bytes, event_id, event_time
from .keys import ALG, PublicKey, SigningKey

VERSION = 1
GENESIS = "0" * 64
NO_DATASET = "(none)"
SealKind = Literal["window", "addendum"]
DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_GRACE = timedelta(minutes=15)

def window_of(ts: datetime, window: timedelta) -> datetime:
    """Start of the epoch-aligned window holding `ts` (naive UTC)."""
    step = int(window.total_seconds() * 1_000_000)
    us = _epoch_us(ts)
    return datetime(1970, 1, 1) + timedelta(microseconds=(us // step) * step)


def _epoch_us(ts: datetime) -> int:
    d = ts - datetime(1970, 1, 1)
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def parse_ts_or_none(value: Any) -> datetime | None:
    return parse_ts(value) if value else None


def compact_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Seal:
    """One seal. Every field but `signature`, `seal_hash` and `manifest` is signed."""

    seal_id: str
    kind: SealKind
    dataset: str
    seq: int
    prev_hash: str
    window_start: str
    window_end: str
    count: int
    first_id: str | None
    last_id: str | None
    root: str
    manifest_sha256: str
    addendum_of: str | None
    sealed_at: str
    key_id: str
    alg: str = ALG
    version: int = VERSION
    signature: str = ""
    seal_hash: str = ""
    manifest: str | None = field(default=None, repr=False)  # JSON [[event.id, leaf hex], ...]

    def body(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _UNSIGNED}

    def body_bytes(self) -> bytes:
        return compact_json(self.body())

    def computed_hash(self) -> str:
        return hashlib.sha256(self.body_bytes()).hexdigest()

    def record(self, with_manifest: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not with_manifest or self.manifest is None:
            out.pop("manifest")
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Seal:
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in record.items() if k in known})
        except TypeError as exc:
            raise InputError(f"malformed seal record: {exc}", where=str(record.get("seal_id"))) from exc

    def entries(self) -> list[tuple[str, str]]:
        """The manifest as (event.id, leaf hex) pairs, in window order."""
        return list(self._entries)

    @cached_property
    def _entries(self) -> tuple[tuple[str, str], ...]:  # parsed once: verify reads it several times
        if self.manifest is None:
            raise ValueError(f"seal {self.seal_id} was loaded without its manifest")
        return tuple((str(i), str(h)) for i, h in json.loads(self.manifest))


_UNSIGNED = frozenset({"signature", "seal_hash", "manifest"})


FindingKind = Literal["modified_event", "modified_column", "deleted_event", "inserted_event", "missing_seal",
                      "reordered_seal", "modified_seal", "bad_signature", "unknown_key", "journal_mismatch",
                      "missing_head", "head_mismatch"]


@dataclass(frozen=True)
class Finding:
    """One thing verify found. `kind` names it; `seal_id`/`event_id` (and `column`) say which."""

    kind: FindingKind
    detail: str
    seal_id: str | None = None
    event_id: str | None = None
    dataset: str | None = None
    window_start: str | None = None
    column: str | None = None  # modified_column: the stored column that disagrees with the event's doc


@dataclass(frozen=True)
class Bucket:
    dataset: str
    start: datetime  # naive UTC
    count: int


class EventSource(Protocol):
    """Where sealed events live (DuckDB `events`, or an Elasticsearch index pattern)."""

    name: str

    def buckets(self, window: timedelta) -> list[Bucket]:
        """Event counts per (dataset, window start), all time."""
        ...

    def window_events(self, dataset: str, start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
        """Whole documents of one dataset with start <= @timestamp < end (any order), one at a
        time where the backend can stream them."""
        ...

    def lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Documents by event.id (missing ids left out)."""
        ...

    def self_check(self, start: datetime | None = None, end: datetime | None = None,
                   ids: Sequence[str] | None = None) -> list[Finding]:
        """Stored copies of an event's fields that disagree with its document, the sealed
        evidence (DuckDB's per-field columns: `modified_column`); none on Elasticsearch, where
        `_source` is the only copy. `start`/`end` or `ids` limit the events checked."""
        ...


class SealStore(Protocol):
    """Where seals and key records live: append-only."""

    name: str

    def seals(self, with_manifest: bool = False, ids: Sequence[str] | None = None) -> list[Seal]:
        ...

    def keys(self) -> list[PublicKey]:
        ...

    def append(self, seals: Sequence[Seal]) -> None:
        """Create-only, in order."""
        ...

    def publish_key(self, key: PublicKey, published_at: str) -> bool:
        """Publish a public key record; False when it was already there."""
        ...

    def self_check(self) -> list[Finding]:
        """Problems with the store itself (the DuckDB journal); none for Elasticsearch."""
        ...


LeafEntry = tuple[datetime, str, bytes]  # (@timestamp, event.id, leaf hash): one event, its document dropped


def leaf_entry(doc: Mapping[str, Any], t: datetime | None = None) -> LeafEntry:
    """(@timestamp, event.id, leaf hash) of one document (`t`: its @timestamp when already read)."""
    ev = doc.get("event")
    eid = ev.get("id") if type(ev) is dict else None  # the usual nested form, else any form
    if type(eid) is not str:
        eid = event_id(doc)
        if eid is None:
            raise InputError("an event without event.id cannot be sealed", where=str(doc.get("@timestamp")))
    return (t or event_time(doc) or datetime.min, eid, merkle.leaf_hash(canonical_bytes(doc)))


def in_window_order(keyed: list[LeafEntry]) -> list[tuple[str, bytes]]:
    """(event.id, leaf hash) in window order (@timestamp, event.id); sorts `keyed` in place."""
    keyed.sort()
    return [(eid, leaf) for _, eid, leaf in keyed]


def leaves_of(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """(event.id, leaf hash) for each document, in window order (@timestamp, event.id)."""
    return in_window_order([leaf_entry(doc) for doc in docs])


def leaf_map(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """(event.id, leaf hash) for each document, in the order given (verify needs no order)."""
    return [(eid, leaf) for _, eid, leaf in map(leaf_entry, docs)]


def window_leaves(source: EventSource, dataset: str, windows: Sequence[tuple[datetime, datetime]],
                  sizes: Sequence[int], limit: int = 20_000) -> Iterator[tuple[int, list[LeafEntry]]]:
    """Yield (i, leaf entries of window i, in no order) for sorted, non-overlapping `windows` of
    one dataset, fetching consecutive windows together (up to about `limit` events per query,
    by `sizes`). A document goes to the window its own @timestamp falls in; it is hashed as it
    streams in and not kept (holding whole documents costs memory and garbage-collector time)."""
    i = 0
    while i < len(windows):
        j, total = i, 0
        while j < len(windows) and (j == i or total + sizes[j] <= limit):
            total += sizes[j]
            j += 1
        starts = [w[0] for w in windows[i:j]]
        ends = [w[1] for w in windows[i:j]]
        parts: list[list[LeafEntry]] = [[] for _ in starts]
        for doc in source.window_events(dataset, starts[0], ends[-1]):
            t = event_time(doc)
            if t is None:
                continue
            k = bisect_right(starts, t) - 1
            if k >= 0 and t < ends[k]:
                parts[k].append(leaf_entry(doc, t))
        yield from ((i + k, part) for k, part in enumerate(parts))
        i = j


def manifest_text(entries: Sequence[tuple[str, bytes]]) -> str:
    return compact_json([[i, h.hex()] for i, h in entries]).decode("utf-8")


def make_seal(entries: Sequence[tuple[str, bytes]], *, dataset: str, start: datetime, end: datetime, seq: int,
              prev_hash: str, key: SigningKey, sealed_at: datetime, kind: SealKind = "window",
              addendum_of: str | None = None) -> Seal:
    """Sign a seal over `entries` (from `leaves_of`)."""
    manifest = manifest_text(entries)
    unsigned = Seal(
        seal_id=f"{dataset}/{seq}", kind=kind, dataset=dataset, seq=seq, prev_hash=prev_hash,
        window_start=format_ts(start, "auto"), window_end=format_ts(end, "auto"), count=len(entries),
        first_id=entries[0][0] if entries else None, last_id=entries[-1][0] if entries else None,
        root=merkle.root([h for _, h in entries]).hex(),
        manifest_sha256=hashlib.sha256(manifest.encode("utf-8")).hexdigest(),
        addendum_of=addendum_of, sealed_at=format_ts(sealed_at, "auto"), key_id=key.key_id, manifest=manifest,
    )
    body = unsigned.body_bytes()
    return replace(unsigned, signature=base64.b64encode(key.sign(body)).decode(),
                   seal_hash=hashlib.sha256(body).hexdigest())


@dataclass
class LateEvents:
    window_seal: str | None  # None: the whole window arrived after later windows were sealed
    addendum: str
    dataset: str
    window_start: str
    event_ids: list[str]


@dataclass
class SealReport:
    sealed: list[Seal] = field(default_factory=list)  # new window seals and addenda, in chain order
    late: list[LateEvents] = field(default_factory=list)
    pending: list[Bucket] = field(default_factory=list)  # windows still open or in their grace period
    key_published: str | None = None
    heads: dict[str, str] = field(default_factory=dict)  # dataset -> seal_hash of its chain head
    head_file: str | None = None  # the head file written (head.py), when the heads moved

    def to_dict(self) -> dict[str, Any]:
        return {
            "sealed": [s.record(with_manifest=False) for s in self.sealed],
            "late": [asdict(x) for x in self.late],
            "pending": [{"dataset": b.dataset, "window_start": format_ts(b.start, "auto"), "count": b.count}
                        for b in self.pending],
            "key_published": self.key_published,
            "heads": self.heads,
            "head_file": self.head_file,
        }


@dataclass
class _Chains:
    """The seals already made, indexed: each dataset's chain head, the seals of each
    (dataset, window_start), each dataset's latest window seal."""

    heads: dict[str, Seal] = field(default_factory=dict)
    covered: dict[tuple[str, str], list[Seal]] = field(default_factory=lambda: defaultdict(list))
    last_window: dict[str, str] = field(default_factory=dict)  # dataset -> window_start of its latest window seal

    @classmethod
    def of(cls, existing: Iterable[Seal]) -> _Chains:
        chains = cls()
        for s in existing:
            if s.kind == "window":
                chains.last_window[s.dataset] = max(chains.last_window.get(s.dataset, ""), s.window_start)
            if s.dataset not in chains.heads or s.seq > chains.heads[s.dataset].seq:
                chains.heads[s.dataset] = s
            chains.covered[(s.dataset, s.window_start)].append(s)
        return chains

    def next_link(self, dataset: str) -> tuple[int, str]:
        """(seq, prev_hash) of the next seal in the dataset's chain."""
        head = self.heads.get(dataset)
        return (head.seq + 1, head.seal_hash) if head else (0, GENESIS)


def _to_seal(source: EventSource, chains: _Chains, window: timedelta, grace: timedelta, now: datetime,
             report: SealReport) -> dict[str, list[Bucket]]:
    """Per dataset, the closed windows with events their seals do not count yet; the open
    ones (or in their grace period) go to `report.pending`."""
    todo: dict[str, list[Bucket]] = defaultdict(list)
    for b in sorted(source.buckets(window), key=lambda b: (b.dataset, b.start)):
        if b.start + window + grace > now:
            report.pending.append(b)
            continue
        prior = chains.covered.get((b.dataset, format_ts(b.start, "auto")), [])
        if prior and sum(s.count for s in prior) >= b.count:
            continue  # sealed (whether the events still match is verify's business)
        todo[b.dataset].append(b)
    return todo


@dataclass(frozen=True)
class _SealWindow:
    """One window to seal: its dataset and span, its events' leaves, the link to its chain."""

    dataset: str
    start: datetime
    end: datetime
    keyed: list[LeafEntry]
    seq: int
    prev: str


def _seal_unsealed(w: _SealWindow, chains: _Chains, key: SigningKey, now: datetime,
                   report: SealReport) -> Seal | None:
    """A window no seal covers: a window seal, or an addendum to no seal when the chain has
    already sealed later windows (the whole window arrived late)."""
    if not w.keyed:
        return None
    behind = chains.last_window.get(w.dataset, "") > format_ts(w.start, "auto")
    entries = in_window_order(w.keyed)
    seal = make_seal(entries, dataset=w.dataset, start=w.start, end=w.end, seq=w.seq, prev_hash=w.prev,
                     key=key, sealed_at=now, kind="addendum" if behind else "window")
    if behind:
        report.late.append(LateEvents(None, seal.seal_id, w.dataset, format_ts(w.start, "auto"),
                                      [i for i, _ in entries]))
    else:
        chains.last_window[w.dataset] = seal.window_start
    return seal


def _seal_late(w: _SealWindow, prior: list[Seal], store: SealStore, key: SigningKey, now: datetime,
               report: SealReport) -> Seal | None:
    """An addendum to a sealed window with the events its seals do not hold, if any."""
    sealed = store.seals(with_manifest=True, ids=[p.seal_id for p in prior])
    known = {eid for s in sealed for eid, _ in s.entries()}
    late = in_window_order([k for k in w.keyed if k[1] not in known])
    if not late:
        return None
    main = next((p for p in prior if p.kind == "window"), prior[0])
    seal = make_seal(late, dataset=w.dataset, start=w.start, end=w.end, seq=w.seq, prev_hash=w.prev,
                     key=key, sealed_at=now, kind="addendum", addendum_of=main.seal_id)
    report.late.append(LateEvents(main.seal_id, seal.seal_id, w.dataset, format_ts(w.start, "auto"),
                                  [i for i, _ in late]))
    return seal


def seal_windows(source: EventSource, store: SealStore, key: SigningKey, *, window: timedelta = DEFAULT_WINDOW,
                 grace: timedelta = DEFAULT_GRACE, now: datetime | None = None) -> SealReport:
    """Seal every closed (dataset, window) not sealed yet, and seal late events of sealed
    windows in addenda. Idempotent: a second run with nothing new seals nothing."""
    now = now or utcnow()
    report = SealReport()
    if store.publish_key(key.public, format_ts(now, "auto")):
        report.key_published = key.key_id
    chains = _Chains.of(store.seals())
    new: list[Seal] = []
    for dataset, buckets in sorted(_to_seal(source, chains, window, grace, now, report).items()):
        windows = [(b.start, b.start + window) for b in buckets]
        for i, keyed in window_leaves(source, dataset, windows, [b.count for b in buckets]):
            w = _SealWindow(dataset, *windows[i], keyed, *chains.next_link(dataset))
            prior = chains.covered.get((dataset, format_ts(w.start, "auto")), [])
            seal = _seal_late(w, prior, store, key, now, report) if prior else \
                _seal_unsealed(w, chains, key, now, report)
            if seal is not None:
                chains.heads[dataset] = seal
                new.append(seal)
    if new:
        store.append(new)
    report.sealed = new
    report.heads = {d: s.seal_hash for d, s in sorted(chains.heads.items())}
    return report
