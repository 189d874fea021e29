"""Where output goes: an evidence folder claimed by exactly one run, and output files that
can be written.

:func:`claim_folder` makes a folder one run's before anything is written to it, atomically:
it creates the folder and then ``run.json`` exclusively (``O_CREAT | O_EXCL``), so of several
``harness certify`` processes given one ``--out`` exactly one gets it and the others write
nothing. :func:`check_out_folder` and :func:`check_output_file` refuse, before a run starts,
paths that cannot take its output (a file where a folder is wanted, a place under /proc,
/sys or /dev, a read-only folder, a folder holding other files), each as an exit-2
:class:`~harness.errors.InputError` naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import InputError
from harness.evidence import RUN_FILE, bundle_note
from harness.safeio import special_place

__all__ = ["check_out_folder", "check_output_file", "claim_folder"]


def check_out_folder(out_dir: Path, *, what: str = "evidence folder", empty: bool = True) -> None:
    """Refuse, before anything is written, an evidence folder that cannot take a new run:
    one under /proc, /sys or /dev, a path that is a file, a folder that is not empty (unless
    ``empty`` is False), or a place where no folder can be created. Every refusal is an
    InputError naming the path."""
    root = special_place(out_dir)
    if root is not None:
        raise InputError(
            f"{what} {out_dir}: expected a folder on an ordinary file system, but it "
            f"is under {root}; give another --out folder"
        )
    if out_dir.is_symlink() and not out_dir.exists():
        raise InputError(f"{what} {out_dir}: it is a dangling symbolic link")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputError(f"{what} {out_dir}: expected a new or empty folder, but it is a file")
        if not empty:
            if not os.access(out_dir, os.W_OK | os.X_OK):
                raise InputError(f"{what} {out_dir}: cannot write in it (read-only or not yours)")
            return
        try:
            entries = sorted(os.listdir(out_dir))
        except OSError as exc:
            raise InputError(
                f"evidence folder {out_dir}: cannot list it ({exc.strerror})"
            ) from None
        if RUN_FILE in entries:
            raise InputError(
                f"{out_dir} already holds a run{bundle_note(out_dir)}; give a new or empty "
                "--out folder"
            )
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise InputError(
                f"evidence folder {out_dir}: expected a new or empty folder, but it holds "
                f"{shown}; every file of the folder would become evidence"
            )
        where = out_dir
    else:
        where = out_dir.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            raise InputError(
                f"{what} {out_dir}: cannot be created, {where} is a file, not a folder"
            )
    if not os.access(where, os.W_OK | os.X_OK):
        raise InputError(f"{what} {out_dir}: cannot write in {where} (read-only or not yours)")


def check_output_file(path: Path, flag: str) -> None:
    """Refuse an output file path (``--junit``, ``report --out``) that cannot be written as a
    plain file: a folder, a special file, a place under /proc, /sys or /dev, a read-only
    folder. An existing regular file is replaced (reports are made again from evidence)."""
    root = special_place(path)
    if root is not None:
        raise InputError(f"{flag} {path}: expected a file path, but it is under {root}")
    if path.is_dir():
        raise InputError(f"{flag} {path}: expected a file path, but it is a folder")
    if path.exists() and not path.is_file():
        raise InputError(f"{flag} {path}: expected a file path, but it is a special file")
    where = path.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise InputError(f"{flag} {path}: cannot be created, {where} is a file, not a folder")
    if not os.access(where, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {where} (read-only or not yours)")


def claim_folder(out_dir: Path, first_record: bytes) -> None:
    """Make ``out_dir`` this run's evidence folder, atomically, before anything else is
    written to it: create it (and its parents) and then ``run.json`` exclusively, holding
    ``first_record``. Of several processes given one folder, exactly one gets it; the others
    get an InputError and write nothing."""
    check_out_folder(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"evidence folder {out_dir}: a file of that name appeared") from None
    except OSError as exc:
        raise InputError(
            f"evidence folder {out_dir}: cannot create it ({exc.strerror or exc})"
        ) from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(out_dir / RUN_FILE, flags, 0o644)
    except FileExistsError:
        raise InputError(
            f"{out_dir} already holds a run (another harness process claimed it first); "
            "give a new or empty --out folder"
        ) from None
    except OSError as exc:
        raise InputError(
            f"evidence folder {out_dir}: cannot write {RUN_FILE} ({exc.strerror or exc})"
        ) from None
    try:
        os.write(fd, first_record)
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
