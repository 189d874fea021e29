"""Live ingest over udp_multicast: frames received / sent, harness vs a plain python-can loop.

For each rate (default 5,000, 9,000 and 15,000 frames/s) and each receiver, on a
``udp_multicast`` bus of its own (a free port):

* the reference TCU runs as its own process (``harness sim tcu``), sending TCU_Status every
  100 ms and answering diagnostics;
* a flood process sends VEH_Position frames (8 bytes, the DBC's values) paced at the rate
  for ``--seconds`` (default 5), and reports how many it sent;
* the receiver is either a **plain loop** (python-can ``recv`` and cantools
  ``decode_message`` of every frame the DBC knows, the default socket buffer), or **the
  harness** (a real-time :class:`~harness.session.Session` with ``--dut external`` and the
  evidence on: its reader thread, the BLF trace, ``run.json``, one case that observes the bus
  through the flood and judges TCU_Status's cycle time and alive counter).

It prints, side by side, frames received / sent for both, the frames the harness counted as
lost (``run.json`` ``receive.lost``: the socket's drops), the case verdict (INCONCLUSIVE when
frames were lost; for the plain loop the same socket counter, read from outside it) and
TCU_Status's largest interval (the simulator keeps its timing in its
own process). Target: no frame lost by the harness at 9,000 frames/s (a saturated 1 Mbit/s
classic bus). Exit status 0 unless ``--strict`` and below target.

    python bench/live_ingest.py [--rates 5000,9000,15000] [--seconds 5] [--strict]
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import can
import cantools

from harness.bench import Bench, CanConfig
from harness.can.ingest import UdpSocketDrops
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
DBC = ROOT / "dbc" / "cc-tcu-1.dbc"
GROUP = "239.74.163.2"
FLOOD_ID = 0x110  # VEH_Position
TARGET_RATE = 9000

FLOODER = """
import sys, time, can, cantools
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
db = cantools.database.load_file(sys.argv[4])
msg = db.get_message_by_name("VEH_Position")
data = msg.encode({"Latitude": 37.4563, "Longitude": 126.7052})
bus = can.Bus(interface="udp_multicast", channel="239.74.163.2", port=port)
frame = can.Message(arbitration_id=msg.frame_id, data=data, is_extended_id=False)
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
sent = 0
total = int(rate * seconds)
while sent < total:
    due = min(total, int((time.perf_counter() - start) * rate) + 1)
    while sent < due:
        bus.send(frame)
        sent += 1
    time.sleep(0.0005)
print("sent", sent, round(time.perf_counter() - start, 3), flush=True)
sys.stdin.readline()
bus.shutdown()
"""


@dataclass(frozen=True)
class Result:
    receiver: str
    rate: int
    sent: int
    received: int
    lost: int | None = None  # counted by the harness
    verdict: str = ""
    max_interval_ms: float | None = None


class Flood:
    def __init__(self, port: int, rate: int, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FLOODER, str(port), str(rate), str(seconds), str(DBC)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the flood process did not start")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def sent(self) -> int:
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline().split()[1])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class Simulator:
    def __init__(self, bench_file: Path) -> None:
        cmd = [sys.executable, "-m", "harness.cli", "sim", "tcu", "--bench", str(bench_file)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if "running" not in self.proc.stdout.readline():
            raise RuntimeError("the simulator process did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def plain_loop(port: int, rate: int, seconds: float) -> Result:
    db = cantools.database.load_file(str(DBC))
    assert isinstance(db, cantools.database.can.Database)
    known = {m.frame_id for m in db.messages}
    bus = can.Bus(interface="udp_multicast", channel=GROUP, port=port)
    drops = UdpSocketDrops(bus.fileno())  # read, for the table, not by the loop itself
    before = drops.read() or 0
    flood = Flood(port, rate, seconds)
    received = 0
    status_id = db.get_message_by_name("TCU_Status").frame_id
    status: list[float] = []
    try:
        flood.go()
        deadline = time.monotonic() + seconds + 1.0
        while time.monotonic() < deadline:
            msg = bus.recv(0.05)
            if msg is None:
                continue
            if msg.arbitration_id in known:
                db.decode_message(msg.arbitration_id, bytes(msg.data))
            if msg.arbitration_id == FLOOD_ID:
                received += 1
            elif msg.arbitration_id == status_id:
                status.append(msg.timestamp)
        sent = flood.sent()
        lost = (drops.read() or 0) - before
    finally:
        flood.close()
        bus.shutdown()
    worst = max((b - a for a, b in itertools.pairwise(status)), default=None)
    return Result(
        "plain python-can + cantools",
        rate,
        sent,
        received,
        lost,
        max_interval_ms=None if worst is None else 1000 * worst,
    )


def live_profile(folder: Path, seconds: float) -> Path:
    """The reference profile's header (no MQTT) and one case observing through the flood."""
    head = PROFILE.read_text().split("\ncases:\n")[0]
    head = re.sub(r"\nmqtt:\n(?:[ #].*\n|\n)*", "\n", head)
    head = re.sub(r"\n  oracle:\n(?:    .*\n|\n)*", "\n", head)  # its facts trace UDS-*
    head = re.sub(r"ids: \[[^\]]*\]", "ids: [CAN-001, CAN-003]", head)
    head = head.replace("../dbc/cc-tcu-1.dbc", DBC.as_posix())
    case = f"""
  - id: LIVE-INGEST
    title: TCU_Status timing through a flood
    requirements: [CAN-001, CAN-003]
    steps:
      - observe: {seconds + 1.0:g} s
        checks:
          - {{kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}}
          - {{kind: alive_counter, message: TCU_Status}}
"""
    path = folder / "live.yaml"
    path.write_text(head + "\ncases:\n" + case)
    return path


def harness_run(port: int, rate: int, seconds: float, folder: Path) -> Result:
    plan = load_profile(live_profile(folder, seconds))
    bench = Bench(can=CanConfig(interface="udp_multicast", channel=GROUP, options={"port": port}))
    flood = Flood(port, rate, seconds)
    try:
        out = folder / f"run-{rate}"
        with Session(plan, bench, DutChoice("external"), realtime=True, out_dir=out) as session:
            # the case starts with before_each (1 s); the flood begins with it
            flood.go()
            record = session.run_all()
            received = len(session.log.rx_of(FLOOD_ID).ts)
            report = session.ingest.report() if session.ingest is not None else None
        sent = flood.sent()
    finally:
        flood.close()
    (case,) = record.cases
    cycle = next(c for c in case.checks if c.kind == "cycle_time")
    worst = cycle.measurements.get("max_interval")
    return Result(
        "harness (reader thread, evidence on)",
        rate,
        sent,
        received,
        report.lost if report is not None else None,
        case.verdict.value,
        1000 * float(worst) if isinstance(worst, (int, float)) else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", default="5000,9000,15000", help="frames/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="flood length (default 5)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when below target")
    args = parser.parse_args(argv)
    try:
        rates = [int(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error("--rates must be integers separated by commas")
    if not rates or min(rates) < 1 or args.seconds <= 0:
        parser.error("--rates and --seconds must be positive")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        for rate in rates:
            port = free_udp_port()
            bench_file = Path(tmp) / f"bench-{port}.yaml"
            bench_file.write_text(
                "format: cc-harness-bench/1\n"
                f"can: {{interface: udp_multicast, channel: {GROUP}, options: {{port: {port}}}}}\n"
            )
            sim = Simulator(bench_file)
            try:
                results.append(plain_loop(port, rate, args.seconds))
                results.append(harness_run(port, rate, args.seconds, Path(tmp)))
            finally:
                sim.close()

    header = (
        f"{'rate/s':>7}  {'receiver':<38}  {'sent':>8}  {'received':>8}  {'recv/sent':>9}"
        f"  {'lost (counted)':>14}  {'verdict':<12}  {'TCU_Status max':>14}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lost = "" if r.lost is None else f"{r.lost:,}"
        worst = "" if r.max_interval_ms is None else f"{r.max_interval_ms:.1f} ms"
        print(
            f"{r.rate:>7,}  {r.receiver:<38}  {r.sent:>8,}  {r.received:>8,}  "
            f"{r.received / max(r.sent, 1):>9.4f}  {lost:>14}  {r.verdict:<12}  {worst:>14}"
        )
    below = False
    for r in results:
        if r.receiver.startswith("harness") and r.lost is not None and r.rate <= TARGET_RATE:
            ok = r.lost == 0 and r.received == r.sent
            below = below or not ok
            print(
                f"harness at {r.rate:,} frames/s: {r.received:,}/{r.sent:,} received, "
                f"{r.lost:,} lost (target: none lost up to {TARGET_RATE:,}/s): "
                f"{'PASS' if ok else 'BELOW TARGET'}"
            )
    return 1 if args.strict and below else 0


if __name__ == "__main__":
    sys.exit(main())
