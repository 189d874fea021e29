"""CC-GW-1's diagnostics (GW-008): a small UDS server on the simulator's own ISO-TP.

Requests come on the backbone with ISO-TP normal fixed addressing (29-bit, physical
0x18DA10F1, functional 0x18DB33F1, responses on 0x18DAF110, or whatever addressing the
profile declares), through :class:`~harness.sim.isotp_server.ServerIsoTp` padded with 0xCC.
Services: DiagnosticSessionControl 01/03, TesterPresent 00 (0x80 suppresses the answer),
ReadDataByIdentifier F190/F195/F18C/F1A2 (one DID per request), ECUReset 01. NRCs in the
page's order: 0x11 unsupported service, 0x12 unsupported sub-function, 0x13 wrong length,
0x31 unknown DID; a functionally addressed request never gets 0x11, 0x12 or 0x31.

With the optional feature ``fd_diagnostics`` (the correct part has it) the answers go in CAN
FD frames of up to 64 bytes with BRS, otherwise in classic 8-byte frames; requests are taken
in either format (:func:`isotp_frame_options`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import can

from harness.clock import EventLoop, Timer
from harness.sim.gw_config import DIAG_PADDING, ROUTED_IDS, GwBehaviour, GwIdentity
from harness.sim.isotp_server import ServerIsoTp
from harness.uds.exchange import DiagIds

__all__ = ["GwUds", "isotp_frame_options", "routing_table"]

RESPONSE_DELAY = 0.002  # seconds from a request to its answer (P2 is 50 ms)
SUBFUNCTIONS = {0x10: {0x01, 0x03}, 0x11: {0x01}, 0x3E: {0x00}}
LENGTH = {0x10: 2, 0x11: 2, 0x22: 3, 0x3E: 2}  # the exact request lengths
SUPPRESSIBLE = {0x3E}
NOT_FOR_FUNCTIONAL = {0x11, 0x12, 0x31}


def isotp_frame_options(behaviour: GwBehaviour) -> dict[str, Any]:
    """The gateway's ISO-TP frames (GW-008): padded with 0xCC; with the feature
    ``fd_diagnostics``, CAN FD frames of up to 64 bytes with BRS (a faulty variant drops the
    BRS), without it classic 8-byte frames."""
    options: dict[str, Any] = {"padding": DIAG_PADDING}
    if behaviour.fd_diagnostics:
        options.update(can_fd=True, tx_data_length=64, bitrate_switch=behaviour.diag_brs)
    return options


def routing_table() -> bytes:
    """DID F1A2: the routed identifiers as 2-byte big-endian values, ascending (32 bytes)."""
    return b"".join(i.to_bytes(2, "big") for i in sorted(ROUTED_IDS))


def _nrc(sid: int, code: int) -> bytes:
    return bytes([0x7F, sid, code])


class GwUds:
    """GW-008's services for one gateway; ``on_reset`` runs after the answer to 11 01."""

    def __init__(
        self,
        loop: EventLoop,
        send: Callable[[can.Message], None],
        ids: DiagIds,
        identity: GwIdentity,
        behaviour: GwBehaviour,
        on_reset: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.identity = identity
        self.behaviour = behaviour
        self.on_reset = on_reset
        self.isotp = ServerIsoTp.serving(
            loop, send, self._on_request, ids, **isotp_frame_options(behaviour)
        )
        self.ids = frozenset({ids.request_id, ids.functional_id})
        self.extended_id = ids.extended_id
        self.session = 0x01
        self.requests = 0
        self._timers: list[Timer] = []

    def power_up(self) -> None:
        self.stop()
        self.session = 0x01

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.isotp.reset()

    def takes(self, msg: can.Message) -> bool:
        """Whether ``msg`` is a diagnostic request frame (or the tester's flow control)."""
        return msg.arbitration_id in self.ids and bool(msg.is_extended_id) == self.extended_id

    def on_frame(self, msg: can.Message) -> None:
        self.isotp.on_frame(msg)

    def _on_request(self, payload: bytes, functional: bool) -> None:
        if not payload:
            return
        self.requests += 1
        response = self.handle(payload)
        if response is None:
            return
        after = self.on_reset if response[0] == 0x51 else None  # silent from the answer on
        quiet = functional and not self.behaviour.functional_nrc
        if quiet and response[0] == 0x7F and response[2] in NOT_FOR_FUNCTIONAL:
            return
        now = self.loop.now()
        self._timers = [t for t in self._timers if t.when > now and not t.cancelled]
        self._timers.append(
            self.loop.call_later(RESPONSE_DELAY, lambda: self._answer(response, after))
        )

    def _answer(self, response: bytes, after: Callable[[], None] | None) -> None:
        self.isotp.send(response)
        if after is not None:
            after()

    def handle(self, req: bytes) -> bytes | None:
        """The answer to ``req`` (None: none), the first NRC that applies winning."""
        sid = req[0]
        if sid not in LENGTH:
            return _nrc(sid, 0x11)
        if self.behaviour.length_before_subfunction and len(req) != LENGTH[sid]:
            return _nrc(sid, 0x13)
        suppress = False
        if sid in SUBFUNCTIONS:
            if len(req) < 2:
                return _nrc(sid, 0x13)
            sub = req[1] & 0x7F if sid in SUPPRESSIBLE else req[1]
            suppress = sid in SUPPRESSIBLE and bool(req[1] & 0x80)
            if sub not in SUBFUNCTIONS[sid]:
                return _nrc(sid, 0x12)
        if len(req) != LENGTH[sid]:
            return _nrc(sid, 0x13)
        if sid == 0x10:
            self.session = req[1]
            return bytes([0x50, req[1], 0x00, 0x32, 0x01, 0xF4])  # P2 50 ms, P2* 5 s
        if sid == 0x11:
            return bytes([0x51, 0x01])
        if sid == 0x3E:
            return None if suppress else bytes([0x7E, 0x00])
        did = int.from_bytes(req[1:3], "big")
        value = self.did(did)
        if value is None:
            return _nrc(sid, 0x31)
        return bytes([0x62]) + req[1:3] + value

    def did(self, did: int) -> bytes | None:
        ident = self.identity
        values = {
            0xF190: ident.vin.encode("ascii"),
            0xF195: ident.sw_version.encode("ascii"),
            0xF18C: ident.serial.encode("ascii"),
            0xF1A2: routing_table(),
        }
        return values.get(did)
