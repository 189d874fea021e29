"""ISO-TP over CAN FD (ISO 15765-2:2016), both sides, on the virtual bus and clock.

The tester is can-isotp's logic driven by :class:`~harness.uds.link.IsoTpLink` through a
recording CanPort, the part is the simulator's own :class:`ServerIsoTp`: two independent
implementations that must agree on the wire. Laws: any payload goes through either way
unchanged, over each TX_DL, FD to FD, classic to FD and FD to classic; every frame the FD
server sends is FD (with BRS when asked), fills TX_DL or is padded to the next valid length
with its padding byte; the log's reassembly (what the checks read) agrees. The server ignores
what ISO 15765-2 has a receiver ignore, and with no FD arguments sends what it always did.
"""

from __future__ import annotations

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import EventLoop, VirtualClock
from harness.observe import FLAG_BRS, FLAG_EXTENDED, FLAG_FD, Column
from harness.sim.isotp_server import ServerIsoTp
from harness.uds.config import DiagConfig
from harness.uds.exchange import DiagIds, transfers
from tests.uds.isotp_wire import FIXED, NORMAL, Wire, read_server_frames

# lengths spread over 1..4095 (st.binary alone stays short), the bytes themselves drawn
PAYLOAD = st.integers(1, 4095).flatmap(lambda n: st.binary(min_size=n, max_size=n))
LAW = settings(max_examples=25, deadline=None)
GW_PAD = 0xCC


def fd_tester(tx_dl: int = 64, *, brs: bool = True, ids: object = FIXED) -> DiagConfig:
    assert ids in (FIXED, NORMAL)
    return DiagConfig(
        ids=FIXED if ids is FIXED else NORMAL, can_fd=True, tx_data_length=tx_dl, bitrate_switch=brs
    )


def fd_server(tx_dl: int = 64, *, brs: bool = True, pad: int = GW_PAD) -> dict[str, object]:
    return {"can_fd": True, "tx_data_length": tx_dl, "bitrate_switch": brs, "padding": pad}


# -- FD tester <-> FD server, each TX_DL -----------------------------------------------------------
@pytest.mark.parametrize("tx_dl", [64, 8, 12, 20, 32])
@LAW
@given(payload=PAYLOAD)
def test_fd_both_ways_any_payload_over_each_tx_dl(tx_dl: int, payload: bytes) -> None:
    with Wire(fd_tester(tx_dl), **fd_server(tx_dl)) as w:
        assert w.request(payload) == [payload]
        assert not w.link.errors
        for data, flags in w.tester_frames():  # the tester's frames: FD, BRS, 29-bit
            assert flags == FLAG_EXTENDED | FLAG_FD | FLAG_BRS
            assert len(data) <= tx_dl
        got = w.respond(payload)
        assert [t.payload for t in got] == [payload]
        read = read_server_frames(w.sent, tx_dl=tx_dl, pad=GW_PAD, fd=True, brs=True, extended=True)
        assert read == payload
        assert w.logged_answers() == [payload]


@pytest.mark.parametrize("brs", [True, False])
@pytest.mark.parametrize("pad", [GW_PAD, 0x55])
@LAW
@given(payload=PAYLOAD)
def test_fd_server_frames_carry_brs_as_asked_and_its_padding(
    brs: bool, pad: int, payload: bytes
) -> None:
    with Wire(fd_tester(64, ids=NORMAL), **fd_server(64, brs=brs, pad=pad)) as w:
        assert [t.payload for t in w.respond(payload)] == [payload]
        assert read_server_frames(w.sent, tx_dl=64, pad=pad, fd=True, brs=brs, extended=False)
        flags = {w.log.rx_flags[k] for k in range(w.log.rx_count)}
        assert flags == {FLAG_FD | (FLAG_BRS if brs else 0)}  # what the checks see


LONG = st.builds(
    lambda n, chunk: (chunk * (n // len(chunk) + 1))[:n],
    st.integers(4096, 9000),
    st.binary(min_size=1, max_size=256),
)


@settings(max_examples=4, deadline=None)
@given(payload=LONG)
def test_fd_payloads_over_4095_bytes_take_the_32_bit_escape(payload: bytes) -> None:
    with Wire(fd_tester(64), **fd_server(64)) as w:
        assert w.request(payload) == [payload]
        assert w.tester_frames()[0][0][:2] == b"\x10\x00"  # can-isotp's escape, understood
        assert [t.payload for t in w.respond(payload)] == [payload]
        assert w.sent[0].data[:6] == b"\x10\x00" + len(payload).to_bytes(4, "big")
        assert read_server_frames(w.sent, tx_dl=64, pad=GW_PAD, fd=True, brs=True, extended=True)
        assert w.logged_answers() == [payload]


# -- mixed formats ---------------------------------------------------------------------------------
@LAW
@given(payload=PAYLOAD)
def test_classic_tester_and_fd_server(payload: bytes) -> None:
    with Wire(DiagConfig(ids=FIXED), **fd_server(64)) as w:
        assert w.request(payload) == [payload]
        assert all(f == FLAG_EXTENDED and len(d) == 8 for d, f in w.tester_frames())
        assert [t.payload for t in w.respond(payload)] == [payload]  # RX_DL 64 from its FF
        assert read_server_frames(w.sent, tx_dl=64, pad=GW_PAD, fd=True, brs=True, extended=True)


@pytest.mark.parametrize("tx_dl", [64, 16])
@LAW
@given(payload=PAYLOAD)
def test_fd_tester_and_classic_server(tx_dl: int, payload: bytes) -> None:
    with Wire(fd_tester(tx_dl), padding=GW_PAD) as w:
        assert w.request(payload) == [payload]  # RX_DL from the tester's first frame
        assert [t.payload for t in w.respond(payload)] == [payload]
        assert read_server_frames(w.sent, tx_dl=8, pad=GW_PAD, fd=False, brs=False, extended=True)


# -- what the server must ignore -------------------------------------------------------------------
def _server(**kw: object) -> tuple[ServerIsoTp, list[bytes], list[can.Message]]:
    got: list[bytes] = []
    sent: list[can.Message] = []
    server = ServerIsoTp(
        EventLoop(VirtualClock()),
        sent.append,
        lambda data, functional: got.append(data),
        physical_id=0x7E0,
        functional_id=0x7DF,
        response_id=0x7E8,
        **kw,  # type: ignore[arg-type]
    )
    return server, got, sent


def _frame(hexbytes: str, *, fd: bool, can_id: int = 0x7E0) -> can.Message:
    return can.Message(
        arbitration_id=can_id, data=bytes.fromhex(hexbytes), is_fd=fd, is_extended_id=False
    )


def _escape_sf(n: int, can_dl: int) -> str:
    return (bytes([0x00, n]) + bytes(range(n)) + b"\xcc" * (can_dl - 2 - n)).hex()


@pytest.mark.parametrize("server_fd", [False, True])
@pytest.mark.parametrize(
    ("frame", "fd", "taken"),
    [
        ("02 3E 00 CC CC CC CC CC", False, b"\x3e\x00"),  # control: a plain single frame
        ("02 3E 00 CC CC CC CC CC", True, b"\x3e\x00"),  # the same as an 8-byte FD frame
        ("00 02 3E 00 CC CC CC CC", False, None),  # escape on a classic frame
        ("00 02 3E 00 CC CC CC CC", True, None),  # escape on 8 bytes, FD or not
        ("08 3E 00 CC CC CC CC CC", False, None),  # SF_DL 8 does not fit
        ("05 3E 00 CC", False, None),  # SF_DL beyond the frame (unpadded)
        (_escape_sf(8, 12), True, bytes(range(8))),  # control: the smallest 12-byte escape
        (_escape_sf(10, 12), True, bytes(range(10))),  # control: the largest
        (_escape_sf(11, 12), True, None),  # SF_DL the frame does not hold
        (_escape_sf(7, 12), True, None),  # would have fit 8 bytes: not in a 12-byte frame
        (_escape_sf(30, 48), True, None),  # would have fit 32 bytes
        (_escape_sf(31, 48), True, bytes(range(31))),
        (_escape_sf(10, 12), False, None),  # a classic frame of 12 bytes does not exist
        ("02 3E 00" + " CC" * 9, True, None),  # a short SF_DL on a 12-byte frame
        ("00 00" + " CC" * 10, True, None),  # escape with length 0
    ],
)
def test_server_ignores_single_frames_iso_15765_2_ignores(
    server_fd: bool, frame: str, fd: bool, taken: bytes | None
) -> None:
    kw = fd_server(64) if server_fd else {}
    server, got, _ = _server(**kw)
    server.on_frame(_frame(frame, fd=fd))
    assert got == ([] if taken is None else [taken])


def _first_frame(length: int, can_dl: int, *, escape: bool = False) -> str:
    head = (
        b"\x10\x00" + length.to_bytes(4, "big")
        if escape
        else bytes([0x10 | length >> 8, length & 0xFF])
    )
    return (head + bytes(can_dl - len(head))).hex()


@pytest.mark.parametrize(
    ("frame", "fd", "server_fd", "flow_control"),
    [
        (_first_frame(8, 8), False, False, True),  # control
        (_first_frame(7, 8), False, False, False),  # fits a single frame
        (_first_frame(63, 64), True, True, True),  # control: more than an escape SF holds
        (_first_frame(62, 64), True, True, False),  # a 64-byte escape SF holds 62
        (_first_frame(62, 64), True, False, False),  # ... whatever the server's format
        (_first_frame(20, 7), False, True, False),  # a first frame shorter than 8 bytes
        (_first_frame(5000, 64, escape=True), True, True, True),  # control: 32-bit escape
        (_first_frame(4095, 64, escape=True), True, True, False),  # escape for a 12-bit length
        (_first_frame(5000, 8, escape=True), False, False, False),  # classic part: 12 bits only
    ],
)
def test_server_answers_only_valid_first_frames(
    frame: str, fd: bool, server_fd: bool, flow_control: bool
) -> None:
    server, _, sent = _server(**(fd_server(64) if server_fd else {}))
    server.on_frame(_frame(frame, fd=fd))
    assert [bytes(m.data[:3]) for m in sent] == ([b"\x30\x00\x00"] if flow_control else [])


def test_server_overflows_a_request_longer_than_it_takes() -> None:
    server, got, sent = _server(**fd_server(64))
    server.on_frame(_frame(_first_frame(0x10000, 64, escape=True), fd=True))
    assert [bytes(m.data[:3]) for m in sent] == [b"\x32\x00\x00"] and not got


def test_server_ignores_a_short_consecutive_frame_before_the_last() -> None:
    server, got, _ = _server(**fd_server(64))
    payload = bytes(range(100)) + bytes(100)  # 62 in the FF, then 63 + 63 + 12
    server.on_frame(_frame((b"\x10\xc8" + payload[:62]).hex(), fd=True))
    server.on_frame(_frame((b"\x21" + payload[62:93]).hex(), fd=True))  # 32 bytes: too short
    server.on_frame(_frame((b"\x21" + payload[62:125]).hex(), fd=True))
    server.on_frame(_frame((b"\x22" + payload[125:188]).hex(), fd=True))
    assert not got
    last = b"\x23" + payload[188:] + b"\xcc" * 3  # 16 bytes: a shorter last frame is fine
    server.on_frame(_frame(last.hex(), fd=True))
    assert got == [payload]


# -- the default is what it always was -------------------------------------------------------------
def test_without_fd_arguments_the_server_sends_what_it_always_did() -> None:
    server, _, sent = _server()
    server.send(bytes(range(1, 21)))
    server.on_frame(_frame("30 00 00 CC CC CC CC CC", fd=False))
    server.send(b"\x7e\x00")
    assert [
        (bytes(m.data).hex(" "), m.is_fd, m.bitrate_switch, m.is_extended_id) for m in sent
    ] == [
        ("10 14 01 02 03 04 05 06", False, False, False),
        ("21 07 08 09 0a 0b 0c 0d", False, False, False),
        ("22 0e 0f 10 11 12 13 14", False, False, False),
        ("02 7e 00 55 55 55 55 55", False, False, False),
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {"tx_data_length": 10, "can_fd": True},
        {"tx_data_length": 64},  # TX_DL above 8 without can_fd
        {"padding": 0x100},
    ],
)
def test_the_server_refuses_a_format_iso_tp_does_not_have(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="expected"):
        _server(**kw)


def test_the_checks_read_the_escape_form_only_in_frames_over_8_bytes() -> None:
    """What the log's reassembly takes as a message follows the same rule as the server."""
    escape_8 = bytes.fromhex("00 02 7E 00 CC CC CC CC")
    escape_12 = bytes.fromhex(_escape_sf(8, 12))
    col = Column([0.0, 1.0], [escape_8, escape_12])
    assert [t.payload for t in transfers(col, 0.0, 2.0, 0x7E8)] == [bytes(range(8))]


EXTENDED = DiagIds(0x7E0, 0x7DF, 0x7E8, "extended", 0x10, 0x33, 0xF1)


@pytest.mark.parametrize("tx_dl", [64, 12])
@LAW
@given(payload=PAYLOAD)
def test_fd_both_ways_with_extended_addressing(tx_dl: int, payload: bytes) -> None:
    """The address byte first in every frame: one byte less of ISO-TP, the escape limits
    shifted by one, both sides agreeing."""
    tester = DiagConfig(ids=EXTENDED, can_fd=True, tx_data_length=tx_dl, bitrate_switch=True)
    with Wire(tester, **fd_server(tx_dl)) as w:
        assert w.request(payload) == [payload]
        assert all(d[0] == 0x10 and f == FLAG_FD | FLAG_BRS for d, f in w.tester_frames())
        assert [t.payload for t in w.respond(payload)] == [payload]
        assert all(m.data[0] == 0xF1 and m.is_fd for m in w.sent)
        assert w.logged_answers() == [payload]
