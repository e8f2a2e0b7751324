"""Cross-cutting (integrity): the Ed25519 keys that sign seals (seals.py) and verify them
(verify.py).

- `generate_key_file(path)` writes a new private key (PEM, PKCS#8) with mode 0600 and
  returns only its public half.
- `load_signing_key(path)` reads the private key from a file (refused unless only its owner
  can read it) or, with no file, from `SIEM_PACK_SEAL_KEY` (the PEM text, or the raw 32-byte
  seed in base64). The private key is never printed, logged or stored: `SigningKey` hides it
  from `repr`, and only `PublicKey.record()` goes to a seal store.
- Rotation: sign with a new key from some moment on; each key's public record stays in the
  seal store, so seals by old and new keys both verify (verify can pin trusted key ids).
- `KeyRing`: the published key records, checked, plus the trust decision; it says whether
  a signed body (a seal, the head file) verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError

KEY_ENV = "SIEM_PACK_SEAL_KEY"
KEY_FILE_ENV = "SIEM_PACK_SEAL_KEY_FILE"
ALG = "ed25519"


def key_id_of(raw_public: bytes) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    raw: bytes
    key_id: str
    published_at: str | None = None

    @classmethod
    def from_raw(cls, raw: bytes, published_at: str | None = None) -> PublicKey:
        return cls(raw, key_id_of(raw), published_at)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def record(self, published_at: str) -> dict[str, Any]:
        """The key record published in the seal store (public half only)."""
        return {"seal_id": f"key/{self.key_id}", "kind": "key", "key_id": self.key_id, "alg": ALG,
                "public_key": self.b64, "published_at": published_at}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PublicKey:
        raw = base64.b64decode(record["public_key"])
        return cls(raw, str(record["key_id"]), record.get("published_at"))


KeyProblem = tuple[Literal["unknown_key", "bad_signature"], str]  # (finding kind, detail)


class KeyRing:
    """Published key records (a record whose id does not match its key is kept out), and the
    keys trusted: those given, else every published one."""

    def __init__(self, records: Iterable[PublicKey], trusted: Iterable[str] | None = None) -> None:
        self.by_id: dict[str, PublicKey] = {}
        self.bad: set[str] = set()
        for k in records:
            if key_id_of(k.raw) == k.key_id:
                self.by_id[k.key_id] = k
            else:
                self.bad.add(k.key_id)
        self.trusted = set(trusted) if trusted else None

    def problem(self, key_id: str, signature: str, body: bytes) -> KeyProblem | None:
        """Why `signature` (base64) over `body` does not stand for key `key_id`; None when it does."""
        if key_id in self.bad:
            return "unknown_key", f"key record {key_id} does not match its public key"
        key = self.by_id.get(key_id)
        if key is None:
            return "unknown_key", f"signed by key {key_id}, which is not published in the seal store"
        if self.trusted is not None and key_id not in self.trusted:
            return "unknown_key", (f"signed by key {key_id}, which is not among the trusted keys "
                                   f"({', '.join(sorted(self.trusted))})")
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            sig = b""
        if not key.verify(sig, body):
            return "bad_signature", f"signature does not verify with key {key_id}"
        return None


class SigningKey:
    """An Ed25519 private key. Its secret half never leaves this object (no repr, no str)."""

    def __init__(self, private: Ed25519PrivateKey, source: str) -> None:
        self._private = private
        self.source = source  # where it came from (a path or the variable's name), never the key
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey.from_raw(raw)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, source={self.source!r})"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), "generated")

    def pem(self) -> bytes:
        return self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())


def generate_key_file(out: Path) -> PublicKey:
    """Write a new private key to `out` (created with mode 0600; an existing file is refused).
    Returns the public key (print that, never the file)."""
    key = SigningKey.generate()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError("file exists; refusing to overwrite a key (choose a new name)", where=str(out)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot create the key file: {exc.strerror}", where=str(out)) from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # whatever the umask said
        fh.write(key.pem())
    return key.public


def load_signing_key(path: Path | str | None = None) -> SigningKey:
    """The seal key from `path` (or `SIEM_PACK_SEAL_KEY_FILE`), else from `SIEM_PACK_SEAL_KEY`."""
    path = path or os.environ.get(KEY_FILE_ENV) or None
    if path:
        return _from_file(Path(path))
    text = os.environ.get(KEY_ENV)
    if text:
        return SigningKey(_parse(text.strip().encode(), KEY_ENV), KEY_ENV)
    raise ConfigError(f"no seal key: pass --key FILE ({KEY_FILE_ENV}) or set {KEY_ENV} "
                      "(create one with `siem-pack keys generate --out FILE`)", where="--key")


def _from_file(path: Path) -> SigningKey:
    try:
        st = path.stat()
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise ConfigError(f"key file mode is {stat.S_IMODE(st.st_mode):04o}; it must be readable by its owner only "
                              f"(chmod 600 {path})", where=str(path))
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError("key file not found", where=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the key file: {exc.strerror}", where=str(path)) from exc
    return SigningKey(_parse(data, str(path)), str(path))


def _parse(data: bytes, where: str) -> Ed25519PrivateKey:
    """PEM (PKCS#8) or a base64 32-byte seed. Errors never quote the data."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError("not a readable unencrypted PEM private key", where=where) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"not an Ed25519 key ({type(key).__name__.removeprefix('_')})", where=where)
        return key
    try:
        seed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("neither PEM nor base64: expected an Ed25519 PEM key or a base64 32-byte seed",
                          where=where) from exc
    if len(seed) != 32:
        raise ConfigError(f"a base64 seed must decode to 32 bytes, not {len(seed)}", where=where)
    return Ed25519PrivateKey.from_private_bytes(seed)
