"""Fixtures: a test key pair, and real evidence folders (one passing and certified, one
failing) made once per session by the CLI, on the simulator."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.certificate.keys import KeyPair, generate_key_pair, load_private_key
from harness.cli import main
from harness.evidence import CERTIFICATE_FILE
from tests.conftest import PROFILE


@dataclass(frozen=True)
class Keys:
    pair: KeyPair
    private: Ed25519PrivateKey
    public: Ed25519PublicKey


@dataclass(frozen=True)
class CertifiedRun:
    evidence: Path  # the sealed folder, certificate included (copy it before changing it)
    cert: bytes

    @property
    def cert_path(self) -> Path:
        return self.evidence / CERTIFICATE_FILE

    def copy(self, where: Path) -> Path:
        """A fresh copy of the evidence folder, to tamper with."""
        shutil.copytree(self.evidence, where)
        return where


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    pair = generate_key_pair(tmp_path_factory.mktemp("keys") / "test-issuer")
    private = load_private_key(pair.private)
    return Keys(pair, private, private.public_key())


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    pair = generate_key_pair(tmp_path_factory.mktemp("keys") / "test-other")
    private = load_private_key(pair.private)
    return Keys(pair, private, private.public_key())


def certify(out: Path, *extra: str) -> int:
    return main(["certify", str(PROFILE), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="session")
def certified(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> CertifiedRun:
    out = tmp_path_factory.mktemp("certified") / "evidence"
    assert certify(out, "--key", str(keys.pair.private)) == 0
    return CertifiedRun(out, (out / CERTIFICATE_FILE).read_bytes())


@pytest.fixture(scope="session")
def failing_evidence(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    out = tmp_path_factory.mktemp("failing") / "evidence"
    assert certify(out, "--dut", "sim:bad-crc", "--key", str(keys.pair.private)) == 1
    assert not (out / CERTIFICATE_FILE).exists()
    return out


@pytest.fixture(scope="session")
def verify_now() -> dt.datetime:
    """A moment inside every certificate these tests issue (valid 365 days from now)."""
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
