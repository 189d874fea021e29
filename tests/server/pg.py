"""A throw-away PostgreSQL cluster from Debian's binaries, for the registry's PostgreSQL lane.

``.ci/run`` starts one with ``python -m tests.server.pg start DIR`` (it prints the URL, which
it exports as ``HARNESS_TEST_PG_URL``) and stops it with ``... stop DIR``. Without that
variable the test fixture starts its own the same way; without the binaries the lane fails,
saying so: it is never skipped. The cluster runs as the ``postgres`` user when started by
root (PostgreSQL refuses root), listens on 127.0.0.1 on a free port, trust authentication.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["pg_bin", "start_cluster", "stop_cluster"]


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def start_cluster(where: Path) -> str:
    """initdb + pg_ctl start in ``where``; the SQLAlchemy URL of its ``postgres`` database.

    Started by root, the cluster runs as ``postgres``, which must be able to reach ``where``
    (so not under pytest's private temporary folder: use a folder in /tmp)."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: .ci/run installs it (apt-get install postgresql)"
        )
    where.mkdir(parents=True, exist_ok=True)
    data = where / "data"
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(where, pw.pw_uid, pw.pw_gid)
        where.chmod(0o755)
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(
        _as_owner(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    opts = f"-h 127.0.0.1 -p {port} -k {where} -F"
    subprocess.run(
        _as_owner(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(where / "log"),
                "-o",
                opts,
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    (where / "url").write_text(f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres")
    return (where / "url").read_text()


def stop_cluster(where: Path) -> None:
    bindir = pg_bin()
    if bindir is None or not (where / "data").is_dir():
        return
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(where / "data"), "-m", "fast", "-w", "stop"]),
        capture_output=True,
    )


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2])
    if action == "start":
        print(start_cluster(folder))
    else:
        stop_cluster(folder)
