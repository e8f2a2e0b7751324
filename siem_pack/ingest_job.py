"""Stage 1 → 2, the ingest job: records → the entry pipeline → ECS events → the embedded
store or Elasticsearch, with the ingest invariant checked and printed for every format:

    read = stored + already present + dropped (with the pipeline's reason) + dead-lettered (with the error)

It sits above its parts: the package siem_pack.ingest (formats, pipelines, the offline
executor, the reader), siem_pack.templates (the write index of a cluster without data
streams) and the storage ports (siem_pack.backends), so no part imports back up into it.

`normalize_file` / `normalize_records` run the offline executor only (no store). `ingest`
stores: into DuckDB (siem_pack.backends.duckdb, create-only by `event.id`), or into
Elasticsearch through siem_pack.backends.es (`write_each`: `_id` = `event.id`, create-only, a
409 counts as already present). Documents are normalized offline and bulk-indexed with
`pipeline: _none`; the summary notes which of our pipelines' processors the cluster lacks
(`missing_processors`, as `siem-pack doctor` lists them). Index names come from
siem_pack.backends.indices (`EVENTS_TARGET`, `DEAD_LETTER_INDEX`).

`event.id` is the event fingerprint: the sha256 (hex) of the record text as read (one line of
NDJSON; array elements and pretty-printed objects in compact form). The same record read again,
by any path and with any --format, has the same id; the hash never reveals a secret in it.

Neighbours: siem_pack.ingest.reader (records, dead letters), siem_pack.ingest.pipeline
(pipelines and executor), siem_pack.backends, siem_pack.cluster, siem_pack.templates; called by
siem_pack.cli.ingest, siem_pack.run and siem_pack.drill.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from .backends.indices import DEAD_LETTER_INDEX, EVENTS_TARGET
from .doc import flatten
from .errors import ClusterError, ConfigError, InputError, SiemPackError
from .ingest.pipeline import ENTRY, PipelineSet, cluster_bodies, load_pipelines, processor_types
from .ingest.reader import MAX_LINE_BYTES, DeadLetter, Record, iter_files, read_records, redact
from .schema import Schema, load_schema
from .settings import ClusterSettings
from .times import format_ts, parse_ts, utcnow

UNKNOWN = "unknown"
RERUN_SAFE = ("re-running the same command is safe: events are written create-only with deterministic ids, "
              "so those already stored are counted as already present")
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
Progress = Callable[[int], None]  # called with the number of records just handled


# ---- results ---------------------------------------------------------------------------------
@dataclass
class FormatCounts:
    read: int = 0
    stored: int = 0
    already_present: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    drop_reasons: Counter[str] = field(default_factory=Counter)
    dead_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def balanced(self) -> bool:
        return self.read == self.stored + self.already_present + self.dropped + self.dead_lettered

    def add(self, other: FormatCounts) -> None:
        self.read += other.read
        self.stored += other.stored
        self.already_present += other.already_present
        self.dropped += other.dropped
        self.dead_lettered += other.dead_lettered
        self.drop_reasons.update(other.drop_reasons)
        self.dead_reasons.update(other.dead_reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "stored": self.stored, "already_present": self.already_present,
                "dropped": self.dropped, "dead_lettered": self.dead_lettered,
                "drop_reasons": dict(self.drop_reasons), "dead_letter_reasons": dict(self.dead_reasons)}


@dataclass
class IngestSummary:
    target: str
    formats: dict[str, FormatCounts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dead_letter_target: str = ""  # where the dead letters went, for the verdict line

    def of(self, fmt: str) -> FormatCounts:
        return self.formats.setdefault(fmt, FormatCounts())

    @property
    def total(self) -> FormatCounts:
        t = FormatCounts()
        for c in self.formats.values():
            t.add(c)
        return t

    def check(self) -> None:
        """The ingest invariant, per format; a breach is a bug, never silent."""
        for fmt, c in self.formats.items():
            if not c.balanced:
                raise AssertionError(f"ingest invariant broken for {fmt}: read {c.read} != stored {c.stored} + "
                                     f"already present {c.already_present} + dropped {c.dropped} + "
                                     f"dead-lettered {c.dead_lettered}")

    @property
    def clean(self) -> bool:
        """Nothing dead-lettered or unreadable (the CLI exits 1 otherwise)."""
        return self.total.dead_lettered == 0

    def verdict(self) -> str:
        """One line: what happened, in words a person acts on."""
        t = self.total
        if t.read == 0:
            return "result: no records found in the input (empty files or folders?)"
        if t.dead_lettered == 0:
            return f"result: ok, {t.read:,} records read, none dead-lettered"
        share = "every record" if t.dead_lettered == t.read else f"{t.dead_lettered:,} of {t.read:,} records"
        return f"result: {share} dead-lettered (reasons above; kept in {self.dead_letter_target or 'the summary only'})"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "formats": {k: v.to_dict() for k, v in sorted(self.formats.items())},
                "total": self.total.to_dict(), "invariant_holds": all(c.balanced for c in self.formats.values()),
                "clean": self.clean, "dead_letter_target": self.dead_letter_target, "notes": self.notes}

    def render(self) -> str:
        rows = [("format", "read", "stored", "already", "dropped", "dead", "")]
        for fmt, c in [*sorted(self.formats.items()), ("TOTAL", self.total)]:
            rows.append((fmt, str(c.read), str(c.stored), str(c.already_present), str(c.dropped),
                         str(c.dead_lettered), "INVARIANT BROKEN" if not c.balanced
                         else "DEAD LETTERS" if c.dead_lettered else "ok"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"ingest into {self.target}"]
        last = len(widths) - 1
        lines += ["  " + "  ".join(v.ljust(w) if i in (0, last) else v.rjust(w)
                                   for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
        lines.append("  invariant: read = stored + already present + dropped + dead-lettered")
        total = self.total
        for title, reasons in (("dropped", total.drop_reasons), ("dead letters", total.dead_reasons)):
            if reasons:
                lines.append(f"  {title} by reason:")
                lines += [f"    {n:>6}  {r}" for r, n in reasons.most_common(10)]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(self.verdict())
        return "\n".join(lines)


@dataclass
class Dropped:
    record: Record
    reason: str
    format: str


@dataclass
class NormalizeResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.events) + len(self.dropped) + len(self.dead_letters)


# ---- normalization ------------------------------------------------------------------------------
# Prompt and completion text is not stored by default; `truncated` keeps the first prompt cut
# to 256 characters, `hashed` only the sha256 and length of the whole prompt (docs/ingest.md).
# The entry pipeline's `siem_pack.content_mode` hint: `hashed` asks it for the `full` prompt,
# which `hash_prompt` replaces by its hash right after the pipeline (no hash processor is the
# same on Elasticsearch and OpenSearch, and the pipelines use no scripts).
ContentMode = Literal["none", "truncated", "hashed"]
CONTENT_MODES: tuple[str, ...] = ("none", "truncated", "hashed")
_PIPELINE_HINTS = {"truncated": "truncated", "hashed": "full"}


def fingerprint(record_text: str) -> str:
    """`event.id`: sha256 of the record text as read."""
    return hashlib.sha256(record_text.encode("utf-8")).hexdigest()


def hash_prompt(doc: dict[str, Any]) -> None:
    """`--keep-content hashed`: replace `siem_pack.content.prompt` (the whole first prompt, as the
    pipeline extracted it from the secret-redacted record) by `prompt_hash`, the hex sha256 of
    its UTF-8 text with JSON escapes decoded, and `prompt_length` (characters). In place."""
    content = (doc.get("siem_pack") or {}).get("content")
    if not isinstance(content, dict) or not isinstance(content.get("prompt"), str):
        return
    raw = content.pop("prompt")
    try:
        text = json.loads(f'"{raw}"')
    except ValueError:
        text = raw
    content["prompt_hash"] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    content["prompt_length"] = len(text)


class Normalizer:
    """Records → events, dropped records or dead letters, through the entry pipeline offline."""

    def __init__(self, pipelines: PipelineSet | None = None, fmt: str = "auto", namespace: str = "default",
                 schema: Schema | None = None, now: Callable[[], datetime] | None = None,
                 content_mode: ContentMode = "none") -> None:
        self.pipelines = pipelines or load_pipelines()
        self.fmt = _check_format(fmt)
        if content_mode not in CONTENT_MODES:
            raise ConfigError(f"unknown content mode {content_mode!r}; known: {', '.join(CONTENT_MODES)}",
                              where="--keep-content")
        self.content_mode = content_mode
        self.namespace = namespace
        self.schema = schema or load_schema()
        self._now = now or (lambda: datetime.now(UTC))
        self._checks = [(f.name, f.type) for f in self.schema.fields
                        if f.type in ("long", "double", "float", "boolean", "date", "ip")]
        self._check_tree = _check_tree(self._checks)

    def normalize(self, rec: Record) -> tuple[str, dict[str, Any] | Dropped | DeadLetter]:
        """(format, event | Dropped | DeadLetter) for one record."""
        src: dict[str, Any] = {"message": rec.text}
        if self.fmt != "auto":
            src["siem_pack"] = {"format": self.fmt}
        if self.content_mode != "none":  # the entry pipeline's hint: keep the prompt (truncated or full)
            src.setdefault("siem_pack", {})["content_mode"] = _PIPELINE_HINTS[self.content_mode]
        now = self._now()
        out = self.pipelines.executor.run(ENTRY, src, now)
        fmt = self.fmt if self.fmt != "auto" else UNKNOWN
        if out.dropped:
            reason = out.drop_reason or "dropped by the pipeline"
            return fmt, Dropped(rec, str(reason), fmt)
        if out.error is not None or out.doc is None:
            where = f" [{out.error_tag}]" if out.error_tag else ""
            return fmt, _dead_letter(rec, f"{out.error}{where}", fmt)
        doc = out.doc
        if self.content_mode == "hashed":  # the full prompt never leaves the Normalizer
            hash_prompt(doc)
        fmt = str((doc.get("siem_pack") or {}).get("format") or fmt)
        problem = self._validate(doc, now)
        if problem:
            return fmt, _dead_letter(rec, problem, fmt)
        event = doc.setdefault("event", {})
        event["id"] = fingerprint(rec.text)
        event.setdefault("ingested", format_ts(now))
        doc.setdefault("data_stream", {})["namespace"] = self.namespace
        return fmt, doc

    def _validate(self, doc: dict[str, Any], now: datetime) -> str | None:
        ts = doc.get("@timestamp")
        if ts is None:
            return "missing timestamp"
        try:
            when = parse_ts(ts)
        except (TypeError, ValueError):
            return f"unparseable @timestamp {str(ts)[:40]!r}"
        assert when is not None
        when = when.replace(tzinfo=UTC)
        if when < EARLIEST or when > now + FUTURE_SLACK:
            return f"absurd @timestamp {ts} (before {EARLIEST:%Y-%m-%d} or more than a day ahead)"
        if _all_fit(doc, self._check_tree):
            return None
        flat = flatten(doc)  # something does not fit: name the first, in schema order
        for name, ftype in self._checks:
            v = flat.get(name)
            if v is None:
                continue
            for x in v if isinstance(v, list) else [v]:
                if not _fits(x, ftype):
                    return f"wrong type: {name} is {str(x)[:60]!r}, expected {ftype}"
        return None


# a typed field's name split on dots, as a tree: key → (its type or None, the tree below it)
CheckTree = dict[str, tuple[str | None, "CheckTree"]]


def _check_tree(checks: Sequence[tuple[str, str]]) -> CheckTree:
    tree: CheckTree = {}
    for name, ftype in checks:
        node, parts = tree, name.split(".")
        for i, part in enumerate(parts):
            own, below = node.get(part, (None, {}))
            node[part] = (ftype if i == len(parts) - 1 else own, below)
            node = below
    return tree


def _all_fit(node: dict[str, Any], tree: CheckTree) -> bool:
    """Whether every typed field of a nested document fits its type: the walk of `flatten`
    + the checks, visiting only the branches that hold typed fields. A key with a dot in it
    (which flatten would join with its prefix) answers False, so the exact check decides."""
    for key, value in node.items():
        entry = tree.get(key)
        if entry is None:
            if "." in key:
                return False
            continue
        ftype, below = entry
        if type(value) is dict:  # what the pipelines build (json, set)
            if below and not _all_fit(value, below):
                return False
        elif ftype is not None and value is not None:
            for x in value if isinstance(value, list) else (value,):
                if not _fits(x, ftype):
                    return False
    return True


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # the common case, without ipaddress


def _fits(x: Any, ftype: str) -> bool:
    if x is None:
        return True
    if ftype == "long":
        if isinstance(x, bool):
            return False
        if isinstance(x, int):
            return True
        if isinstance(x, float):
            return math.isfinite(x) and x == int(x)
        return isinstance(x, str) and x.strip().lstrip("+-").isdigit()
    if ftype in ("double", "float"):
        if isinstance(x, bool):
            return False
        if isinstance(x, (int, float)):
            return True
        try:
            float(x)
            return True
        except (TypeError, ValueError):
            return False
    if ftype == "boolean":
        return isinstance(x, bool) or x in ("true", "false")
    if ftype == "date":
        try:
            parse_ts(x)
            return True
        except (TypeError, ValueError):
            return False
    if ftype == "ip":
        if type(x) is str and _IPV4.fullmatch(x):
            return True
        import ipaddress

        try:
            ipaddress.ip_address(str(x))
            return True
        except ValueError:
            return False
    return True


def _dead_letter(rec: Record, reason: str, fmt: str) -> DeadLetter:
    return DeadLetter(rec.source, rec.line, reason, redact(rec.text), fmt)


def _check_format(fmt: str) -> str:
    if fmt == "auto":
        return fmt
    from .ingest.formats import get_format

    return get_format(fmt).name


def normalize_records(records: Iterable[Record | DeadLetter], fmt: str = "auto",
                      pipelines: PipelineSet | None = None, namespace: str = "default") -> NormalizeResult:
    norm = Normalizer(pipelines, fmt, namespace)
    result = NormalizeResult()
    for item in records:
        if isinstance(item, DeadLetter):
            result.dead_letters.append(item)
            continue
        _, out = norm.normalize(item)
        if isinstance(out, Dropped):
            result.dropped.append(out)
        elif isinstance(out, DeadLetter):
            result.dead_letters.append(out)
        else:
            result.events.append(out)
    return result


def normalize_file(path: Path | str, fmt: str = "auto", pipelines: PipelineSet | None = None,
                   max_line_bytes: int = MAX_LINE_BYTES) -> NormalizeResult:
    """The ECS events of a file (or folder), with what was dropped and dead-lettered. No store."""
    return normalize_records(read_records([Path(path)], max_line_bytes), fmt, pipelines)


# ---- storing ------------------------------------------------------------------------------
def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Sink:
    target = ""

    def write(self, by_format: dict[str, list[dict[str, Any]]], summary: IngestSummary) -> list[tuple[str, DeadLetter]]:
        raise NotImplementedError

    def dead(self, letters: list[DeadLetter]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _StoreSink(_Sink):
    def __init__(self, db: Path | None) -> None:
        from .backends.duckdb import Store

        self.store = Store(db)
        self.target = f"embedded store {self.store.path}"

    def write(self, by_format: dict[str, list[dict[str, Any]]], summary: IngestSummary) -> list[tuple[str, DeadLetter]]:
        for fmt, docs in by_format.items():
            stored, present = self.store.insert_events(docs)
            c = summary.of(fmt)
            c.stored += stored
            c.already_present += present
        return []

    def dead(self, letters: list[DeadLetter]) -> None:
        self.store.insert_dead_letters([d.to_row() for d in letters])

    def close(self) -> None:
        self.store.close()


class _EsSink(_Sink):
    """Bulk, create-only, `_id` = event.id, documents already normalized (`pipeline: _none`)."""

    def __init__(self, settings: ClusterSettings, index: str, namespace: str, chunk_size: int = 500,
                 dead_letter_index: str = DEAD_LETTER_INDEX) -> None:
        from .cluster import es_client, redact_url

        self.where = redact_url(settings.require_es())
        self.dead_letter_index = dead_letter_index
        self.settings = settings
        self.client = es_client(settings)
        self.index = index
        self.namespace = namespace
        self.chunk_size = chunk_size
        self.target = f"Elasticsearch {redact_url(settings.require_es())} ({index})"
        self.ready: set[str] = set()  # targets whose write index exists (templates.ensure_write_target)

    def index_for(self, fmt: str) -> str:
        return self.index.format(format=fmt, namespace=self.namespace)

    def write(self, by_format: dict[str, list[dict[str, Any]]], summary: IngestSummary) -> list[tuple[str, DeadLetter]]:
        from .backends import es
        from .cluster import translated
        from .templates import ensure_write_target

        failed: list[tuple[str, DeadLetter]] = []
        for fmt, docs in by_format.items():
            if self.index_for(fmt) not in self.ready:  # no data streams: -000001 behind the alias, as deploy makes
                with translated(self.settings.require_es()):
                    ensure_write_target(self.client, self.index_for(fmt))
                self.ready.add(self.index_for(fmt))
            c = summary.of(fmt)
            with translated(self.settings.require_es()):
                outcomes = es.write_each(self.client, self.index_for(fmt), docs, id_of="event.id", pipeline="_none",
                                         chunk_size=self.chunk_size)
                for outcome, doc in zip(outcomes, docs, strict=True):
                    if outcome.stored:
                        c.stored += 1
                    elif outcome.present:
                        c.already_present += 1
                    else:
                        failed.append((fmt, DeadLetter("<bulk>", 0, f"rejected by Elasticsearch: {outcome.error}",
                                                       str((doc.get("event") or {}).get("original") or ""), fmt)))
        return failed

    def dead(self, letters: list[DeadLetter]) -> None:
        """Into the cluster's dead-letter index, create-only (`_id` = the letter's id, so a re-run
        adds none twice). A letter the cluster refuses is an error: nothing is lost silently."""
        from .backends import es
        from .cluster import translated

        now = format_ts(utcnow())
        with translated(self.settings.require_es()):
            written = es.write(self.client, self.dead_letter_index, [dead_letter_doc(d, now) for d in letters],
                               id_of="siem_pack.dead_letter.id", pipeline="_none", chunk_size=self.chunk_size)
        if written.refused:
            raise ClusterError(f"{len(written.refused)} dead letter(s) could not be stored in {self.dead_letter_index}: "
                               f"{written.refused[0].error} (deploy the bundle, or pass --db to keep them in an "
                               "embedded store)", where=self.where)


def dead_letter_doc(letter: DeadLetter, now: str) -> dict[str, Any]:
    """A dead letter as a document of the dead-letter index (ECS names where ECS has one)."""
    return {"@timestamp": now, "error": {"message": letter.reason}, "event": {"original": letter.original},
            "log": {"file": {"path": letter.source}},
            "siem_pack": {"dead_letter": {"id": letter.id, "line": letter.line, "format": letter.format or UNKNOWN}}}


def ingest(paths: Sequence[Path | str], fmt: str = "auto", db: Path | None = None,
           settings: ClusterSettings | None = None, inventory_dir: Path | None = None,
           namespace: str = "default", index: str = EVENTS_TARGET, pipelines: PipelineSet | None = None,
           max_line_bytes: int = MAX_LINE_BYTES, batch_size: int = 500, progress: Progress | None = None,
           records: Iterable[Record | DeadLetter] | None = None, geoip_db: Path | None = None,
           dead_letter_db: Path | None = None, content_mode: ContentMode = "none",
           dead_letter_index: str = DEAD_LETTER_INDEX) -> IngestSummary:
    """Read, normalize and store; returns the per-format summary (the invariant is asserted).

    With `settings` (an --es-url), documents go to Elasticsearch index `index` (a format string
    with {format} and {namespace}); else to the DuckDB file `db` (default ./siem-pack.duckdb).
    Dead letters go to the embedded store's `dead_letters` table (`dead_letter_db`, default
    `db`); with Elasticsearch and no `dead_letter_db`, to the cluster's `dead_letter_index`.
    The stores being written are never read as input. If the cluster stops answering part-way,
    the ClusterError says how much was stored before it stopped and that re-running is safe.
    """
    pipelines = pipelines or load_pipelines(inventory_dir=inventory_dir, geoip_db=geoip_db)
    norm = Normalizer(pipelines, fmt, namespace, content_mode=content_mode)
    sink, notes = _open_sink(settings, pipelines, db, index, namespace, dead_letter_index)
    summary = IngestSummary(sink.target, notes=notes)
    written = [sink.store.path] if isinstance(sink, _StoreSink) else []  # never read as input
    if isinstance(sink, _EsSink) and dead_letter_db is None:
        dead_letter_db = db  # `--es-url` with `--db`: dead letters kept in that embedded store
    dl_store = None
    if isinstance(sink, _EsSink) and dead_letter_db is not None:
        from .backends.duckdb import Store

        dl_store = Store(dead_letter_db)
    if dead_letter_db is not None:
        written.append(Path(dead_letter_db))
    summary.dead_letter_target = (f"the dead_letters table of {dead_letter_db}" if dl_store is not None else
                                  f"index {dead_letter_index}" if isinstance(sink, _EsSink) else
                                  f"the dead_letters table of {written[0]}")
    skipped: list[str] = []
    source = records if records is not None else read_records(paths, max_line_bytes, exclude=written, skipped=skipped)
    try:
        for batch in _batches(source, batch_size):
            letters = _ingest_batch(batch, norm, sink, summary)
            if letters:
                if dl_store is not None:
                    dl_store.insert_dead_letters([d.to_row() for d in letters])
                else:
                    sink.dead(letters)
            if progress:
                progress(len(batch))
    except ClusterError as exc:
        t = summary.total
        raise ClusterError(f"{exc.message}; stopped part-way: {t.stored:,} stored, {t.already_present:,} already "
                           f"present, {t.dropped:,} dropped, {t.dead_lettered:,} dead-lettered of {t.read:,} records "
                           f"read so far; {RERUN_SAFE}", where=exc.where) from exc
    finally:
        sink.close()
        if dl_store is not None:
            dl_store.close()
    summary.notes += skipped
    summary.check()
    return summary


def _open_sink(settings: ClusterSettings | None, pipelines: PipelineSet, db: Path | None, index: str,
               namespace: str, dead_letter_index: str) -> tuple[_Sink, list[str]]:
    """Elasticsearch with `settings` (an --es-url), else the embedded store; with a note on
    how the cluster gets its documents."""
    if settings is None or not settings.has_cluster:
        return _StoreSink(db), []
    missing = missing_processors(settings, pipelines)
    if missing:
        note = (f"the cluster lacks ingest processors ({', '.join(missing)}): normalized offline by the "
                "executor and bulk-indexed with pipeline _none")
    else:
        note = ("normalized offline by the executor (same pipelines as the cluster's) and bulk-indexed "
                "with pipeline _none")
    return _EsSink(settings, index, namespace, dead_letter_index=dead_letter_index), [note]


def _ingest_batch(batch: Sequence[Record | DeadLetter], norm: Normalizer, sink: _Sink,
                  summary: IngestSummary) -> list[DeadLetter]:
    """Normalize a batch, write its documents, count everything; returns its dead letters."""
    by_format: dict[str, list[dict[str, Any]]] = {}
    letters: list[DeadLetter] = []
    for item in batch:
        _take(item, norm, summary, by_format, letters)
    for f, letter in sink.write(by_format, summary):
        c = summary.of(f)
        c.dead_lettered += 1
        c.dead_reasons[_reason_key(letter.reason)] += 1
        letters.append(letter)
    return letters


def _take(item: Record | DeadLetter, norm: Normalizer, summary: IngestSummary,
          by_format: dict[str, list[dict[str, Any]]], letters: list[DeadLetter]) -> None:
    """One record read: a dead letter as it is, or normalized into a document to store, a
    drop or a dead letter; counted in the summary."""
    if isinstance(item, DeadLetter):
        f = norm.fmt if norm.fmt != "auto" else UNKNOWN
        c = summary.of(f)
        c.read += 1
        c.dead_lettered += 1
        c.dead_reasons[item.reason] += 1
        letters.append(DeadLetter(item.source, item.line, item.reason, item.original, f))
        return
    f, out = norm.normalize(item)
    c = summary.of(f)
    c.read += 1
    if isinstance(out, Dropped):
        c.dropped += 1
        c.drop_reasons[out.reason] += 1
    elif isinstance(out, DeadLetter):
        c.dead_lettered += 1
        c.dead_reasons[_reason_key(out.reason)] += 1
        letters.append(out)
    else:
        by_format.setdefault(f, []).append(out)


def missing_processors(settings: ClusterSettings, pipelines: PipelineSet | None = None) -> list[str]:
    """The processor types our pipelines use, as the cluster receives them, that its node does
    not have (`_nodes/_local/ingest`; siem_pack.doctor reports the same). With content errors,
    those of `pipelines` (the ones being run)."""
    from .cluster import es_client, translated

    try:
        needed = processor_types(cluster_bodies())
    except SiemPackError:
        needed = processor_types(pipelines.bodies if pipelines is not None else {})
    client = es_client(settings)
    with translated(settings.require_es()):
        nodes = client.nodes.info(node_id="_local", metric=["ingest"]).body
    node: dict[str, Any] = next(iter(nodes.get("nodes", {}).values()), {})
    available = {p.get("type") for p in node.get("ingest", {}).get("processors", [])}
    return [p for p in needed if p not in available]


def _reason_key(reason: str) -> str:
    """Group reasons in the summary: drop the variable tail of parse errors."""
    return reason.split(": ", 1)[0] if reason.startswith("invalid JSON") else reason[:160]


def count_records(paths: Sequence[Path | str]) -> int | None:
    """A cheap total for the progress bar (lines of plain files); None when unknown."""
    total = 0
    for f in iter_files(paths):
        if f.is_file():
            try:
                with f.open("rb") as fh:
                    if fh.read(2) == b"\x1f\x8b":
                        return None
                    fh.seek(0)
                    total += sum(1 for _ in fh)
            except OSError:
                return None
    return total


def follow(path: Path, fmt: str = "auto", db: Path | None = None, settings: ClusterSettings | None = None,
           poll_seconds: float = 1.0, max_idle_seconds: float | None = None, on_summary: Callable[[IngestSummary], None] | None = None,
           **kwargs: Any) -> IngestSummary:
    """Keep reading a growing NDJSON file (like `tail -f`), ingesting each new batch of complete
    lines. Stops after `max_idle_seconds` without new data (None: until interrupted)."""
    import time

    from .ingest.reader import follow_file

    if not path.is_file():
        raise InputError("--follow needs one existing file", where=str(path))
    pipelines = kwargs.pop("pipelines", None) or load_pipelines(inventory_dir=kwargs.pop("inventory_dir", None),
                                                                 geoip_db=kwargs.pop("geoip_db", None))
    offset, line = 0, 1
    total = IngestSummary("")
    idle = 0.0
    try:
        while True:
            recs, offset, line = follow_file(path, offset, kwargs.get("max_line_bytes", MAX_LINE_BYTES), line)
            if recs:
                idle = 0.0
                s = ingest([], fmt, db=db, settings=settings, pipelines=pipelines, records=recs, **kwargs)
                _merge(total, s)
                if on_summary:
                    on_summary(s)
            else:
                if max_idle_seconds is not None and idle >= max_idle_seconds:
                    break
                time.sleep(poll_seconds)
                idle += poll_seconds
    except KeyboardInterrupt:
        pass
    total.check()
    return total


def _merge(into: IngestSummary, s: IngestSummary) -> None:
    into.target = s.target
    into.dead_letter_target = s.dead_letter_target
    for n in s.notes:
        if n not in into.notes:
            into.notes.append(n)
    for fmt, c in s.formats.items():
        into.of(fmt).add(c)
