"""Stage 1: files and folders of raw logs → records (one raw record text each), or dead
letters for what cannot be a record.

Accepted: NDJSON (one record a line), a JSON array of records, one or more pretty-printed
JSON objects, each optionally gzip-compressed (recognised by its magic bytes, whatever the
name). Folders are read recursively in name order (hidden files skipped). Never read: the
store(s) being written (`exclude`, with their `.wal`) and known binary stores (DuckDB and
SQLite files by their magic bytes, MaxMind `.mmdb` databases): each is skipped with a note
(`skipped`), so `siem-pack ingest .` beside its own `siem-pack.duckdb` stays clean. Blank lines are not
records. Invalid UTF-8 and lines longer than `max_line_bytes` (default 1 MiB) become dead
letters with the reason and the original, redacted by the secret detectors
(siem_pack.ingest.secrets) and with prompt and completion text scrubbed (`redact`). Invalid JSON in an NDJSON line is left to the entry pipeline, whose
`json` processor fails it (so both engines dead-letter it with the same reason).

Neighbour: siem_pack.ingest_job turns records into events.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

MAX_LINE_BYTES = 1 << 20
ORIGINAL_KEEP_BYTES = 64 << 10  # how much of an oversized record a dead letter keeps
_WS = b" \t\r\n\x0b\x0c"


@dataclass(frozen=True)
class Record:
    source: str
    line: int  # 1-based line of the record's start (array elements: the element's index + 1)
    text: str


@dataclass(frozen=True)
class DeadLetter:
    source: str
    line: int
    reason: str
    original: str  # redacted
    format: str | None = None

    @property
    def id(self) -> str:
        return hashlib.sha256(f"{self.source}\x1f{self.line}\x1f{self.original}".encode()).hexdigest()

    def to_row(self) -> dict[str, object]:
        return {"id": self.id, "source": self.source, "line": self.line, "format": self.format,
                "reason": self.reason, "original": self.original}


def redact(text: str) -> str:
    """What a dead letter keeps of a record: secrets redacted by the detectors
    (siem_pack.ingest.secrets), then prompt and completion text replaced by `[CONTENT]` with
    the entry pipeline's own scrub (as `event.original` of a stored event has it)."""
    from .secrets import redact as _redact

    return _content_scrub()(_redact(text)[0])


SCRUB_TAG = "entry-scrub-content"


@lru_cache(maxsize=1)
def _content_scrub() -> Callable[[str], str]:
    """The entry pipeline's `gsub` tagged entry-scrub-content, compiled by the executor's
    regex translation: one definition of what counts as content, for events and dead letters."""
    import yaml

    from ..errors import ContentError
    from ..paths import content_dir
    from .processors import java_regex, java_replacement, prefiltered_sub

    path = content_dir("ingest_pipelines") / "siem_pack-entry.yml"
    for proc in yaml.safe_load(path.read_text(encoding="utf-8")).get("processors") or []:
        conf = proc.get("gsub") if isinstance(proc, dict) else None
        if isinstance(conf, dict) and conf.get("tag") == SCRUB_TAG:
            where = f"{path}: gsub tag={SCRUB_TAG}"
            return prefiltered_sub(java_regex(conf["pattern"], where), java_replacement(conf["replacement"]))
    raise ContentError(f"no gsub processor tagged {SCRUB_TAG} (dead letters need it to keep prompts out)",
                       where=str(path))


def _dead(source: str, line: int, reason: str, raw: bytes | str) -> DeadLetter:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if len(text) > ORIGINAL_KEEP_BYTES:
        text = text[:ORIGINAL_KEEP_BYTES] + "…[truncated]"
    return DeadLetter(source, line, reason, redact(text))


BINARY_SUFFIXES = (".duckdb", ".duckdb.wal", ".mmdb", ".sqlite", ".sqlite3")


def store_kind(path: Path) -> str | None:
    """What binary store `path` is (a name for the note), or None for a log file."""
    name = path.name.lower()
    if name.endswith(".wal") and Path(str(path)[:-4]).is_file() and store_kind(Path(str(path)[:-4])):
        return "a store's write-ahead log"
    for suffix in BINARY_SUFFIXES:
        if name.endswith(suffix):
            return {".mmdb": "a MaxMind database", ".duckdb.wal": "a DuckDB write-ahead log"}.get(suffix, "a database file")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[8:12] == b"DUCK":
        return "a DuckDB database"
    if head.startswith(b"SQLite format 3\x00"):
        return "an SQLite database"
    return None


def iter_files(paths: Iterable[Path | str], exclude: Iterable[Path] = (),
               skipped: list[str] | None = None) -> Iterator[Path]:
    """The files to read under `paths`; `exclude` (the stores being written) and binary stores
    are left out, each with a line appended to `skipped`."""
    own = {Path(e).resolve() for e in exclude}
    own |= {Path(f"{e}.wal") for e in own}

    def keep(path: Path) -> bool:
        why = "the store being written" if path.resolve() in own else store_kind(path)
        if why and skipped is not None:
            skipped.append(f"skipped {path}: {why}, not a log file")
        return why is None

    for p in paths:
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts) and keep(child):
                    yield child
        elif not path.exists() or keep(path):
            yield path


def _open(path: Path) -> IO[bytes]:
    f = path.open("rb")
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def _first_byte(f: IO[bytes]) -> bytes:
    """The first non-whitespace byte (the stream is rewound)."""
    chunk = f.read(4096)
    f.seek(0)
    stripped = chunk.lstrip(_WS)
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].lstrip(_WS)
    return stripped[:1]


def read_records(paths: Iterable[Path | str], max_line_bytes: int = MAX_LINE_BYTES, exclude: Iterable[Path] = (),
                 skipped: list[str] | None = None) -> Iterator[Record | DeadLetter]:
    """Every record of every file, in order; unreadable input as dead letters, never raised.
    `exclude` and `skipped`: as iter_files."""
    for path in iter_files(paths, exclude, skipped):
        yield from read_file(path, max_line_bytes)


def read_file(path: Path, max_line_bytes: int = MAX_LINE_BYTES, start: int = 0) -> Iterator[Record | DeadLetter]:
    source = str(path)
    try:
        f = _open(path)
    except OSError as exc:
        yield DeadLetter(source, 0, f"cannot read file: {exc.strerror or exc}", "")
        return
    try:
        with f:
            first = _first_byte(f)
            if first in (b"[", b"{") and start == 0:
                whole = _whole(f, source, first, max_line_bytes)
                if whole is not None:
                    yield from whole
                    return
                f.seek(0)
            yield from _lines(f, source, max_line_bytes)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        yield DeadLetter(source, 0, f"cannot read file: {exc}", "")


def _lines(f: IO[bytes], source: str, max_line_bytes: int, first_line: int = 1) -> Iterator[Record | DeadLetter]:
    n = first_line - 1
    while True:
        raw = f.readline(max_line_bytes + 1)
        if not raw:
            return
        n += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            head = raw
            while True:  # consume the rest of the oversized line
                more = f.readline(1 << 20)
                if not more or more.endswith(b"\n"):
                    break
            yield _dead(source, n, f"line exceeds {max_line_bytes} bytes", head[:ORIGINAL_KEEP_BYTES])
            continue
        raw = raw.rstrip(b"\r\n")
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip(_WS):
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _dead(source, n, f"invalid UTF-8 at byte {exc.start}", raw)
            continue
        yield Record(source, n, text.strip())


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _whole(f: IO[bytes], source: str, first: bytes, max_line_bytes: int) -> list[Record | DeadLetter] | None:
    """A JSON array or pretty-printed object(s); None when the file is NDJSON after all."""
    if first == b"{":
        line1 = f.readline(max_line_bytes + 1)
        f.seek(0)
        try:
            json.loads(line1)
            return None  # the first line is a whole object: NDJSON
        except ValueError:
            pass
    data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # line by line, so only the bad lines are lost
    out: list[Record | DeadLetter] = []
    dec = json.JSONDecoder()
    pos, n = 0, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        try:
            obj, end = dec.raw_decode(text, pos)
        except ValueError:
            if not out:
                return None  # not whole-file JSON: read it line by line
            line = text.count("\n", 0, pos) + 1
            out.append(_dead(source, line, "invalid JSON after the last complete object", text[pos:]))
            break
        line = text.count("\n", 0, pos) + 1
        items = obj if isinstance(obj, list) else [obj]
        for i, item in enumerate(items):
            n += 1
            rec = _compact(item)
            where = i + 1 if isinstance(obj, list) else line
            if len(rec.encode()) > max_line_bytes:
                out.append(_dead(source, where, f"record exceeds {max_line_bytes} bytes", rec))
            else:
                out.append(Record(source, where, rec))
        pos = end
    return out


def read_text(text: str, source: str = "<text>", max_line_bytes: int = MAX_LINE_BYTES) -> list[Record | DeadLetter]:
    """Records of an in-memory text (the same rules as a file)."""
    f = io.BytesIO(text.encode("utf-8"))
    first = _first_byte(f)
    if first in (b"[", b"{"):
        whole = _whole(f, source, first, max_line_bytes)
        if whole is not None:
            return whole
        f.seek(0)
    return list(_lines(f, source, max_line_bytes))


def follow_file(path: Path, offset: int, max_line_bytes: int = MAX_LINE_BYTES,
                first_line: int = 1) -> tuple[list[Record | DeadLetter], int, int]:
    """New complete lines of a growing (plain NDJSON) file after `offset`:
    (records, new offset, next line number). A partial last line waits for its newline."""
    out: list[Record | DeadLetter] = []
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n")
    if end < 0:
        return out, offset, first_line
    chunk = data[:end + 1]
    recs = list(_lines(io.BytesIO(chunk), str(path), max_line_bytes, first_line))
    return recs, offset + len(chunk), first_line + chunk.count(b"\n")
