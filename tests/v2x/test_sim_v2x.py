"""The reference TCU's V2X and command behaviour on the simulated broker and virtual clock."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import can
import pytest

from harness.can.dbc import load_dbc
from harness.clock import SIM_UTC_EPOCH, EventLoop, VirtualClock
from harness.mqtt.codec import load_asn1
from harness.mqtt.commands import CommandSigner
from harness.mqtt.simbroker import SimBroker
from harness.mqtt.transport import ClientOptions
from harness.sim.tcu import ReferenceTcu
from harness.sim.v2x import V2xBackend
from tests.conftest import DBC, ROOT

PSK = bytes(32)
SID = "0C0FFEE1"


class Observer:
    def __init__(self) -> None:
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.connected = False

    def on_connect(self, ok: bool, reason: str) -> None:
        self.connected = ok

    def on_lost(self, reason: str) -> None:
        self.connected = False

    def on_message(self, ts: float, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.messages.append((ts, topic, payload, retain))

    def on(self, topic: str) -> list[tuple[float, bytes, bool]]:
        return [(t, p, r) for t, tp, p, r in self.messages if tp == topic]


class Rig:
    def __init__(self, variant: str | None = None) -> None:
        self.db = load_dbc(DBC)
        self.clock = VirtualClock()
        self.loop = EventLoop(self.clock)
        channel = f"v2x-{uuid.uuid4().hex}"
        self.bus = can.Bus(interface="harness_sim", channel=channel, clock=self.clock)
        self.frames: list[tuple[float, can.Message]] = []
        self.loop.add_reader(self.bus, lambda m: self.frames.append((self.loop.now(), m)))
        self.broker = SimBroker(self.loop)
        self.obs = Observer()
        self.client = self.broker.client(ClientOptions("observer"), self.obs)
        self.client.connect()
        self.loop.run_for(0.01)
        self.client.subscribe("v2x/#", 1)
        dut_bus = can.Bus(interface="harness_sim", channel=channel, clock=self.clock)
        self.tcu = ReferenceTcu(self.loop, dut_bus, self.db, variant=variant)
        self.v2x = V2xBackend(self.tcu, self.broker.client, PSK)
        self.asn1 = load_asn1(str(ROOT / "dbc" / "ccv2x.asn"))
        self.tcu.start()

    def send(self, name: str, **signals: Any) -> None:
        msg = self.db.message(name)
        values = {s: 0 for s in msg.signals} | signals
        data = msg.encode(values)
        if name == "VEH_Dynamics":
            e2e = msg.e2e("AliveCounter", "CRC")
            self._counter = (getattr(self, "_counter", 0) + 1) % 16
            data = e2e.protect(data, self._counter)
        self.bus.send(can.Message(arbitration_id=msg.frame_id, data=data, is_extended_id=False))

    def ignition_on(self) -> None:
        self.send("VEH_Status", IgnitionState=2)
        self.send("VEH_Dynamics", VehicleSpeed=72.0)

    def bsms(self) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, self.asn1.decode("BasicSafetyMessage", p))
            for t, p, _ in self.obs.on(f"v2x/bsm/{SID}")
        ]

    def status_frames(self) -> list[tuple[float, dict[str, Any]]]:
        msg = self.db.message("TCU_Status")
        return [(t, msg.decode(m.data)) for t, m in self.frames if m.arbitration_id == 0x3A0]


def test_connects_says_online_retained_and_publishes_bsm_at_10_hz() -> None:
    rig = Rig()
    rig.ignition_on()
    for _ in range(30):  # keep VEH_Dynamics coming
        rig.loop.run_for(0.02)
        rig.send("VEH_Dynamics", VehicleSpeed=72.0)
    assert rig.obs.on(f"v2x/status/{SID}")[0][1] == b"online"
    bsms = rig.bsms()
    assert len(bsms) >= 4
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(bsms)]
    assert all(abs(g - 0.1) < 1e-6 for g in gaps)
    t, value = bsms[-1]
    assert value["id"] == SID and value["speed"] == 1000  # 72 km/h = 20 m/s = 1000 * 0.02
    assert abs(value["secMark"] - ((t + SIM_UTC_EPOCH) * 1000) % 60000) < 2
    # a new subscriber gets 'online' retained
    late = Observer()
    c = rig.broker.client(ClientOptions("late"), late)
    c.connect()
    rig.loop.run_for(0.01)
    c.subscribe(f"v2x/status/{SID}", 1)
    rig.loop.run_for(0.01)
    assert late.messages[-1][2:] == (b"online", True)
    assert rig.status_frames()[-1][1]["BsmActive"] == 1


def test_reconnect_back_off_and_backend_lost() -> None:
    rig = Rig()
    rig.loop.run_for(0.5)
    assert rig.tcu.conn_state == 1
    attempts: list[float] = []
    original = rig.v2x.transport.connect

    def counting() -> None:
        attempts.append(rig.loop.now())
        original()

    rig.v2x.transport.connect = counting  # type: ignore[method-assign]
    down = rig.loop.now()
    rig.broker.stop()
    rig.loop.run_for(12.0)
    # first retry 1 s after the loss, then 2 s, 4 s later (each delay double the one before)
    assert attempts[0] - down == pytest.approx(1.0, abs=0.01)
    assert [b - a for a, b in itertools.pairwise(attempts)] == pytest.approx([2.0, 4.0], abs=0.01)
    assert rig.tcu.conn_state == 0 and rig.tcu.fault_backend_lost
    lost_at = next(t for t, s in rig.status_frames() if s["FaultBackendLost"] == 1)
    assert 10.0 <= lost_at - down <= 10.2
    rig.broker.start()
    rig.loop.run_for(5.0)
    assert attempts[-1] - attempts[-2] == pytest.approx(8.0, abs=0.01)
    assert rig.tcu.conn_state == 1 and not rig.tcu.fault_backend_lost
    assert rig.obs.on(f"v2x/status/{SID}")[-1][1] == b"online"  # republished


def test_will_is_offline_retained_when_the_connection_is_cut() -> None:
    rig = Rig()
    rig.loop.run_for(0.5)
    rig.broker.kick(f"tcu-{SID}")
    rig.loop.run_for(0.1)
    assert rig.obs.on(f"v2x/status/{SID}")[-1][1:] == (b"offline", False)
    rig.loop.run_for(1.5)
    assert rig.obs.on(f"v2x/status/{SID}")[-1][1] == b"online"


def test_commands_execute_ack_and_reject() -> None:
    rig = Rig()
    rig.loop.run_for(0.5)
    signer = CommandSigner(PSK)
    now_ms = round((rig.loop.now() + SIM_UTC_EPOCH) * 1000)
    topic = f"v2x/cmd/{SID}"
    rig.client.publish(topic, signer.build("lock", 259, now_ms).payload, 1)
    rig.loop.run_for(0.05)
    frames = [m for _, m in rig.frames if m.arbitration_id == 0x3B0]
    assert [bytes(f.data) for f in frames] == [bytes([3, 3])]
    assert rig.tcu.cmd_count == 1
    rig.client.publish(topic, signer.build("lock", 260, now_ms, "replay").payload, 1)
    rig.client.publish(topic, b"\x00" * 2000, 1)
    rig.loop.run_for(0.05)
    acks = [json.loads(p) for _, p, _ in rig.obs.on(f"{topic}/ack")]
    assert acks == [
        {"seq": 259, "result": "ok"},
        {"seq": 260, "result": "rejected", "reason": "replay"},
        {"seq": -1, "result": "rejected", "reason": "malformed"},
    ]
    assert rig.tcu.cmd_count == 1


@pytest.mark.parametrize(
    ("variant", "what"),
    [("bad-mac-accepted", "bad_mac"), ("stale-accepted", "stale"), ("replay-accepted", "replay")],
)
def test_faulty_variants_accept_what_they_should_not(variant: str, what: str) -> None:
    rig = Rig(variant)
    rig.loop.run_for(0.5)
    signer = CommandSigner(PSK)
    now_ms = round((rig.loop.now() + SIM_UTC_EPOCH) * 1000)
    topic = f"v2x/cmd/{SID}"
    rig.client.publish(topic, signer.build("horn", 1, now_ms).payload, 1)
    rig.client.publish(topic, signer.build("horn", 2, now_ms, what).payload, 1)
    rig.loop.run_for(0.05)
    assert rig.tcu.cmd_count == 2


def test_hard_braking_event_once_per_second() -> None:
    rig = Rig()
    rig.ignition_on()
    rig.loop.run_for(0.1)
    for _ in range(125):  # 2.5 s of hard braking
        rig.send("VEH_Dynamics", LongAccel=-5.0)
        rig.loop.run_for(0.02)
    events = [(t, rig.asn1.decode("HazardEvent", p)) for t, p, _ in rig.obs.on(f"v2x/event/{SID}")]
    assert len(events) == 3
    assert all(e["accelLong"] == -500 and e["eventType"] == "hardBraking" for _, e in events)
    assert rig.bsms()[-1][1]["events"]["hardBraking"] is True
