"""Ed25519 signing keys: generate a pair, load either half, name a public key by its keyid.

Keys are PEM files: the private key PKCS#8 (unencrypted, created with mode 0600 and never
overwritten), the public key SubjectPublicKeyInfo. A key's *keyid* is the sha256 (hex) of
its raw 32-byte public key; certificates carry it so that a wrong ``--key`` is named as
such rather than as a bad signature.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import InputError
from harness.safeio import KEY, InputKind, read_input

__all__ = [
    "KeyPair",
    "generate_key_pair",
    "keyid",
    "load_private_key",
    "load_public_key",
]


def keyid(key: Ed25519PublicKey) -> str:
    """sha256 (hex) of the raw 32-byte public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


class KeyPair:
    """Where :func:`generate_key_pair` wrote a pair, and the pair's keyid."""

    def __init__(self, private: Path, public: Path, key_id: str) -> None:
        self.private = private
        self.public = public
        self.keyid = key_id


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte on; never replace a file."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        raise InputError(
            f"{path} already exists; refusing to overwrite a key (choose another --out PREFIX)"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, mode)  # the umask may only have narrowed it; make it exact
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def generate_key_pair(prefix: Path) -> KeyPair:
    """Write PREFIX.key (mode 0600) and PREFIX.pub (0644); neither may exist already."""
    private_path = prefix.with_name(prefix.name + ".key")
    public_path = prefix.with_name(prefix.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(
                f"{path} already exists; refusing to overwrite a key (choose another --out PREFIX)"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return KeyPair(private_path, public_path, keyid(key.public_key()))


def _read(path: Path, what: str) -> bytes:
    """The key file's bytes: a regular file of at most 64 KiB (see :mod:`harness.safeio`)."""
    return read_input(path, InputKind(f"{what} (Ed25519, PEM)", KEY.max_bytes))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file; anything else is an InputError."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError(
            "the private key is encrypted; this harness reads unencrypted PKCS#8 keys "
            "(keep the file at mode 0600 instead)",
            source=str(path),
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(
            "not a PEM private key (an Ed25519 private key in PEM, from 'harness keys generate')",
            source=str(path),
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            "not an Ed25519 key",
            source=str(path),
            expected="an Ed25519 private key",
            got=type(key).__name__,
        )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file; anything else is an InputError."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        hint = " (this is a private key: pass the .pub file)" if b"PRIVATE KEY" in data else ""
        raise InputError(
            f"not a PEM public key{hint}: expected an Ed25519 public key in PEM (the .pub "
            "file of 'harness keys generate')",
            source=str(path),
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(
            "not an Ed25519 key",
            source=str(path),
            expected="an Ed25519 public key",
            got=type(key).__name__,
        )
    return key
