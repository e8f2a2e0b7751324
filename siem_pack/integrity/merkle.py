"""Cross-cutting (integrity): a Merkle tree over one window's events, with inclusion proofs.

Input: the canonical bytes of each event (canonical.py), in window order (@timestamp,
event.id). Output: a root that seals.py signs, and proofs that verify.py hands out.

Hashing follows RFC 6962 (Certificate Transparency): a leaf is SHA-256(0x00 || bytes), an
inner node SHA-256(0x01 || left || right), so a leaf can never pass for a node. A level with
an odd count carries its last node up unchanged (which yields RFC 6962's left-balanced tree).
The empty tree's root is SHA-256 of nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    h = _sha256(b"\x00")
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    nxt = [_sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]  # node_hash
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes (not raw bytes: hash each with `leaf_hash` first)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


@dataclass(frozen=True)
class ProofStep:
    side: Literal["left", "right"]  # where the sibling sits
    hash: str  # hex


@dataclass(frozen=True)
class Proof:
    index: int
    leaf: str  # hex leaf hash
    path: tuple[ProofStep, ...]
    root: str  # hex

    def check(self, leaf: bytes | None = None) -> bool:
        """True when the path leads from the leaf (default: the proof's own) to the root."""
        return verify_proof(leaf if leaf is not None else bytes.fromhex(self.leaf), self.path, bytes.fromhex(self.root))


def prove(leaves: Sequence[bytes], index: int) -> Proof:
    """The audit path of leaf `index`."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside a tree of {len(leaves)}")
    path: list[ProofStep] = []
    level, i = list(leaves), index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(ProofStep("left" if sibling < i else "right", level[sibling].hex()))
        level, i = _next_level(level), i // 2
    return Proof(index, leaves[index].hex(), tuple(path), level[0].hex())


def verify_proof(leaf: bytes, path: Sequence[ProofStep], expected_root: bytes) -> bool:
    h = leaf
    for step in path:
        sib = bytes.fromhex(step.hash)
        h = node_hash(sib, h) if step.side == "left" else node_hash(h, sib)
    return h == expected_root
