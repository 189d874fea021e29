"""The harness's side of MQTT: the broker, its own client, the log, and the MQTT steps.

:class:`MqttSide` is the context manager a session opens when its profile has an ``mqtt``
section. It provides the broker (the simulated one on the virtual clock; else the embedded
amqtt broker in a process of its own, or the bench's external broker), connects the
harness's client (a broker that cannot be reached is an
:class:`~harness.errors.InterfaceError` naming it: exit 3), subscribes to every topic the DUT
publishes, decodes what arrives into the :class:`~harness.mqtt.log.MqttLog` (and
``mqtt.jsonl``), and carries out the MQTT steps: publish, signed remote commands, command
fuzzing (:mod:`harness.mqtt.side_fuzz`), broker stop/start/cut, resubscribe. With a bench's
broker and ``mqtt.relay`` it also runs the relay the DUT connects through
(:mod:`harness.mqtt.relay`), which is how it cuts and refuses the DUT's connection on a broker
it does not control. If the broker goes away the client keeps trying to reconnect; what it
missed is simply not in the log, so checks that needed it fail rather than pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.clock import SIM_UTC_EPOCH, EventLoop, utc_offset
from harness.errors import BenchError, InterfaceError, StepFailed
from harness.fuzz import FuzzContext
from harness.identity import fill, placeholders
from harness.mqtt.broker_process import BrokerProcess
from harness.mqtt.client import PahoTransport
from harness.mqtt.commands import CommandSigner
from harness.mqtt.config import BrokerAddress
from harness.mqtt.log import MQTT_LOG_FILE, MqttLog, MqttRecorder
from harness.mqtt.plan import (
    CommandFuzzStepPlan,
    MqttPlan,
    MqttStepPlan,
    TopicPlan,
    subscription_filter,
)
from harness.mqtt.relay import TcpRelay
from harness.mqtt.side_fuzz import fuzz_command
from harness.mqtt.simbroker import SimBroker
from harness.mqtt.transport import ClientOptions, Transport, TransportHandler
from harness.observe import MQTT_STREAM

if TYPE_CHECKING:  # the bench is read, never built, here (harness.bench sits above)
    from harness.bench import Bench

__all__ = ["SIM_UTC_EPOCH", "MqttSide", "utc_offset"]

CONNECT_TIMEOUT = 5.0
RETRY = 0.1
DUT_RELAY_WAIT = 31.0  # the page's longest retry delay (30 s) and a second


MAX_EARLY = 10_000  # messages kept from before the part's identity is known


class MqttSide:
    """Broker, client, log and MQTT steps of one session; use as a context manager."""

    def __init__(
        self,
        plan: MqttPlan,
        bench: Bench,
        loop: EventLoop,
        *,
        out_dir: Path | None = None,
        client_id: str = "cc-harness",
    ) -> None:
        self.plan = plan
        self.bench = bench
        self.loop = loop
        self.out_dir = out_dir
        # The part's identity (topic placeholders): bound once read (bind_identity); until
        # then what arrives on the DUT's topic filters is kept aside.
        self.identity: dict[str, str] = {}
        self.bound = False
        self._early: list[tuple[float, str, bytes, int, bool]] = []
        self.client_id = client_id
        self.log = MqttLog(self.identity, utc_offset(loop))
        self.signer = CommandSigner(bench.mqtt.resolve_psk())
        self.fuzz: FuzzContext | None = None  # the run's seed and fuzz records (the session's)
        self.sim_broker: SimBroker | None = None
        self.embedded: BrokerProcess | None = None  # the embedded broker of a real-time run
        self.address: BrokerAddress | None = None
        self.relay: TcpRelay | None = None
        self.transport: Transport | None = None
        self._stack = contextlib.ExitStack()
        self._closing = False
        self._last_reason = "no answer"
        self._filters = {
            subscription_filter(t.template): t.qos
            for t in plan.topics.values()
            if t.direction == "dut"
        }
        self._by_topic: dict[str, TopicPlan] = {}
        self._tx_topics: dict[str, str] = {}
        if not any(placeholders(t.template) for t in plan.topics.values()):
            self.bind_identity({})

    def bind_identity(self, identity: dict[str, str]) -> None:
        """Key the topics by the part's identity; what came before on them is logged now."""
        self.identity = dict(identity)
        self.log.identity.update(identity)
        self.bound = True
        plan = self.plan
        self._by_topic = {
            t.topic(self.identity): t for t in plan.topics.values() if t.direction == "dut"
        }
        self._tx_topics = {name: t.topic(self.identity) for name, t in plan.topics.items()}
        early, self._early = self._early, []
        for message in early:
            self.on_message(*message)

    @property
    def dut_client_id(self) -> str | None:
        template = self.plan.client_id
        return None if template is None else fill(template, self.identity)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> MqttSide:
        try:
            self._open()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _open(self) -> None:
        stack = self._stack
        if self.out_dir is not None:
            recorder = stack.enter_context(MqttRecorder(self.out_dir / MQTT_LOG_FILE))
            self.log.recorder = recorder
            self.loop.idle_hooks.append(recorder.maybe_flush)
        options = ClientOptions(self.client_id, clean_session=True, keepalive=10)
        if self.loop.clock.simulated:
            self.sim_broker = SimBroker(self.loop)
            self.transport = self.sim_broker.client(options, self)
        else:
            config = self.bench.mqtt.broker
            priority = self.bench.realtime.priority
            if config is None:  # its own process: off this interpreter's lock (broker_process)
                self.embedded = stack.enter_context(BrokerProcess(None, priority))
                self.address = BrokerAddress(self.embedded.host, self.embedded.port, embedded=True)
            else:
                base = Path(self.bench.source).parent if self.bench.source else None
                self.address = BrokerAddress.from_config(config, base)
                relay = self.bench.mqtt.relay
                if relay is not None:  # the part connects here; the harness can cut it
                    self.relay = stack.enter_context(
                        TcpRelay((relay.host, relay.port), (self.address.host, self.address.port))
                    )
            self.transport = PahoTransport(self.loop, self.address, options, self)
        stack.callback(self.transport.close)
        self.transport.connect()
        connected = self.loop.run_for(CONNECT_TIMEOUT, until=lambda: self.connected)
        if not connected:
            raise InterfaceError(
                f"cannot connect to the MQTT {self.broker_label} within "
                f"{CONNECT_TIMEOUT:g} s: {self._last_reason}"
            )

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._stack.close()

    @property
    def broker_label(self) -> str:
        if self.sim_broker is not None:
            return self.sim_broker.label
        return self.address.label if self.address is not None else "broker"

    @property
    def connected(self) -> bool:
        return self.transport is not None and self.transport.connected

    def wait_for_dut(self) -> None:
        """With a relay: give the DUT up to one capped retry delay (V2X-008: 30 s) plus a
        second to connect through it. A part started before the harness found no relay and
        is between retries; cases that need its connection must not start before it is back.
        A part that never comes is not waited for again (its MQTT cases fail). Either way
        mqtt.jsonl records it: connected (after how long), or did not connect."""
        relay = self.relay
        if relay is None:
            return
        if relay.open_connections:  # it came while the harness waited for the bus's ready
            self.log.event(self.loop.now(), f"DUT connected through the {relay.label} (0.0 s)")
            return
        start = self.loop.now()
        came = self.loop.run_for(DUT_RELAY_WAIT, until=lambda: relay.open_connections > 0)
        waited = self.loop.now() - start
        what = "connected" if came else "did not connect"
        self.log.event(self.loop.now(), f"DUT {what} through the {relay.label} ({waited:.1f} s)")

    @property
    def dut_address(self) -> BrokerAddress | None:
        """Where the DUT connects: the relay when the bench names one, else the broker."""
        if self.address is None or self.relay is None:
            return self.address
        host, port = self.relay.listen
        return dataclasses.replace(self.address, host=host, port=port)

    def describe(self) -> dict[str, Any]:
        if self.sim_broker is not None:
            return {"broker": "simulated"}
        assert self.address is not None
        out: dict[str, Any] = {"broker": self.address.describe()}
        if self.relay is not None:
            out["relay"] = f"{self.relay.listen[0]}:{self.relay.listen[1]}"
        return out

    def dut_transport(self, options: ClientOptions, handler: TransportHandler) -> Transport:
        """A client for the in-process simulated DUT (simulated mode only)."""
        assert self.sim_broker is not None
        return self.sim_broker.client(options, handler)

    def sync(self) -> None:
        """Take in every message already received (before a window is evaluated)."""
        pump = getattr(self.transport, "pump", None)
        if pump is not None:
            pump()
        if self.log.recorder is not None:
            self.log.recorder.flush()

    # -- the adapter protocol (harness.adapter) ----------------------------------------------
    name = "mqtt"

    def streams(self) -> Mapping[str, object]:
        """The MQTT log (``mqtt``), with every message already received taken in."""
        self.sync()
        return {MQTT_STREAM: self.log}

    def begin_case(self) -> None:
        pass

    def end_case(self) -> None:
        pass

    # -- the client's callbacks (on the loop's thread) ---------------------------------------
    def on_connect(self, ok: bool, reason: str) -> None:
        now = self.loop.now()
        if not ok:
            self._last_reason = reason
            self.log.event(now, f"harness connect failed: {reason}")
            if not self._closing and self.transport is not None:
                self.loop.call_later(RETRY, self._retry)
            return
        self.log.event(now, "harness connected")
        assert self.transport is not None
        for flt, qos in self._filters.items():
            self.transport.subscribe(flt, qos)

    def on_lost(self, reason: str) -> None:
        self.log.event(self.loop.now(), f"harness connection lost: {reason}")
        if not self._closing:
            self.loop.call_later(RETRY, self._retry)

    def _retry(self) -> None:
        if not self._closing and self.transport is not None and not self.transport.connected:
            self.transport.connect()

    def on_message(self, ts: float, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not self.bound:
            if len(self._early) < MAX_EARLY:
                self._early.append((ts, topic, payload, qos, retain))
            return
        t = self._by_topic.get(topic)
        if t is None:
            return
        value, error = t.codec.decode(payload)
        self.log.add_rx(t.name, ts, topic, payload, qos, retain, value, error)

    # -- steps -------------------------------------------------------------------------------
    def run_step(self, step: MqttStepPlan, where: str) -> float:
        """Carry out one MQTT step; returns its moment (StepFailed when it cannot)."""
        if step.kind == "broker":
            return self._broker_step(step.broker or "", where)
        if step.kind == "resubscribe":
            assert step.topic is not None
            self.need_connection(where)
            t = self.plan.topics[step.topic]
            assert self.transport is not None
            # The moment is taken before SUBSCRIBE leaves: the broker may send the retained
            # message back before subscribe() returns, and it must not precede its stimulus.
            moment = self.loop.now()
            self.transport.subscribe(subscription_filter(t.template), t.qos)
            return moment
        if step.kind == "publish":
            assert step.topic is not None
            return self.publish(where, step.topic, step.payload, step.qos, step.retain, None)
        if isinstance(step, CommandFuzzStepPlan):
            return fuzz_command(self, step, where)
        if step.kind == "command":
            cmd = step.command
            assert cmd is not None and step.topic is not None
            utc_ms = round((self.log.utc(self.loop.now()) - cmd.age) * 1000)
            signed = self.signer.build(cmd.cmd, cmd.seq, utc_ms, cmd.fault)
            value = {"expect_seq": signed.seq, "fault": signed.fault, "cmd": cmd.cmd}
            return self.publish(where, step.topic, signed.payload, 1, False, value)
        raise StepFailed(f"{where}: unknown MQTT step {step.kind}")

    def need_connection(self, where: str) -> None:
        if not self.connected:
            self.loop.run_for(1.0, until=lambda: self.connected)
        if not self.connected:
            raise StepFailed(
                f"{where}: the harness is not connected to the MQTT {self.broker_label}"
            )

    def publish(
        self, where: str, name: str, payload: bytes, qos: int, retain: bool, value: Any
    ) -> float:
        self.need_connection(where)
        assert self.transport is not None
        topic = self._tx_topics[name]
        now = self.loop.now()
        if not self.transport.publish(topic, payload, qos, retain):
            raise StepFailed(f"{where}: publishing to {topic} failed")
        if isinstance(value, str):  # a note of its own (a fuzz payload)
            note: str | None = value
        else:
            note = None if value is None else f"command fault={value['fault']}"
        return self.log.add_tx(name, now, topic, payload, qos, retain, value, note)

    def _broker_step(self, action: str, where: str) -> float:
        now = self.loop.now()
        self.log.event(now, f"broker {action}")
        if self.sim_broker is not None:
            target: Any = self.sim_broker
        elif self.embedded is not None:
            target = self.embedded
        else:
            return self._external_broker(action, where)
        if action == "stop":
            target.stop()
        elif action == "start":
            target.start()
            self.loop.run_for(CONNECT_TIMEOUT, until=lambda: self.connected)
        elif self.dut_client_id is None:
            raise StepFailed(
                f"{where}: the harness cannot tell the DUT's connection on the "
                f"{self.broker_label}: "
                "the profile's mqtt section gives no client_id (e.g. client_id: tcu-{station_id})"
            )
        elif not target.kick(self.dut_client_id):
            raise StepFailed(f"{where}: the DUT ({self.dut_client_id}) is not connected")
        return now

    def _external_broker(self, action: str, where: str) -> float:
        """A bench's broker: its ``control`` commands stop and start it; else the relay
        (``mqtt.relay``) cuts and refuses the DUT's connections; the relay also drops the DUT."""
        assert self.address is not None
        control = self.address.control
        relay = self.relay
        now = self.loop.now()
        if action == "drop_dut" and relay is not None:
            if not relay.cut():
                raise StepFailed(
                    f"{where}: the DUT has no connection through the {relay.label} to cut "
                    "(is the part configured with the relay's address, mqtt.relay?)"
                )
            return now
        if action != "drop_dut" and control is not None:
            argv = control.stop if action == "stop" else control.start
            try:
                subprocess.run(argv, check=True, capture_output=True, timeout=15)
            except (OSError, subprocess.SubprocessError) as exc:
                raise StepFailed(f"{where}: broker {action} command failed: {exc}") from None
            if action == "start":
                self.loop.run_for(CONNECT_TIMEOUT, until=lambda: self.connected)
            return now
        if relay is not None:
            try:
                relay.down() if action == "stop" else relay.up()
            except BenchError as exc:
                raise StepFailed(f"{where}: broker {action}: {exc}") from None
            return now
        what = "cut the DUT's connection at" if action == "drop_dut" else action
        raise StepFailed(
            f"{where}: the harness cannot {what} the {self.broker_label}: the bench gives no "
            "mqtt.relay (the address the part connects to, which the harness relays to the "
            "broker and can cut)" + ("" if action == "drop_dut" else " and no mqtt.broker.control")
        )
