"""The embedded MQTT broker in a process of its own, for real-time runs that judge timing.

:class:`~harness.mqtt.broker.EmbeddedBroker` runs amqtt on a thread of the harness's own
process. In a simulated run that costs nothing; in a real-time qualification the harness's
process already carries the rest-bus, the bus reader, the evidence writer, the relay and its
MQTT client, and every message a pure-Python broker handles then waits for the one
interpreter lock they share. On a busy machine that delayed a BSM by 100 ms at the broker and
failed V2X-002 for a part that had sent it on time. :class:`BrokerProcess` runs the same
amqtt broker as ``python -m harness.mqtt.broker_process --port N`` instead, so only the
relay's bytes cross the harness's interpreter. It takes the scheduling priority it is given
(``--priority``, the bench's ``realtime.priority``: :mod:`harness.rtpriority`) itself and
prints what it applied, which the harness records in ``run.json``.

The child binds ``127.0.0.1`` only, prints one ready line, and stops on SIGTERM or SIGINT
(or when its parent's pipe closes); it takes no secrets (anonymous, loopback). It stands in
for the embedded broker whole: :meth:`BrokerProcess.stop`, :meth:`~BrokerProcess.start` and
:meth:`~BrokerProcess.kick` (a broker restart, V2X-008, and a cut DUT connection whose will the
broker publishes) are lines on its stdin (``stop``, ``start``, ``kick CLIENT_ID``), each
answered by one ``broker-reply:`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import IO

from harness.children import stop_child
from harness.errors import InterfaceError
from harness.mqtt.broker import EmbeddedBroker, free_tcp_port
from harness.rtpriority import (
    HARNESS_ROUND_ROBIN,
    PRIORITY_LINE,
    Applied,
    PrioritySetting,
    parse_setting,
    raised,
)

__all__ = ["BrokerProcess", "main"]

START_TIMEOUT = 20.0  # seconds for the broker process to say it listens
STOP_TIMEOUT = 5.0
COMMAND_TIMEOUT = 15.0  # seconds for the child to answer stop, start or kick
READY = "mqtt broker listening on "
REPLY = "broker-reply: "  # the child's answer to one command line


class BrokerProcess:
    """amqtt on ``127.0.0.1:<port>`` in a child process; use as a context manager."""

    host = EmbeddedBroker.host

    def __init__(self, port: int | None = None, priority: PrioritySetting = "off") -> None:
        self.port = port or free_tcp_port(self.host)
        self.priority = priority  # what the child applies to itself (harness.rtpriority)
        self.priority_applied: Applied | None = None  # what it said it applied
        self.output: list[str] = []  # what the child printed, for an error that names it
        self._proc: subprocess.Popen[str] | None = None
        self._listening = False
        self._replies: queue.Queue[str] = queue.Queue()
        self.running = False  # whether the broker listens (stop() and start() change it)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> BrokerProcess:
        argv = [sys.executable, "-m", "harness.mqtt.broker_process", "--port", str(self.port)]
        argv += ["--priority", str(self.priority)]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,  # closed by us (or by our death): the child then ends
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # default dispositions, whatever this process ignores (a job started in the
            # background ignores SIGINT): the child must stop when told
            restore_signals=True,
        )
        ready = threading.Event()
        assert self._proc.stdout is not None
        threading.Thread(
            target=self._read, args=(self._proc.stdout, ready), name="broker-output", daemon=True
        ).start()
        ready.wait(START_TIMEOUT)  # set by the ready line, or by the child's end of output
        if not self._listening or self._proc.poll() is not None:
            said = " | ".join(self.output[-5:]) or "nothing"
            code = self._proc.poll()
            self.__exit__()
            raise InterfaceError(
                f"the MQTT broker process on {self.address} did not start within "
                f"{START_TIMEOUT:g} s (exit {code}); it said: {said}"
            )
        self.running = True
        return self

    # -- the embedded broker's controls, over the child's stdin ------------------------------
    def stop(self) -> None:
        """Take the broker down: every connection is cut, retained messages are lost."""
        if self.running:
            self._command("stop")
            self.running = False

    def start(self) -> None:
        """Bring the broker back up on its port; InterfaceError when it cannot."""
        if not self.running:
            self._command("start")
            self.running = True

    def kick(self, client_id: str) -> bool:
        """Cut one client's connection without a DISCONNECT (the broker publishes its will);
        False when no such client is connected."""
        return self.running and self._command(f"kick {client_id}") == "true"

    def _command(self, line: str) -> str:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise InterfaceError(f"the MQTT broker process on {self.address} is not running")
        with contextlib.suppress(queue.Empty):  # an answer nobody waited for is stale
            while True:
                self._replies.get_nowait()
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answer = self._replies.get(timeout=COMMAND_TIMEOUT)
        except (OSError, queue.Empty):
            said = " | ".join(self.output[-3:]) or "nothing"
            raise InterfaceError(
                f"the MQTT broker process on {self.address} did not answer {line.split()[0]!r} "
                f"within {COMMAND_TIMEOUT:g} s; it said: {said}"
            ) from None
        if answer.startswith("error: "):
            raise InterfaceError(answer[len("error: ") :])
        return answer

    def _read(self, stream: IO[str], ready: threading.Event) -> None:
        for line in stream:
            self.output.append(line.rstrip("\n"))
            if line.startswith(PRIORITY_LINE):
                self.priority_applied = json.loads(line[len(PRIORITY_LINE) :])
            if READY in line:
                self._listening = True
                ready.set()
            if line.startswith(REPLY):
                self._replies.put(line[len(REPLY) :].rstrip("\n"))
        ready.set()  # the child ended without listening: no need to wait any longer
        with contextlib.suppress(OSError):
            stream.close()

    def __exit__(self, *exc: object) -> None:
        self.running = False
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_child(proc, STOP_TIMEOUT)
        if proc.stdin is not None:
            proc.stdin.close()


def main(argv: list[str] | None = None) -> int:
    """Run the embedded broker in the foreground until SIGTERM, SIGINT or stdin closes."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.mqtt.broker_process",
        description="The harness's embedded MQTT broker (amqtt) on 127.0.0.1, in the "
        "foreground, until SIGTERM, SIGINT or the end of stdin.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument(
        "--priority",
        type=parse_setting,
        default="off",
        help="auto, off (default) or 1..20: the scheduling priority to take (harness.rtpriority)",
    )
    args = parser.parse_args(argv)
    with raised(args.priority, round_robin=HARNESS_ROUND_ROBIN) as applied:
        print(PRIORITY_LINE + json.dumps(applied), flush=True)
        return _serve(args.port)


def _serve(port: int) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with EmbeddedBroker(port) as broker:
            if broker.port != port:  # the asked port was taken: say so, do not move
                print(f"error: port {port} on 127.0.0.1 is in use", flush=True)
                return 2
            print(f"{READY}{broker.address} (pid {os.getpid()})", flush=True)
            threading.Thread(
                target=_commands, args=(broker, stop), name="parent-commands", daemon=True
            ).start()
            while not stop.wait(0.5):
                pass
    except InterfaceError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    return 0


def _commands(broker: EmbeddedBroker, stop: threading.Event) -> None:
    """Answer the parent's command lines; the pipe closes when the harness ends, however it
    ends, and the broker with it."""
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        try:
            if command == "stop":
                broker.stop()
                answer = "ok"
            elif command == "start":
                broker.start()
                answer = "ok"
            elif command == "kick":
                answer = "true" if broker.kick(argument) else "false"
            else:
                answer = f"error: unknown command {command!r} (stop, start, kick CLIENT_ID)"
        except InterfaceError as exc:
            answer = f"error: {exc}"
        print(REPLY + answer, flush=True)
    stop.set()


if __name__ == "__main__":
    raise SystemExit(main())
