"""BSM throughput: the harness's MQTT path against a plain paho-mqtt + asn1tools client.

One run, one broker (Mosquitto when it is installed, else the embedded amqtt broker), the same
BasicSafetyMessages. A publisher process sends them as fast as it can (QoS 0); first a plain
paho-mqtt client (``CallbackAPIVersion.VERSION2``) decodes each in its callback with asn1tools,
then the harness takes them in as a run does: paho thread -> queue -> event loop -> UPER
decode (constraints checked) -> MqttLog -> ``mqtt.jsonl`` evidence, and finally evaluates the
profile checks ``mqtt_counter`` (msgCnt +1 mod 128) and ``mqtt_field`` (id) over all of them.

Prints messages per second for each and the ratio; target: the harness not slower than the
plain client, and at least 10,000 messages/s through Mosquitto.

    python bench/mqtt_throughput.py [--messages 50000] [--broker amqtt|mosquitto]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.bench import Bench  # noqa: E402
from harness.clock import EventLoop, RealClock  # noqa: E402
from harness.mqtt.broker import EmbeddedBroker, free_tcp_port  # noqa: E402
from harness.mqtt.codec import load_asn1  # noqa: E402
from harness.mqtt.side import MqttSide  # noqa: E402
from harness.observe import FrameLog, Window  # noqa: E402
from harness.profile.compile import load_profile_text  # noqa: E402

ASN1 = ROOT / "dbc" / "ccv2x.asn"
TOPIC = "v2x/bsm/0C0FFEE1"

PROFILE = f"""
format: cc-harness-profile/1
profile:
  id: bench
  version: 1.0.0
  title: throughput
  requirements: {{id: B, version: "1", ids: [V2X-003]}}
dbc: {ROOT / "dbc" / "cc-tcu-1.dbc"}
dut: {{node: TCU, ready: {{message: TCU_Status}}}}
identity:
  station_id: {{did: 0xF1A0, format: hex, length: 8}}
mqtt:
  asn1: {ASN1}
  topics:
    bsm: {{topic: "v2x/bsm/{{station_id}}", codec: uper, type: BasicSafetyMessage, qos: 0}}
cases:
  - id: C
    title: c
    requirements: [V2X-003]
    steps: [{{wait: 1 s}}]
    checks:
      - {{kind: mqtt_counter, topic: bsm, field: msgCnt, modulus: 128}}
      - {{kind: mqtt_field, topic: bsm, where: {{id: $station_id}}}}
"""

PUBLISHER = r"""
import sys, time
import asn1tools
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, n, asn1 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
spec = asn1tools.compile_files(asn1, "uper")
base = dict(id=b"\x0c\x0f\xfe\xe1", lat=374563000, long=1267052000, elev=125, speed=694,
            heading=7200, accelLong=0, brakeApplied=False, events=(b"\x00", 2))
payloads = [spec.encode("BasicSafetyMessage", dict(base, msgCnt=k % 128, secMark=k % 60000),
                        check_constraints=True) for k in range(n)]
c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}")
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port, 30)
c.loop_start()
time.sleep(0.3)
for p in payloads:
    c.publish(sys.argv[4], p, 0)
time.sleep(0.5)
c.loop_stop()
c.disconnect()
"""


@contextlib.contextmanager
def broker(kind: str) -> Iterator[tuple[str, int]]:
    if kind == "mosquitto":
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        port = free_tcp_port()
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "m.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                "max_queued_messages 0\n"
            )
            proc = subprocess.Popen(
                [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(0.5)
            try:
                yield "Mosquitto", port
            finally:
                proc.terminate()
                proc.wait(10)
    else:
        with EmbeddedBroker() as b:
            yield "embedded amqtt", b.port


def publish(port: int, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(n), str(ASN1), TOPIC])


def plain(port: int, n: int, timeout: float) -> tuple[int, float]:
    """paho + asn1tools in the callback: decoded messages and the time they took."""
    import asn1tools

    spec = asn1tools.compile_files(str(ASN1), "uper")
    got: list[float] = []
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        spec.decode("BasicSafetyMessage", msg.payload)
        got.append(time.perf_counter())
        if len(got) >= n:
            done.set()

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="plain")
    c.on_message = on_message
    c.connect("127.0.0.1", port, 30)
    c.subscribe(TOPIC, 0)
    c.loop_start()
    time.sleep(0.3)
    pub = publish(port, n)
    done.wait(timeout)
    c.loop_stop()
    c.disconnect()
    pub.wait(60)
    return len(got), (got[-1] - got[0]) if len(got) > 1 else float("nan")


def harness(port: int, n: int, timeout: float) -> tuple[int, float, str]:
    plan = load_profile_text(PROFILE, "bench.yaml", ROOT)
    mplan = plan.extra["mqtt"]
    bench = Bench.model_validate({"mqtt": {"broker": {"host": "127.0.0.1", "port": port}}})
    loop = EventLoop(RealClock())
    with (
        tempfile.TemporaryDirectory() as tmp,
        MqttSide(mplan, bench, loop, out_dir=Path(tmp), client_id="harness") as side,
    ):
        side.bind_identity({"station_id": TOPIC.rsplit("/", 1)[1]})  # as read over UDS
        loop.run_for(0.3)
        col = side.log.rx_of("bsm")
        pub = publish(port, n)
        t_first = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(side.log.rx_of("bsm")) < n:
            loop.run_for(0.01)
            if t_first is None and len(side.log.rx_of("bsm")):
                t_first = time.perf_counter()
        col = side.log.rx_of("bsm")
        window = Window(col.ts[0], col.ts[-1], FrameLog(), {}, 500000, mqtt=side.log)
        verdicts = [c.evaluate(window).verdict.value for c in plan.cases[0].checks]
        t_end = time.perf_counter()
        pub.wait(60)
        span = col.ts[-1] - col.ts[0]  # arrival times; decoding/logging/checks caught up:
        elapsed = max(span, t_end - (t_first or t_end))
        return len(col), elapsed, "/".join(verdicts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--broker", choices=["mosquitto", "amqtt"], default=None)
    args = ap.parse_args()
    kind = args.broker or (
        "mosquitto"
        if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()
        else "amqtt"
    )
    load_asn1(str(ASN1))
    n = args.messages
    with broker(kind) as (name, port):
        p_n, p_t = plain(port, n, 120)
        h_n, h_t, verdicts = harness(port, n, 120)
    p_rate, h_rate = p_n / p_t, h_n / h_t
    print(f"broker: {name}, {n} BasicSafetyMessages (QoS 0) per client")
    print(f"plain paho + asn1tools : {p_n:7d} received, {p_rate:10,.0f} msg/s")
    print(f"harness (log + evidence + checks {verdicts}): {h_n:7d} received, {h_rate:10,.0f} msg/s")
    print(f"ratio harness/plain: {h_rate / p_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
