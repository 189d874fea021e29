"""The layout law: :func:`harness.can.dbc_lint.layout_problems` finds a problem in a message
exactly when cantools' strict mode refuses it (same overlap and fit rules, multiplexing
included), and it names every problem rather than the first."""

from __future__ import annotations

from typing import Any

from cantools.database import Message, Signal
from cantools.database.errors import Error as CantoolsError
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can.dbc_lint import layout_problems, outside_frame, signal_bits


@st.composite
def messages(draw: st.DrawFn) -> tuple[int, list[dict[str, Any]]]:
    """A message length and signal layouts, some multiplexed by a selector signal."""
    length = draw(st.sampled_from([0, 1, 2, 4, 8, 12, 16, 64]))
    count = draw(st.integers(1, 8))
    muxed = draw(st.booleans())
    specs: list[dict[str, Any]] = []
    for i in range(count):
        bits = max(8 * length, 8)
        specs.append(
            {
                "name": f"S{i}",
                "start": draw(st.integers(0, bits + 4)),
                "length": draw(st.integers(1, 16)),
                "byte_order": draw(st.sampled_from(["little_endian", "big_endian"])),
                "ids": (
                    sorted(draw(st.sets(st.integers(0, 3), min_size=1, max_size=2)))
                    if muxed and i > 0 and draw(st.booleans())
                    else None
                ),
            }
        )
    return length, specs


def _message(length: int, specs: list[dict[str, Any]], strict: bool) -> Message:
    muxed = any(s["ids"] is not None for s in specs)
    signals = [
        Signal(
            name=s["name"],
            start=s["start"],
            length=s["length"],
            byte_order=s["byte_order"],
            is_multiplexer=muxed and s["name"] == "S0",
            multiplexer_ids=s["ids"],
            multiplexer_signal="S0" if s["ids"] is not None else None,
        )
        for s in specs
    ]
    return Message(frame_id=0x123, name="M", length=length, signals=signals, strict=strict)


@settings(max_examples=600, deadline=None)
@given(messages())
def test_layout_problems_iff_cantools_strict_refuses(drawn: tuple[int, list[Any]]) -> None:
    length, specs = drawn
    lenient = _message(length, specs, strict=False)
    try:
        _message(length, specs, strict=True)
        refused = False
    except CantoolsError:
        refused = True
    found = layout_problems(lenient)
    assert bool(found) == refused, (found, specs)


@settings(max_examples=300, deadline=None)
@given(messages())
def test_every_overlap_is_found_pairwise(drawn: tuple[int, list[Any]]) -> None:
    """Brute force over pairs: every two signals sharing an in-frame bit, outside different
    branches of the multiplexer, is reported, and nothing else is."""
    length, specs = drawn
    msg = _message(length, specs, strict=False)
    size = 8 * length
    expected = set()
    for i, a in enumerate(msg.signals):
        for b in msg.signals[i + 1 :]:
            ida = set(a.multiplexer_ids or ()) if a.multiplexer_signal else None
            idb = set(b.multiplexer_ids or ()) if b.multiplexer_signal else None
            if ida is not None and idb is not None and not ida & idb:
                continue
            shared = {x for x in signal_bits(a) if x < size} & set(signal_bits(b))
            if shared:
                expected.add(frozenset((a.name, b.name)))
    found = {frozenset(names) for what, names in layout_problems(msg) if "overlap" in what}
    assert found == expected
    outside = {names[0] for what, names in layout_problems(msg) if "does not fit" in what}
    assert outside == set(outside_frame(msg))


def test_motorola_bits_run_msb_first_across_bytes() -> None:
    # start bit 7 (MSB of byte 0), 12 bits: all of byte 0, then bits 15..12 of byte 1
    sig = Signal(name="X", start=7, length=12, byte_order="big_endian")
    assert sorted(signal_bits(sig)) == [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]
