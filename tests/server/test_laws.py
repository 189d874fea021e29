"""Laws of the registry's pure parts, as properties (hypothesis): bundles round-trip through
the upload form, the content store names every file by its digest, tokens are kept only as
hashes, and an operator's value is a pass exactly when it is within its limits."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.prompt import judge_answer
from harness.record import Verdict
from harness.server.auth import hash_token
from harness.server.store import BadBundle, BlobStore, pack_bundle, unpack_bundle

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
trees = st.dictionaries(
    st.lists(names, min_size=1, max_size=3).map(lambda parts: "/".join(parts)),
    st.binary(max_size=2000),
    min_size=1,
    max_size=8,
).filter(
    # a path may not be both a file and a folder, nor be report/ (never uploaded)
    lambda t: (
        not any(a != b and b.startswith(a + "/") for a in t for b in t)
        and not any(p.split("/")[0] == "report" for p in t)
    )
)


def _write(root: Path, tree: dict[str, bytes]) -> None:
    for rel, data in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@settings(max_examples=60, deadline=None)
@given(trees)
def test_bundle_round_trips_through_the_upload_form(tree: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, dest = Path(tmp) / "src", Path(tmp) / "dest"
        src.mkdir()
        _write(src, tree)
        unpack_bundle(pack_bundle(src), dest)
        assert _read(dest) == tree


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=10))
def test_the_store_names_every_file_by_its_sha256(blobs: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = BlobStore(Path(tmp) / "blobs")
        keys = [store.put_bytes(b) for b in blobs]
        assert keys == [hashlib.sha256(b).hexdigest() for b in blobs]
        assert all(store.get(k) == b for k, b in zip(keys, blobs, strict=True))
        stored = [p for p in (Path(tmp) / "blobs").rglob("*") if p.is_file()]
        assert len(stored) == len(set(blobs))  # each content once


@given(st.text(min_size=1).map(lambda s: "hct_" + s))  # tokens carry the hct_ prefix
def test_a_token_is_kept_only_as_its_hash(token: str) -> None:
    digest = hash_token(token)
    assert len(digest) == 64 and token not in digest
    assert digest == hashlib.sha256(token.encode()).hexdigest()


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@given(finite, finite, finite)
def test_a_value_passes_exactly_within_its_limits(a: float, b: float, value: float) -> None:
    lo, hi = min(a, b), max(a, b)
    spec = {"answer": "value", "min": lo, "max": hi, "unit": "V"}
    verdict, _ = judge_answer(spec, value)
    assert (verdict is Verdict.PASS) == (lo <= value <= hi)
    assert verdict in (Verdict.PASS, Verdict.FAIL)
    assert judge_answer(spec, str(value))[0] is verdict  # typed at a terminal: the same


@given(st.one_of(st.none(), st.text(), st.lists(st.integers())))
def test_no_answer_of_the_wrong_kind_ever_passes(answer: object) -> None:
    for kind in ("confirm", "judge"):
        verdict, _ = judge_answer({"answer": kind}, answer)
        ok = {"confirm": ("yes", "y", "true", "done", "ok"), "judge": ("pass",)}[kind]
        if verdict is Verdict.PASS:
            assert isinstance(answer, str) and answer.strip().lower() in ok


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.txt"),
        tarfile.TarInfo("/etc/passwd"),
        tarfile.TarInfo("link"),
    ],
)
def test_unsafe_bundle_entries_are_refused(member: tarfile.TarInfo, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if member.name == "link":
            member.type = tarfile.SYMTYPE
            member.linkname = "/etc/passwd"
            tar.addfile(member)
        else:
            member.size = 1
            tar.addfile(member, io.BytesIO(b"x"))
    with pytest.raises(BadBundle):
        unpack_bundle(buf.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
