"""Durable evidence: the bundle of a run, its manifest of hashes, and their verification.

The writers it is made with (the BLF trace flushed every 250 ms, atomic JSON and byte files)
are :mod:`harness.trace`, re-exported here.

**The bundle.** A run writes one folder::

    trace.blf              every frame both ways (BLF, python-can)
    run.json               the run record (status RUNNING until the run ends)
    profile.yaml           the profile, byte for byte as loaded
    dbc/<name>.dbc         the DBC, byte for byte as loaded
    mqtt.log, diag.log     ... whatever logs a run writes: every file of the folder counts
    manifest.json          path, size and sha256 of every file above, written last
    certificate.dsse.json  the signed certificate (only for a passing run, with --key)

The manifest covers every file of the folder, hidden and temporary-looking ones included,
except itself, the certificate, and the two reports ``report/report.html`` and
``report/junit.xml`` (outputs derived later from the evidence); anything else found later,
or any entry that is not a regular file, makes verification fail. The folder is claimed by
exactly one run before anything is written (:func:`harness.outputs.claim_folder`). It is
written when the session ends, after the trace is closed and the record is final, so its
presence means the folder is complete. A run killed with ``kill -9`` leaves run.json
saying RUNNING and no manifest: :func:`check_bundle` says so to every later command.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from harness.bundle_names import (  # re-exported: the bundle's file names
    CERTIFICATE_FILE,
    DBC_DIR,
    DERIVED_DIR,
    MANIFEST_FILE,
    PROFILE_FILE,
    RUN_FILE,
)
from harness.canonical import JsonRejected, strict_loads
from harness.errors import EvidenceIncomplete, InputError, VerificationError
from harness.plan import BUSES_DIGEST_FILE, buses_manifest
from harness.safeio import (
    EVIDENCE_LOG,
    EVIDENCE_RECORD,
    MANIFEST,
    YAML,
    open_input,
    read_input,
)
from harness.trace import (  # re-exported: the writers the bundle is made with
    FLUSH_INTERVAL,
    BackgroundSync,
    TraceWriter,
    write_bytes_atomic,
    write_json_atomic,
)

if TYPE_CHECKING:
    from harness.plan import Plan

__all__ = [
    "CERTIFICATE_FILE",
    "DBC_DIR",
    "DERIVED_DIR",
    "FLUSH_INTERVAL",
    "MANIFEST_FILE",
    "PROFILE_FILE",
    "RUN_FILE",
    "BackgroundSync",
    "ManifestEntry",
    "TraceWriter",
    "bundle_files",
    "bundle_inputs",
    "bundle_note",
    "check_bundle",
    "copy_inputs",
    "file_sha256",
    "verify_manifest",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_manifest",
]

# -- the bundle ------------------------------------------------------------------------------

MANIFEST_FORMAT = "cc-harness-manifest/1"
_NOT_IN_MANIFEST = frozenset({MANIFEST_FILE, CERTIFICATE_FILE})
_DERIVED = frozenset({"report.html", "junit.xml"})  # what 'harness report' writes in report/
_FINAL = ("COMPLETED", "ABORTED")
_CHUNK = 1 << 20


def file_sha256(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open_input(path, EVIDENCE_LOG) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def copy_inputs(out_dir: Path, plan: Plan) -> None:
    """Keep the profile and the DBC in the folder, byte for byte as the run loaded them.

    The DBC comes from the bytes the plan was compiled from; the profile is read again and
    must still have the digest it was loaded with (a file edited since is an InputError).
    """
    raw = read_input(plan.path, YAML)
    if hashlib.sha256(raw).hexdigest() != plan.digest:
        raise InputError(
            "the profile file changed on disk after it was loaded; load it again",
            source=str(plan.path),
            expected=f"sha256 {plan.digest}",
            got=hashlib.sha256(raw).hexdigest(),
        )
    write_bytes_atomic(out_dir / PROFILE_FILE, raw)
    if len(plan.buses) > 1:  # dbc/BUS/FILE each, and the digests of them all
        for bus in plan.buses:
            write_bytes_atomic(out_dir / DBC_DIR / bus.name / bus.file_name, bus.dbc.text)
        write_bytes_atomic(out_dir / DBC_DIR / BUSES_DIGEST_FILE, buses_manifest(plan.buses))
        return
    write_bytes_atomic(out_dir / DBC_DIR / Path(plan.dbc_path).name, plan.dbc.text)


def bundle_inputs(out_dir: Path) -> tuple[Path, Path]:
    """The profile and DBC kept in an evidence folder (for ``load_profile(dbc_override=)``);
    of a several-bus run, the ``dbc/`` folder (``dbc/BUS/FILE`` each)."""
    profile = out_dir / PROFILE_FILE
    if profile.is_file() and (out_dir / DBC_DIR / BUSES_DIGEST_FILE).is_file():
        return profile, out_dir / DBC_DIR
    dbcs = sorted((out_dir / DBC_DIR).glob("*")) if (out_dir / DBC_DIR).is_dir() else []
    if not profile.is_file() or len(dbcs) != 1 or not dbcs[0].is_file():
        raise InputError(
            f"{out_dir} does not hold its run's inputs",
            expected=f"{PROFILE_FILE} and exactly one file in {DBC_DIR}/",
            got=", ".join(p.name for p in dbcs) or "no DBC",
        )
    return profile, dbcs[0]


def _covered(rel: PurePosixPath) -> bool:
    """Whether the manifest covers a file at ``rel`` (relative to the folder): every file but
    the manifest, the certificate and the derived reports (``report/report.html`` and
    ``report/junit.xml``). Hidden and temporary-looking files are covered like any other, so
    a file added after sealing, whatever its name, makes the folder fail verification."""
    if len(rel.parts) == 1 and rel.name in _NOT_IN_MANIFEST:
        return False
    return not (len(rel.parts) == 2 and rel.parts[0] == DERIVED_DIR and rel.name in _DERIVED)


def bundle_files(out_dir: Path) -> tuple[list[str], list[str]]:
    """The files the manifest covers (sorted POSIX paths), and entries that are not regular
    files (symbolic links, sockets...), which no manifest may cover."""
    files: list[str] = []
    odd: list[str] = []
    for root, dirs, names in os.walk(out_dir, followlinks=False):
        base = Path(root)
        for name in [*dirs, *names]:
            path = base / name
            rel = PurePosixPath(path.relative_to(out_dir).as_posix())
            if not _covered(rel):
                if len(rel.parts) > 1 and (path.is_symlink() or not path.is_file()):
                    odd.append(str(rel))  # a derived report must be a plain file too
                continue
            if path.is_symlink() or (not path.is_dir() and not path.is_file()):
                odd.append(str(rel))
            elif path.is_file():
                files.append(str(rel))
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    return sorted(files), sorted(odd)


def write_manifest(out_dir: Path) -> Path:
    """Seal the folder: manifest.json with path, size and sha256 of every file it covers."""
    files, _ = bundle_files(out_dir)
    entries = []
    for rel in files:
        digest, size = file_sha256(out_dir / rel)
        entries.append({"path": rel, "size": size, "sha256": digest})
    try:
        record = json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "run_id": record.get("run_id"),
        "status": record.get("status"),
        "files": entries,
    }
    path = out_dir / MANIFEST_FILE
    write_json_atomic(path, manifest)
    return path


def _no_content(exc: Exception) -> str:
    """Why a JSON file did not read, without quoting it (json's messages give only places)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start} is not UTF-8"
    return str(exc)


def _read_record(out_dir: Path) -> dict[str, Any]:
    if not out_dir.is_dir():
        raise InputError(f"evidence folder {out_dir} does not exist")
    path = out_dir / RUN_FILE
    if not path.is_file():
        raise InputError(
            f"{out_dir} is not an evidence folder (one written by 'harness certify --out'): "
            f"it has no {RUN_FILE}"
        )
    try:
        record = json.loads(read_input(path, EVIDENCE_RECORD).decode("utf-8"))
    except (InputError, ValueError) as exc:
        raise EvidenceIncomplete(
            f"evidence folder {out_dir} is incomplete: {RUN_FILE} cannot be read "
            f"({_no_content(exc)})"
        ) from None
    if not isinstance(record, dict):
        raise EvidenceIncomplete(
            f"evidence folder {out_dir} is incomplete: {RUN_FILE} is not a run record"
        )
    return record


def check_bundle(out_dir: Path, *, accept: tuple[str, ...] = _FINAL) -> dict[str, Any]:
    """The run record of a complete evidence folder, or :class:`EvidenceIncomplete` saying
    why the folder is not (run still marked RUNNING, no manifest, a status not accepted).
    """
    record = _read_record(out_dir)
    status = record.get("status")
    sealed = (out_dir / MANIFEST_FILE).is_file()
    run = f"run {record.get('run_id')} (started {record.get('started')})"
    if status == "RUNNING" and not sealed:
        raise EvidenceIncomplete(
            f"evidence folder {out_dir} is incomplete: its {run} is still marked RUNNING and "
            f"the folder has no {MANIFEST_FILE}: the run is still going, or the harness "
            "process died during it (killed, crashed, power lost); the trace keeps the frames "
            "up to its last flush, but the run cannot be certified or trusted as complete"
        )
    if not sealed:
        raise EvidenceIncomplete(
            f"evidence folder {out_dir} is incomplete: it has no {MANIFEST_FILE} (the harness "
            f"stopped before sealing the folder after its {run} ended {status})"
        )
    if status not in accept:
        why = f": {record['error']}" if record.get("error") else ""
        if status == "RUNNING":
            why = ": the session ended without finishing the run"
        raise EvidenceIncomplete(
            f"evidence folder {out_dir} is incomplete: its {run} ended with status {status}{why}"
        )
    return record


def bundle_note(out_dir: Path) -> str:
    """'' for a complete folder, else '; that run is incomplete: ...' (for messages)."""
    try:
        check_bundle(out_dir)
    except EvidenceIncomplete as exc:
        reason = str(exc).split(" is incomplete: ", 1)[-1]
        return f"; that run is incomplete: {reason}"
    except InputError:
        return ""
    return ""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


def _hex64(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _manifest_entries(where: str, data: Any) -> list[ManifestEntry]:
    def bad(what: str) -> VerificationError:
        return VerificationError(f"{where} is malformed: {what}")

    keys = {"format", "run_id", "status", "files"}
    if not isinstance(data, dict) or set(data) != keys:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise bad(f"expected an object with keys {sorted(keys)}, but got {got}")
    if data["format"] != MANIFEST_FORMAT:
        raise bad(f"expected format {MANIFEST_FORMAT}, but got {data['format']!r}")
    if not isinstance(data["files"], list):
        raise bad("'files' is not a list")
    entries: list[ManifestEntry] = []
    for i, item in enumerate(data["files"]):
        if not isinstance(item, dict) or set(item) != {"path", "size", "sha256"}:
            raise bad(f"files[{i}] is not an object with keys path, size, sha256")
        path, size, digest = item["path"], item["size"], item["sha256"]
        if not isinstance(path, str) or not _safe_relative(path):
            raise bad(f"files[{i}].path {path!r} is not a relative path inside the folder")
        if type(size) is not int or size < 0:
            raise bad(f"files[{i}].size {size!r} is not a byte count")
        if not _hex64(digest):
            raise bad(f"files[{i}].sha256 {digest!r} is not a lower-case hex sha256")
        entries.append(ManifestEntry(path, size, digest))
    paths = [e.path for e in entries]
    if paths != sorted(set(paths)):
        raise bad("the file list is not sorted or names a file twice")
    return entries


def _safe_relative(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        bool(path)
        and "\\" not in path
        and not pure.is_absolute()
        and str(pure) == path
        and all(part not in ("", ".", "..") for part in pure.parts)
        and _covered(pure)
    )


def verify_manifest(out_dir: Path, expected_sha256: str | None = None) -> list[ManifestEntry]:
    """Check an evidence folder against its manifest, strictly; raise VerificationError.

    With ``expected_sha256`` (from a certificate) the manifest file itself must have that
    digest. Every listed file must exist as a regular file with its size and sha256, and
    every file the manifest covers (see :func:`bundle_files`) must be listed.
    """
    path = out_dir / MANIFEST_FILE
    try:
        raw = read_input(path, MANIFEST)
    except InputError as exc:
        raise VerificationError(f"{exc} (the folder is not sealed)") from None
    if expected_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected_sha256:
            raise VerificationError(
                f"evidence manifest {path} has sha256 {actual}, but the certificate names "
                f"{expected_sha256}: the manifest was changed, or this is another run's evidence"
            )
    try:
        data = strict_loads(raw)
    except JsonRejected as exc:
        raise VerificationError(f"evidence manifest {path} is malformed: {exc}") from None
    entries = _manifest_entries(f"evidence manifest {path}", data)
    for entry in entries:
        file = out_dir / entry.path
        if file.is_symlink() or (file.exists() and not file.is_file()):
            raise VerificationError(
                f"evidence file {entry.path} in {out_dir} is not a regular file"
            )
        if not file.exists():
            raise VerificationError(
                f"evidence file {entry.path} listed in the manifest is missing from {out_dir}"
            )
        digest, size = file_sha256(file)
        if size != entry.size:
            raise VerificationError(
                f"evidence file {entry.path} in {out_dir} was modified: it has {size} bytes, "
                f"the manifest says {entry.size}"
            )
        if digest != entry.sha256:
            raise VerificationError(
                f"evidence file {entry.path} in {out_dir} was modified: its sha256 is "
                f"{digest}, the manifest says {entry.sha256}"
            )
    files, odd = bundle_files(out_dir)
    if odd:
        raise VerificationError(
            f"evidence folder {out_dir} holds {', '.join(odd)}, which is not a regular file"
        )
    listed = {e.path for e in entries}
    extra = [f for f in files if f not in listed]
    if extra:
        raise VerificationError(
            f"evidence folder {out_dir} holds {', '.join(extra)}, which the manifest does not "
            "list: files were added after the run was sealed"
        )
    return entries
