"""A simulated part in a process of its own, for real-time runs: qualify's, and certify's
with ``--sim-process``.

A real-time run judges real timing. With the simulator in the harness's own process the two
share one interpreter lock, and a busy machine turns that into timing faults the part does
not have. A supplier's part runs in its own process (or on its own hardware): so does the
simulator here, exactly as ``harness sim run NAME --bench`` runs it, and the harness
certifies it as ``--dut external``.

:class:`SimProcessLane` prepares one run: the bench the harness uses and the bench file the
simulator reads. They meet on

* CAN: the bench's bus, except that python-can's ``virtual`` interface (one process only)
  becomes ``udp_multicast``, and a ``udp_multicast`` bus gets a free port of its own for
  every run (every process on one group and port shares one bus);
* MQTT: the bench's broker, or (without one) the embedded amqtt broker started on a free port
  for the run in a process of its own (:mod:`harness.mqtt.broker_process`: in the harness's
  process it shared the interpreter lock with the rest-bus and delayed BSMs), with a relay
  (``mqtt.relay``, :mod:`harness.mqtt.relay`) on a free port as the simulator's address, so
  the will and outage cases run as on any lab broker.

Both children take the bench's ``realtime.priority`` themselves (:mod:`harness.rtpriority`:
the simulator through its bench file, the broker through ``--priority``) and say what they
applied; :attr:`SimProcessLane.priority` keeps that for the run's ``run.json``.

Secrets go to the simulator through its environment (the bench file names the variables),
never into the file. The simulator's output is kept, and a simulator that does not come up is
a :class:`~harness.errors.RunIncomplete` naming what it said.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.bench import Bench, CanConfig
from harness.children import stop_child
from harness.dut import DEFAULT_DUT
from harness.errors import InputError, RunIncomplete
from harness.mqtt.broker import EmbeddedBroker, free_tcp_port
from harness.mqtt.broker_process import BrokerProcess
from harness.mqtt.config import BrokerAddress, BrokerConfig, MqttBenchConfig, RelayConfig
from harness.plan import Plan
from harness.rtpriority import HARNESS_ROUND_ROBIN, PRIORITY_LINE, Applied, raised
from harness.session_buses import live_configs
from harness.session_mqtt import mqtt_plan
from harness.sim.choice import DutChoice
from harness.timerwatch import SUMMARY_KEYS, TIMERS_LINE

if TYPE_CHECKING:
    from harness.session import Session

__all__ = ["SimProcessLane", "free_udp_port"]

START_TIMEOUT = 30.0  # seconds for the simulator process to say it runs
STOP_TIMEOUT = 10.0
READY_LINE = " running on "  # what 'harness sim run' prints once the part is up
MULTICAST_GROUP = "239.74.163.2"
PSK_VAR = "CC_HARNESS_SIM_PSK"
PASSWORD_VAR = "CC_HARNESS_SIM_MQTT_PASSWORD"


def free_udp_port() -> int:
    """A UDP port nobody on this machine uses now (for a multicast bus of one's own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def _can_for_processes(can: CanConfig) -> CanConfig:
    if can.interface == "virtual":
        fd: dict[str, Any] = {"fd": True} if can.options.get("fd") is True else {}
        return CanConfig(
            interface="udp_multicast",
            channel=MULTICAST_GROUP,
            bitrate=can.bitrate,
            options={"port": free_udp_port(), **fd},
        )
    if can.interface == "udp_multicast":
        options = {**can.options, "port": free_udp_port()}
        channel = can.channel or MULTICAST_GROUP
        return can.model_copy(update={"channel": channel, "options": options})
    return can  # a real interface (socketcan, vcan, ...) is shared between processes already


class SimProcessLane:
    """One real-time run's simulator process and the bench the harness certifies it on.

    Use as a context manager: entering starts the embedded broker (when the bench names
    none) and the simulator, and waits until it runs; leaving stops both.
    """

    def __init__(
        self, plan: Plan, bench: Bench, variant: str | None = None, *, dut: str = DEFAULT_DUT
    ) -> None:
        self.plan = plan
        self.variant = variant
        self.dut = dut  # the simulated DUT (harness.dut provider) the process runs
        self.label = str(DutChoice("sim", variant, dut))  # as --dut spells it
        self.psk = bench.mqtt.resolve_psk()  # a bad key is the bench's error, before anything
        can = _can_for_processes(bench.can)
        mqtt = bench.mqtt
        self.embedded: BrokerProcess | None = None
        self.priority_setting = bench.realtime.priority  # each child applies it to itself
        # what each child said it applied (harness.rtpriority), for run.json's 'priority'
        self.priority: dict[str, Applied] = {}
        self._embedded_port: int | None = None
        self.needs_mqtt = mqtt_plan(plan) is not None  # else the simulator runs without V2X
        if self.needs_mqtt and mqtt.broker is None:
            self._embedded_port = free_tcp_port()
            broker = BrokerConfig(host=EmbeddedBroker.host, port=self._embedded_port)
            mqtt = MqttBenchConfig(broker=broker, psk=mqtt.psk, psk_env=mqtt.psk_env)
        if self.needs_mqtt and mqtt.relay is None:
            mqtt = mqtt.model_copy(update={"relay": RelayConfig(port=free_tcp_port())})
        buses: dict[str, CanConfig] = {}
        if len(plan.bus_list()) > 1:  # a part on several buses: a bus of its own for each
            buses = {n: _can_for_processes(c) for n, c in live_configs(plan, bench).items()}
            can = next(iter(buses.values()))
        self.bench = bench.model_copy(update={"can": can, "mqtt": mqtt, "can_buses": buses})
        self.output: list[str] = []  # what the simulator printed (stdout and stderr)
        # its timer watch as it last reported it (harness.timerwatch), for run.json
        self.sim_timers: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []

    @classmethod
    def for_choice(
        cls, plan: Plan, bench: Bench, choice: DutChoice, asked_by: str
    ) -> SimProcessLane:
        """The lane for ``choice``, which must be a simulated DUT; ``asked_by`` names the
        option that asked for its own process (``--sim-process``), for the error."""
        if choice.kind != "sim":
            raise InputError(
                asked_by, expected="a simulated DUT (sim[:NAME[:VARIANT]])", got=str(choice)
            )
        return cls(plan, bench, choice.variant, dut=choice.provider)

    @contextlib.contextmanager
    def hosting(self, session: Session) -> Iterator[SimProcessLane]:
        """Start the simulator for ``session`` (a real-time session on :attr:`bench` with an
        external DUT) and stop it after: the run's ``dut`` is :attr:`label` (own process).

        This process's priority is raised first (its session's autogroup, shared with the
        children; its threads round robin below the simulator's), then each child takes the
        bench's priority itself, and what each said goes to ``run.json``'s ``priority``.
        Enter it before the session, which connects to the broker started here.
        """
        session.record.dut = f"{self.label} (own process)"
        session.harness_round_robin = True  # below the simulator's, which the lane raises
        with contextlib.ExitStack() as stack:
            assert session.record.priority is not None
            stack.enter_context(raised(self.priority_setting, round_robin=HARNESS_ROUND_ROBIN))
            stack.enter_context(self)
            session.record.priority.update(self.priority)
            yield self

    # -- the simulator's bench file -----------------------------------------------------------
    def _sim_bench(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The simulator's bench (as data) and the environment its secrets travel in."""
        b = self.bench
        data: dict[str, Any] = {
            "format": "cc-harness-bench/1",
            "name": "qualification real-time run: the simulator's side",
            "can": {n: c.model_dump(exclude_none=True) for n, c in b.can_buses.items()}
            if b.can_buses
            else b.can.model_dump(exclude_none=True),
            "dut": b.dut.model_dump(exclude_none=True),
            "realtime": {"priority": self.priority_setting},
        }
        env = {PSK_VAR: self.psk.hex()}
        broker_cfg = b.mqtt.broker
        if not self.needs_mqtt or broker_cfg is None or b.mqtt.relay is None:
            return data, env
        base = Path(b.source).parent if b.source else None
        address = BrokerAddress.from_config(broker_cfg, base)
        broker: dict[str, Any] = {
            "host": address.host,
            "port": address.port,
            "protocol": address.protocol,
        }
        if address.username is not None:
            broker["username"] = address.username
        if address.password is not None:
            env[PASSWORD_VAR] = address.password
            broker["password_env"] = PASSWORD_VAR
        if address.tls:
            files = (("ca", address.ca), ("cert", address.cert), ("key", address.key))
            tls: dict[str, Any] = {k: v for k, v in files if v is not None}
            tls["insecure"] = address.insecure
            broker["tls"] = tls
        data["mqtt"] = {"broker": broker, "relay": b.mqtt.relay.model_dump(), "psk_env": PSK_VAR}
        return data, env

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> SimProcessLane:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        if self._embedded_port is not None:
            self.embedded = BrokerProcess(self._embedded_port, self.priority_setting).__enter__()
            if self.embedded.priority_applied is not None:
                self.priority["broker"] = self.embedded.priority_applied
        self._dir = tempfile.TemporaryDirectory(prefix="cc-harness-sim-")
        path = Path(self._dir.name) / "bench.yaml"
        data, secrets = self._sim_bench()
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        # 'sim tcu' is 'sim run cc-tcu-1', under the name the reference part always had
        command = ["tcu"] if self.dut == DEFAULT_DUT else ["run", self.dut]
        argv = [sys.executable, "-m", "harness.cli", "sim", *command, "--bench", str(path)]
        argv += ["--dbc", str(self.plan.dbc_path), "--timer-watch"]
        if self.variant:
            argv += ["--variant", self.variant]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **secrets},
        )
        ready = threading.Event()
        for stream in (self._proc.stdout, self._proc.stderr):
            assert stream is not None
            reader = threading.Thread(
                target=self._read, args=(stream, ready), name="sim-output", daemon=True
            )
            reader.start()
            self._readers.append(reader)
        started = ready.wait(START_TIMEOUT)
        # what it applied, said on stderr before it said it runs on stdout
        for _ in range(200):
            if "simulator" in self.priority or self._proc.poll() is not None:
                break
            time.sleep(0.01)
        if not started or self._proc.poll() is not None:
            said = " | ".join(self.output[-5:]) or "nothing"
            raise RunIncomplete(
                f"the simulator process did not start within {START_TIMEOUT:g} s "
                f"(exit {self._proc.poll()}); it said: {said}"
            )

    def _read(self, stream: IO[str], ready: threading.Event) -> None:
        for line in stream:
            if line.startswith(TIMERS_LINE):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    summary = json.loads(line[len(TIMERS_LINE) :])
                    # the same keys each time: run.json may be written from it meanwhile
                    self.sim_timers.update({k: summary.get(k) for k in SUMMARY_KEYS})
                continue  # said often: not kept with the rest of what it said
            self.output.append(line.rstrip())
            if line.startswith(PRIORITY_LINE):
                with contextlib.suppress(ValueError):
                    said = json.loads(line[len(PRIORITY_LINE) :])
                    self.priority["simulator"] = {**said, "timers": self.sim_timers}
            if READY_LINE in line:
                ready.set()
        ready.set()  # the process ended: stop waiting

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_child(proc, STOP_TIMEOUT)
            for reader in self._readers:
                reader.join(timeout=2)
        if self.embedded is not None:
            self.embedded.__exit__(None, None, None)
            self.embedded = None
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.cleanup()
            self._dir = None
