"""The frame-length model (harness.observe, "frame lengths") against a brute-force bit count of
the same frame laid out field by field from ISO 11898-1, and the bus-load check over CAN FD
frames at the data-phase bit rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import CHECKS, Resolver
from harness.errors import ProfileError
from harness.observe import (
    FLAG_BRS,
    FLAG_EXTENDED,
    FLAG_FD,
    FrameLog,
    Window,
    fd_frame_bits,
    frame_bits,
)
from harness.record import Verdict

# The DLC codes of ISO 11898-1: data length by code (classic stops at 8).
DLC_LENGTH = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)

Field = tuple[str, int, str, str]  # name, bits, phase ("n"ominal / "d"ata), stuffing


def fd_layout(n: int, *, extended: bool, brs: bool) -> list[Field]:
    """The fields of a CAN FD data frame carrying ``n`` bytes (padded to its DLC's length)."""
    code = next(k for k, length in enumerate(DLC_LENGTH) if length >= n)
    length = DLC_LENGTH[code]
    fast = "d" if brs else "n"
    head: list[Field] = [("SOF", 1, "n", "dyn"), ("ID", 11, "n", "dyn")]
    if extended:
        head += [("SRR", 1, "n", "dyn"), ("IDE", 1, "n", "dyn"), ("IDext", 18, "n", "dyn")]
        head += [("RRS", 1, "n", "dyn")]
    else:
        head += [("RRS", 1, "n", "dyn"), ("IDE", 1, "n", "dyn")]
    head += [("FDF", 1, "n", "dyn"), ("res", 1, "n", "dyn"), ("BRS", 1, "n", "dyn")]
    data: list[Field] = [("ESI", 1, fast, "dyn"), ("DLC", 4, fast, "dyn")]
    data += [("DATA", 8 * length, fast, "dyn")]
    crc: list[Field] = [
        ("SBC", 4, fast, "fixed"),
        ("CRC", 17 if length <= 16 else 21, fast, "fixed"),
    ]
    tail: list[Field] = [("CRCdel", 1, "n", "none"), ("ACK", 1, "n", "none")]
    tail += [("ACKdel", 1, "n", "none"), ("EOF", 7, "n", "none"), ("IFS", 3, "n", "none")]
    return head + data + crc + tail


def classic_layout(n: int) -> list[Field]:
    """The fields of a classic data frame with an 11-bit identifier and ``n`` bytes."""
    return [
        ("SOF", 1, "n", "dyn"),
        ("ID", 11, "n", "dyn"),
        ("RTR", 1, "n", "dyn"),
        ("IDE", 1, "n", "dyn"),
        ("r0", 1, "n", "dyn"),
        ("DLC", 4, "n", "dyn"),
        ("DATA", 8 * n, "n", "dyn"),
        ("CRC", 15, "n", "dyn"),
        ("CRCdel", 1, "n", "none"),
        ("ACK", 1, "n", "none"),
        ("ACKdel", 1, "n", "none"),
        ("EOF", 7, "n", "none"),
        ("IFS", 3, "n", "none"),
    ]


def brute_force(fields: list[Field]) -> tuple[int, int]:
    """Transmit the frame bit by bit: (nominal-phase bits, data-phase bits).

    Dynamic stuffing runs the stuffer itself on the worst input (every bit equal to the last
    bit on the wire), so a complement bit goes in after each run of 5 equal bits, stuff bits
    included; fixed stuffing puts a stuff bit before the field and after every 4th bit. A
    stuff bit is sent at the rate of the bit before it.
    """
    counts = {"n": 0, "d": 0}
    last = 0
    run = 0
    fixed_seen = 0
    for _name, bits, phase, stuffing in fields:
        for _ in range(bits):
            if stuffing == "fixed":
                if fixed_seen == 0:
                    counts[phase] += 1  # the fixed stuff bit before the stuff count
                counts[phase] += 1
                fixed_seen += 1
                if fixed_seen % 4 == 0:
                    counts[phase] += 1
                continue
            counts[phase] += 1
            if stuffing != "dyn":
                continue
            run += 1  # the worst input repeats the last bit on the wire
            if run == 5:
                counts[phase] += 1
                last ^= 1
                run = 1
    return counts["n"], counts["d"]


@given(st.integers(0, 64), st.booleans(), st.booleans())
def test_fd_frame_bits_is_the_brute_force_count(n: int, extended: bool, brs: bool) -> None:
    expected = brute_force(fd_layout(n, extended=extended, brs=brs))
    assert fd_frame_bits(n, extended=extended, brs=brs) == expected
    assert frame_bits(0x100, n, extended=extended, fd=True, brs=brs) == sum(expected)


@given(st.integers(0, 8))
def test_classic_frame_bits_is_the_brute_force_count(n: int) -> None:
    nominal, fast = brute_force(classic_layout(n))
    assert fast == 0
    assert frame_bits(0x100, n) == frame_bits(0x100, n, extended=False) == nominal


def test_the_flag_decides_extended_not_the_value() -> None:
    assert frame_bits(0x100, 8, extended=True) == frame_bits(0x18FF1020, 8)
    assert frame_bits(0x100, 8, extended=True) > frame_bits(0x100, 8, extended=False)
    log = FrameLog()
    log.add_rx(0.0, 0x100, bytes(8), FLAG_EXTENDED)
    log.add_rx(0.1, 0x100, bytes(8), 0)
    assert log.rx_bits == [frame_bits(0, 8, extended=True), frame_bits(0, 8, extended=False)]


def test_fd_payload_pads_to_the_next_length_and_crc21_above_16_bytes() -> None:
    assert fd_frame_bits(9, extended=False, brs=True) == fd_frame_bits(12, extended=False, brs=True)
    n16, d16 = fd_frame_bits(16, extended=False, brs=True)
    n20, d20 = fd_frame_bits(20, extended=False, brs=True)
    assert n16 == n20 and d20 - d16 >= 32 + 4  # four more bytes, four more CRC bits
    with pytest.raises(ValueError, match="at most 64"):
        fd_frame_bits(65, extended=False, brs=False)


def _bus_load(max_percent: float) -> object:
    cls = CHECKS.get("bus_load")

    def error(path: object, message: str | None = None, **kw: object) -> ProfileError:
        return ProfileError(str(message))

    resolver = Resolver(None, {}, [], error, (), [])  # type: ignore[arg-type]
    return cls(
        cls.Params.model_validate({"kind": "bus_load", "max_percent": max_percent}), resolver
    )


@pytest.mark.parametrize(
    ("data_bitrate", "verdict"), [(2_000_000, Verdict.PASS), (0, Verdict.FAIL)]
)
def test_bus_load_counts_the_data_phase_at_the_data_bit_rate(
    data_bitrate: int, verdict: Verdict
) -> None:
    log = FrameLog()
    flags = FLAG_FD | FLAG_BRS
    for k in range(1000):  # 64-byte FD frames every millisecond for one second
        log.add_rx(k * 0.001, 0x120, bytes(64), flags)
    nominal, fast = fd_frame_bits(64, extended=False, brs=True)
    at_2m = 100.0 * 1000 * (nominal / 500_000 + fast / 2_000_000)
    assert 40 < at_2m < 60  # at 2 Mbit/s the data phase fits; at 500 kbit/s it would not
    window = Window(0.0, 1.0, log, {}, 500_000, data_bitrate=data_bitrate)
    result = _bus_load(70).evaluate(window)  # type: ignore[attr-defined]
    assert result.verdict is verdict
    if verdict is Verdict.PASS:
        assert result.measurements["mean_percent"] == pytest.approx(at_2m, rel=1e-6)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=64),
            st.sampled_from(
                [
                    0,
                    FLAG_FD,
                    FLAG_FD | FLAG_BRS,
                    FLAG_FD | FLAG_EXTENDED,
                    FLAG_FD | FLAG_BRS | FLAG_EXTENDED,
                    FLAG_EXTENDED,
                ]
            ),
        ),
        max_size=20,
    )
)
def test_the_frame_log_keeps_each_frame_s_bits_as_the_model_counts_them(
    frames: list[tuple[int, int]],
) -> None:
    """FrameLog.add_rx looks the lengths up in a table: the same as fd_frame_bits and
    frame_bits for every length and flag, classic frames with no data-phase bits."""
    log = FrameLog()
    want: list[tuple[int, int]] = []
    for k, (n, flags) in enumerate(frames):
        if not flags & FLAG_FD:
            n = min(n, 8)
        log.add_rx(k * 0.001, 0x120, bytes(n), flags)
        ext = bool(flags & FLAG_EXTENDED)
        if flags & FLAG_FD:
            want.append(fd_frame_bits(n, extended=ext, brs=bool(flags & FLAG_BRS)))
        else:
            want.append((frame_bits(0x120, n, extended=ext), 0))
    fast = log.rx_fast_bits or [0] * len(log.rx_bits)
    assert list(zip(log.rx_bits, fast, strict=True)) == want
    with pytest.raises(ValueError, match="at most 64 data bytes"):
        log.add_rx(1.0, 0x120, bytes(65), FLAG_FD)
