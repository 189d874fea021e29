"""A Mosquitto broker with TLS (CA, server and client certificates) and a password, for tests.

``make_lane(folder)`` generates test certificates with openssl, a password file with
mosquitto_passwd and a mosquitto.conf listening on 127.0.0.1 only, starts Mosquitto in the
background and returns a :class:`Lane` with what a bench file needs, including commands that
stop and start the broker again (V2X-008). ``python -m tests.v2x.mosquitto_lane DIR`` does
the same from a shell (CI) and prints ``export`` lines for the connection details.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_tcp_port

USER = "cc-harness"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def _run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(folder: Path) -> None:
    """ca.crt, server.crt/.key (127.0.0.1 and localhost), client.crt/.key."""
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cc-harness test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=folder,
    )
    for name, cn in (("server", "localhost"), ("client", "cc-harness client")):
        _run(
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={cn}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=folder,
        )
        extra = ["-extfile", str(ext)] if name == "server" else []
        _run(
            "openssl",
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *extra,
            cwd=folder,
        )
    for f in folder.iterdir():
        f.chmod(0o644)  # Mosquitto may drop to its own user


@dataclass(frozen=True)
class Lane:
    folder: Path
    port: int
    password: str
    psk_hex: str

    @property
    def conf(self) -> Path:
        return self.folder / "mosquitto.conf"

    @property
    def pid_file(self) -> Path:
        return self.folder / "mosquitto.pid"

    def start_argv(self) -> list[str]:
        return [mosquitto_binary() or "mosquitto", "-c", str(self.conf), "-d"]

    def stop_argv(self) -> list[str]:
        pid = self.pid_file
        return [
            "sh",
            "-c",
            f"p=$(cat {pid}) && kill $p && while kill -0 $p 2>/dev/null; do sleep 0.02; done;"
            f" rm -f {pid}",
        ]

    def bench_yaml(
        self, can_block: str, *, control: bool = True, relay_port: int | None = None
    ) -> str:
        """A bench on this broker; ``control: False`` gives the harness no stop/start
        commands (a lab's broker), ``relay_port`` the address the DUT connects to."""
        f = self.folder
        text = (
            "format: cc-harness-bench/1\nname: mosquitto TLS lane\n"
            + can_block
            + "mqtt:\n  broker:\n    host: 127.0.0.1\n"
            f'    port: {self.port}\n    protocol: "3.1.1"\n    username: {USER}\n'
            "    password_env: CC_MQTT_PASSWORD\n"
            f"    tls: {{ca: {f / 'ca.crt'}, cert: {f / 'client.crt'}, key: {f / 'client.key'}}}\n"
        )
        if control:
            text += (
                f"    control:\n      stop: {_flow(self.stop_argv())}\n"
                f"      start: {_flow(self.start_argv())}\n"
            )
        if relay_port is not None:
            text += f"  relay: {{host: 127.0.0.1, port: {relay_port}}}\n"
        return text + "  psk_env: CC_TCU_PSK\n"

    def env(self) -> dict[str, str]:
        return {"CC_MQTT_PASSWORD": self.password, "CC_TCU_PSK": self.psk_hex}

    def running(self) -> bool:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return True

    def wait_listening(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        log = (self.folder / "mosquitto.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{log}")

    def stop(self) -> None:
        if self.running():
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not self.running():
                    break
                time.sleep(0.02)


def _flow(argv: list[str]) -> str:
    return (
        "[" + ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in argv) + "]"
    )


def make_lane(folder: Path, port: int | None = None) -> Lane:
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto)")
    folder.mkdir(parents=True, exist_ok=True)
    make_certs(folder)
    password = "pw-" + secrets.token_hex(12)
    lane = Lane(folder, port or free_tcp_port(), password, secrets.token_hex(32))
    passwd = folder / "passwd"
    passwd.write_text("")
    _run("mosquitto_passwd", "-b", str(passwd), USER, password, cwd=folder)
    passwd.chmod(0o644)
    lane.conf.write_text(
        f"pid_file {lane.pid_file}\n"
        "persistence false\n"
        "set_tcp_nodelay true\n"  # else its small packets wait for delayed ACKs (40 ms)
        f"log_dest file {folder / 'mosquitto.log'}\n"
        "user root\n"
        f"listener {lane.port} 127.0.0.1\n"
        f"cafile {folder / 'ca.crt'}\n"
        f"certfile {folder / 'server.crt'}\n"
        f"keyfile {folder / 'server.key'}\n"
        "require_certificate true\n"
        f"password_file {passwd}\n"
        "allow_anonymous false\n"
    )
    subprocess.run(lane.start_argv(), check=True, timeout=30)
    lane.wait_listening()
    return lane


if __name__ == "__main__":  # pragma: no cover - CI helper
    lane = make_lane(Path(sys.argv[1]))
    print(f"export CC_MOSQUITTO_DIR={lane.folder}")
    print(f"export CC_MOSQUITTO_PORT={lane.port}")
