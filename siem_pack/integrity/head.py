"""Cross-cutting (integrity): the head file, which anchors each chain's newest seal outside
the seal store. Input: the seals of a `SealStore` (seals.py) and its published keys.
Output: a small signed JSON file that `seal` checks before sealing and rewrites after
(`seal_anchored`), and that `verify` (verify.py) holds the store's chains against
(`check_head`).

Why: the seal store proves every seal up to the newest one, but not that nothing came
after it. Whoever can write the store (an Elasticsearch admin; anyone with the DuckDB file
and its journal) can delete the newest seals, and their journal lines, and the chains still
link. The head file names, per dataset, the newest seal `seal` wrote (`seq`, `seal_id`,
`seal_hash`), signed with the seal key; a chain that no longer reaches that position is a
finding. Kept where the store's writers cannot reach (another host, append-only or
write-once storage), it also survives someone who deletes it together with the seals.

Decisions (docs/integrity.md, "The head file"):
- The head is a lower bound: a store whose chains go further (a seal run that stopped
  before rewriting the file) is fine; one that falls short of it, or holds another seal at
  the anchored position, is not.
- `seal` refuses to run when the store disagrees with the head file, and when the file is
  missing while the store already holds seals, unless told `init=True`
  (`siem-pack seal --init-head`, once, after a clean `verify`): otherwise the next scheduled
  run would re-anchor a store that was cut short. A store with no seals yet starts its head
  file on its first run.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import ConfigError, FindingsError, InputError
from ..times import format_ts, utcnow
from .keys import ALG, KeyRing, SigningKey
from .seals import (
    DEFAULT_GRACE,
    DEFAULT_WINDOW,
    EventSource,
    Finding,
    Seal,
    SealReport,
    SealStore,
    compact_json,
    seal_windows,
)

HEAD_ENV = "SIEM_PACK_SEAL_HEAD"
HEAD_VERSION = 1


@dataclass(frozen=True)
class ChainHead:
    """The newest seal of one dataset's chain."""

    seq: int
    seal_id: str
    seal_hash: str


@dataclass(frozen=True)
class HeadFile:
    """Every chain's head when `seal` last ran, signed. Every field but `signature` is signed."""

    heads: Mapping[str, ChainHead]  # dataset -> its newest seal
    written_at: str
    key_id: str
    alg: str = ALG
    version: int = HEAD_VERSION
    signature: str = ""

    def body_bytes(self) -> bytes:
        return compact_json({"kind": "head", "version": self.version, "alg": self.alg, "key_id": self.key_id,
                             "written_at": self.written_at,
                             "heads": {ds: asdict(h) for ds, h in sorted(self.heads.items())}})

    def signed(self, key: SigningKey) -> HeadFile:
        unsigned = replace(self, key_id=key.key_id, signature="")
        return replace(unsigned, signature=base64.b64encode(key.sign(unsigned.body_bytes())).decode())

    def to_json(self) -> bytes:
        doc = json.loads(self.body_bytes())
        doc["signature"] = self.signature
        return json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> HeadFile:
        try:
            doc = json.loads(data)
            if doc.get("kind") != "head":
                raise ValueError("not a head file (kind is not 'head')")
            if doc.get("version") != HEAD_VERSION:
                raise ValueError(f"format version {doc.get('version')!r} is not {HEAD_VERSION}")
            heads = {str(ds): ChainHead(int(h["seq"]), str(h["seal_id"]), str(h["seal_hash"]))
                     for ds, h in doc["heads"].items()}
            return cls(heads, str(doc["written_at"]), str(doc["key_id"]), str(doc["alg"]), int(doc["version"]),
                       str(doc["signature"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"unreadable head file: {exc}", where=where) from exc


def heads_of(seals: Sequence[Seal]) -> dict[str, ChainHead]:
    """The newest seal (highest seq) of each dataset's chain."""
    out: dict[str, ChainHead] = {}
    for s in seals:
        if s.dataset not in out or s.seq > out[s.dataset].seq:
            out[s.dataset] = ChainHead(s.seq, s.seal_id, s.seal_hash)
    return dict(sorted(out.items()))


def read_head(path: Path) -> HeadFile | None:
    """The head file at `path`; None when there is none. InputError when it is unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read the head file: {exc.strerror}", where=str(path)) from exc
    return HeadFile.from_json(data, str(path))


def write_head(path: Path, head: HeadFile) -> None:
    """Replace the file at `path` at once (a temporary file beside it, then a rename)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(head.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ConfigError(f"cannot write the head file: {exc.strerror}", where=str(path)) from exc


def check_head(path: Path, seals: Sequence[Seal], keys: KeyRing) -> tuple[HeadFile | None, list[Finding]]:
    """The head file at `path` (None when missing or unreadable) and the store's chains
    (`seals`) held against it:
    - `missing_head`: there is no file, though the store holds seals;
    - `head_mismatch`: the file is unreadable, its signature does not stand (unknown,
      untrusted or wrong key), or the store holds another seal at an anchored position;
    - `missing_seal`: each anchored position the store's chain no longer reaches (its newest
      seals were deleted)."""
    try:
        head = read_head(path)
    except InputError as exc:
        return None, [Finding("head_mismatch", f"head file {path}: {exc.message}")]
    return head, _against(head, str(path), seals, keys)


def _against(head: HeadFile | None, where: str, seals: Sequence[Seal], keys: KeyRing) -> list[Finding]:
    if head is None:
        if not seals:
            return []  # nothing sealed yet, nothing to anchor
        return [Finding("missing_head", f"no head file at {where}, though the store holds {len(seals)} seal(s): "
                        "deleting the newest seals would go unseen (after a clean verify, anchor them with "
                        "`siem-pack seal --init-head`)")]
    problem = keys.problem(head.key_id, head.signature, head.body_bytes())
    if problem:
        return [Finding("head_mismatch", f"head file {where}: {problem[1]}")]
    by_position = {(s.dataset, s.seq): s for s in seals}
    stored = heads_of(seals)
    findings: list[Finding] = []
    for ds, anchored in head.heads.items():
        top = stored.get(ds)
        held = by_position.get((ds, anchored.seq))
        if held is not None and held.seal_hash != anchored.seal_hash:
            findings.append(Finding(
                "head_mismatch", f"head file {where} anchors {anchored.seal_id} with seal_hash {anchored.seal_hash}, "
                f"the store holds {held.seal_id} with {held.seal_hash}: the chain was rewritten",
                seal_id=anchored.seal_id, dataset=ds, window_start=held.window_start))
        elif top is None or top.seq < anchored.seq:
            ends = f"ends at {top.seal_id}" if top else "holds no seal"
            for seq in range(top.seq + 1 if top else 0, anchored.seq + 1):
                findings.append(Finding(
                    "missing_seal", f"the head file {where} (written {head.written_at}) anchors chain {ds} at "
                    f"{anchored.seal_id}, but the store's chain {ends}: its newest seal(s) were deleted",
                    seal_id=f"{ds}/{seq}", dataset=ds))
    return findings


def seal_anchored(source: EventSource, store: SealStore, key: SigningKey, head: Path, *, init: bool = False,
                  window: timedelta = DEFAULT_WINDOW, grace: timedelta = DEFAULT_GRACE,
                  now: datetime | None = None) -> SealReport:
    """`seal_windows`, anchored by the head file at `head`: check the store against it first
    (refuse when they disagree, or when the file is missing but the store holds seals and
    `init` is not given), seal, then rewrite it with the chains' new heads, signed by `key`."""
    previous = read_head(head)
    existing = store.seals()
    if previous is None and existing and not init:
        raise ConfigError(f"no head file, though the seal store holds {len(existing)} seal(s); nothing sealed. "
                          "If it was never written (a store sealed before head files), run `siem-pack verify`, "
                          "then `siem-pack seal --init-head` once; otherwise the newest seals may have been "
                          "deleted along with it", where=str(head))
    if previous is not None:
        problems = _against(previous, str(head), existing, KeyRing(store.keys()))
        if problems:
            raise FindingsError(f"the seal store disagrees with the head file, nothing sealed (run `siem-pack "
                                f"verify`): {problems[0].detail}", where=str(head))
    now = now or utcnow()
    report = seal_windows(source, store, key, window=window, grace=grace, now=now)
    heads = heads_of([*existing, *report.sealed])
    if heads and (previous is None or dict(previous.heads) != heads):
        write_head(head, HeadFile(heads, format_ts(now, "auto"), key.key_id).signed(key))
        report.head_file = str(head)
    return report
