"""MQTT round trip: a plain paho-mqtt client against the harness's connection settings.

A command's ack and a hazard event are latencies measured over MQTT, so the transport must
add as little as it can. paho-mqtt leaves Nagle's algorithm on; a small publish then waits
for the peer's delayed ACK (40 ms on Linux). The harness's client switches it off
(``harness.mqtt.client._no_delay``, the call it makes after every connect).

One broker (Mosquitto when installed, started with ``set_tcp_nodelay true`` as the CI config
has it, else the embedded amqtt broker), an echo client and a pinging client, QoS 1: first
both as plain paho leaves them, then both as the harness sets them up, interleaved per round
(``--rounds``) so a busy machine shows in both. Prints the median and worst round trip of each
and the ratio plain/harness; target: the harness's median round trip under 5 ms.

    python bench/mqtt_roundtrip.py [--pings 200] [--rounds 3] [--broker amqtt|mosquitto]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
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

from harness.mqtt.broker import EmbeddedBroker, free_tcp_port  # noqa: E402
from harness.mqtt.client import _no_delay  # noqa: E402

TARGET_MS = 5.0


@contextlib.contextmanager
def broker(kind: str) -> Iterator[tuple[str, int, str]]:
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if kind == "mosquitto" or (kind == "auto" and mosquitto):
        if mosquitto is None:
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        port = free_tcp_port()
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            )
            proc = subprocess.Popen([mosquitto, "-c", str(conf)], stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.5)
                yield "127.0.0.1", port, "Mosquitto"
            finally:
                proc.terminate()
                proc.wait(10)
    else:
        with EmbeddedBroker() as emb:
            yield emb.host, emb.port, "amqtt (embedded)"


def round_trips(host: str, port: int, pings: int, harness: bool, tag: str) -> list[float]:
    """Seconds per publish -> echo -> receive, for ``pings`` pings, QoS 1."""
    got = threading.Event()
    seen: list[float] = []

    def on_connect(client: paho.Client, *_: object) -> None:
        if harness:
            _no_delay(client)

    def on_echo(client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        client.publish(f"{tag}/pong", msg.payload, qos=1)

    def on_pong(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        seen.append(time.perf_counter() - float(msg.payload))
        got.set()

    clients = []
    for name, handler, topic in (("echo", on_echo, "ping"), ("pinger", on_pong, "pong")):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{tag}-{name}")
        client.on_connect = on_connect
        client.on_message = handler
        client.connect(host, port)
        client.loop_start()
        client.subscribe(f"{tag}/{topic}", qos=1)
        clients.append(client)
    time.sleep(0.3)  # subscriptions in place
    try:
        for _ in range(pings):
            got.clear()
            clients[1].publish(f"{tag}/ping", repr(time.perf_counter()), qos=1)
            if not got.wait(2.0):
                raise SystemExit("a ping got no echo within 2 s")
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pings", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--broker", choices=("auto", "amqtt", "mosquitto"), default="auto")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args()
    plain: list[float] = []
    ours: list[float] = []
    with broker(args.broker) as (host, port, name):
        for r in range(args.rounds):
            plain += round_trips(host, port, args.pings, False, f"plain{r}")
            ours += round_trips(host, port, args.pings, True, f"harness{r}")
    med_plain, med_ours = statistics.median(plain), statistics.median(ours)
    print(f"broker: {name}; {args.rounds} rounds x {args.pings} pings, QoS 1")
    for label, values in (("plain paho (Nagle on)", plain), ("harness (TCP_NODELAY)", ours)):
        print(
            f"{label:<24} median {statistics.median(values) * 1000:8.3f} ms   "
            f"worst {max(values) * 1000:8.3f} ms"
        )
    ok = med_ours * 1000 < TARGET_MS
    print(f"ratio plain/harness round trip: {med_plain / med_ours:.1f}x")
    print(
        f"harness median round trip {med_ours * 1000:.3f} ms "
        f"(target < {TARGET_MS:g} ms): {'PASS' if ok else 'BELOW TARGET'}"
    )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
