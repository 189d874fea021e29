"""An electric power steering unit (MDPS) as its supplier would write a bench build of it.

Standalone, python-can only (no cc-harness import, no cantools): the frames are packed by
hand the way the part's firmware does, from eps_supplier.dbc (an OEM DBC in Hyundai/Kia
style). It sends

- MDPS12 (0x251, 20 ms): column torque, torque-overlay state, a 4-bit message counter and a
  byte-sum checksum over bytes 0..6 in byte 7;
- MDPS11 (0x381, 20 ms): steering angle, a 4-bit alive counter and a 4-bit nibble checksum
  ``(16 - sum of the nibbles) % 16``;
- MDPS_STAT (0x4F1, 100 ms): plain status, with the last accepted LKAS11 torque request;

and accepts LKAS11 (0x340, the lane-keeping camera's torque request) only when its byte-sum
checksum (bytes 0..5 and 7, in byte 6) is right and its 4-bit counter is not the one of the
frame it accepted before, as the production part does: a frame with a wrong checksum or a
repeated counter is ignored and counted.

    python eps_part.py --interface udp_multicast --channel 239.74.163.2 --port 43113
                       [--fault repeat-counter|bad-nibble-checksum|accept-any]

On SIGTERM or SIGINT it stops and prints one JSON line of what it received (``accepted``,
``bad_checksum``, ``repeated_counter``, ``counter_jumps``, ``last_request``). A ``--fault``
starts a faulty build: MDPS12's counter repeats every value once, MDPS11's checksum lacks
the final negation, or LKAS11 is taken whatever its checksum and counter.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

import can

LKAS11 = 0x340
MDPS12 = 0x251
MDPS11 = 0x381
MDPS_STAT = 0x4F1
FAULTS = ("repeat-counter", "bad-nibble-checksum", "accept-any")


class Stop(Exception):
    """SIGTERM or SIGINT: leave the loop and report."""


def _stop(signum: int, frame: Any) -> None:
    raise Stop


class Eps:
    def __init__(self, bus: can.BusABC, fault: str | None) -> None:
        self.bus = bus
        self.fault = fault
        self.request_raw = 1024  # CR_Lkas_StrToqReq raw (offset -1024): no request
        self.act_toi = 0
        self.last_counter: int | None = None
        self.rx_count = 0
        self.stats = {"accepted": 0, "bad_checksum": 0, "repeated_counter": 0, "counter_jumps": 0}
        self.cnt12 = 0
        self.frames12 = 0
        self.cnt11 = 0

    # -- receive ------------------------------------------------------------------------------
    def on_frame(self, msg: can.Message) -> None:
        if msg.arbitration_id != LKAS11 or msg.is_extended_id or len(msg.data) != 8:
            return
        d = bytes(msg.data)
        checksum_ok = d[6] == (sum(d[0:6]) + d[7]) & 0xFF
        counter = d[3] >> 4
        if self.fault != "accept-any":
            if not checksum_ok:
                self.stats["bad_checksum"] += 1
                return
            if counter == self.last_counter:
                self.stats["repeated_counter"] += 1
                return
        if self.last_counter is not None and counter != (self.last_counter + 1) % 16:
            self.stats["counter_jumps"] += 1
        self.last_counter = counter
        self.request_raw = (d[2] | d[3] << 8) & 0x7FF
        self.act_toi = (d[3] >> 3) & 1
        self.rx_count = (self.rx_count + 1) & 0xFF
        self.stats["accepted"] += 1

    # -- transmit -----------------------------------------------------------------------------
    def send(self, frame_id: int, data: bytearray) -> None:
        self.bus.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False))

    def send_mdps12(self) -> None:
        d = bytearray(8)
        col_tq = 1024 + 3  # CR_Mdps_StrColTq: the driver's hands on the wheel, 3 units
        out_tq = 2048 + (20 if self.act_toi else 0)  # CR_Mdps_OutTq: 0.1 Nm, offset -204.8
        d[0] = col_tq & 0xFF
        d[1] = (col_tq >> 8) & 0x07 | (self.act_toi << 5)  # CF_Mdps_ToiActive: bit 13
        d[2] = out_tq & 0xFF
        d[3] = (out_tq >> 8) & 0x0F
        d[4] = self.cnt12 & 0x0F  # CF_Mdps_MsgCount2: bits 32..35
        d[7] = sum(d[0:7]) & 0xFF  # CF_Mdps_Chksum2
        self.send(MDPS12, d)
        self.frames12 += 1
        if self.fault != "repeat-counter" or self.frames12 % 2 == 0:
            self.cnt12 = (self.cnt12 + 1) % 16

    def send_mdps11(self) -> None:
        d = bytearray(6)
        angle = 125  # CR_Mdps_StrAng: 12.5 deg
        d[0] = 1 << 4  # CF_Mdps_Stat: Normal; CF_Mdps_WLmp: Off
        d[1] = angle & 0xFF
        d[2] = (angle >> 8) & 0xFF
        d[4] = self.cnt11 & 0x0F  # CF_Mdps_AliveCnt: bits 32..35, checksum bits 36..39 zero
        nibbles = sum((b >> 4) + (b & 0x0F) for b in d)
        chk = nibbles % 16 if self.fault == "bad-nibble-checksum" else (16 - nibbles % 16) % 16
        d[4] |= chk << 4  # CF_Mdps_Chksum
        self.send(MDPS11, d)
        self.cnt11 = (self.cnt11 + 1) % 16

    def send_stat(self) -> None:
        d = bytearray(8)
        d[0] = 1  # CF_Mdps_SysState: Normal
        d[1] = self.request_raw & 0xFF  # CR_Mdps_TqReqEcho: bits 8..18
        d[2] = (self.request_raw >> 8) & 0x07 | (self.act_toi << 3)  # CF_Mdps_ActToiEcho: 19
        d[3] = 40 + 35  # CF_Mdps_EcuTemp: 35 degC
        d[4] = self.rx_count
        self.send(MDPS_STAT, d)

    def run(self) -> None:
        start = time.monotonic()
        tick = 0  # one tick every 20 ms; MDPS_STAT every fifth
        while True:
            due = start + tick * 0.020
            while (left := due - time.monotonic()) > 0:
                msg = self.bus.recv(timeout=left)
                if msg is not None:
                    self.on_frame(msg)
            self.send_mdps12()
            self.send_mdps11()
            if tick % 5 == 0:
                self.send_stat()
            tick += 1
            if time.monotonic() - due > 0.5:  # a stall: carry on at the cycle, no burst
                start, tick = time.monotonic(), 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interface", default="udp_multicast")
    ap.add_argument("--channel", default="239.74.163.2")
    ap.add_argument("--port", type=int, default=43113)
    ap.add_argument("--fault", choices=FAULTS)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    options: dict[str, Any] = {"port": args.port} if args.interface == "udp_multicast" else {}
    bus = can.Bus(interface=args.interface, channel=args.channel, **options)
    eps = Eps(bus, args.fault)
    print(f"MDPS running on {args.interface} {args.channel} fault={args.fault}", flush=True)
    try:
        eps.run()
    except Stop:
        pass
    finally:
        bus.shutdown()
    print(json.dumps({**eps.stats, "last_request": eps.request_raw - 1024}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
