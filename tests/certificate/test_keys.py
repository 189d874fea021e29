"""harness keys generate: an Ed25519 pair, the private half 0600, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.certificate.keys import generate_key_pair, keyid, load_private_key, load_public_key
from harness.cli import main
from harness.errors import InputError


def test_generate_writes_a_0600_private_key_and_a_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "lab")]) == 0
    private, public = tmp_path / "lab.key", tmp_path / "lab.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = load_private_key(private)
    assert keyid(load_public_key(public)) == keyid(key.public_key())
    out = capsys.readouterr().out
    assert keyid(key.public_key()) in out and "0600" in out


def test_generate_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pair = generate_key_pair(tmp_path / "k")
    before = pair.private.read_bytes()
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 2
    assert "already exists; refusing to overwrite a key" in capsys.readouterr().err
    assert pair.private.read_bytes() == before
    (tmp_path / "only.pub").write_text("x")  # half a pair in the way is refused too
    with pytest.raises(InputError, match=r"only\.pub already exists"):
        generate_key_pair(tmp_path / "only")
    assert not (tmp_path / "only.key").exists()


def test_keyid_is_sha256_of_the_raw_public_key(tmp_path: Path) -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    pair = generate_key_pair(tmp_path / "k")
    public = load_public_key(pair.public)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert pair.keyid == keyid(public) == hashlib.sha256(raw).hexdigest()


def test_wrong_key_files_are_input_errors(tmp_path: Path) -> None:
    pair = generate_key_pair(tmp_path / "k")
    with pytest.raises(InputError, match=r"this is a private key: pass the \.pub file"):
        load_public_key(pair.private)
    with pytest.raises(InputError, match="not a PEM private key"):
        load_private_key(pair.public)
    with pytest.raises(
        InputError,
        match=r"expected a readable public key \(Ed25519, PEM\) file, but got a missing file",
    ):
        load_public_key(tmp_path / "missing.pub")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "ec.pub").write_bytes(pem)
    with pytest.raises(InputError, match="not an Ed25519 key"):
        load_public_key(tmp_path / "ec.pub")
