"""The trace's fast path for classic frames writes the very bytes python-can's BLF writer
writes for the same frames (law), and python-can reads them back as those frames."""

from __future__ import annotations

from pathlib import Path

import can
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.trace import TraceWriter

FRAME = st.tuples(
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False),  # seconds after the start
    st.booleans(),  # extended
    st.integers(min_value=0, max_value=0x1FFFFFFF),
    st.binary(min_size=0, max_size=8),
    st.booleans(),  # rx
)
START = 1_767_225_600.1234567


@settings(max_examples=40, deadline=None)
@given(
    frames=st.lists(FRAME, min_size=1, max_size=300),
    flushes=st.sets(st.integers(min_value=0, max_value=300), max_size=4),
)
def test_fast_path_bytes_equal_python_cans(
    tmp_path_factory: object, frames: list, flushes: set[int]
) -> None:
    folder = tmp_path_factory.mktemp("trace")  # type: ignore[attr-defined]
    frames = sorted(frames, key=lambda f: f[0])
    ours = TraceWriter(folder / "ours.blf")
    theirs = can.BLFWriter(str(folder / "theirs.blf"), channel=1, max_container_size=4096)
    for k, (offset, extended, can_id, data, rx) in enumerate(frames):
        if k in flushes:  # a flush mid-container (after a case, or 250 ms of wall time)
            ours.flush()
            theirs._flush()
        can_id = can_id if extended else can_id & 0x7FF
        ts = START + offset
        ours.write_frame(ts, can_id, data, rx=rx, extended=extended)
        theirs.on_message_received(
            can.Message(
                timestamp=ts,
                arbitration_id=can_id,
                is_extended_id=extended,
                data=data,
                dlc=len(data),
                is_rx=rx,
                check=False,
            )
        )
    ours.close()
    theirs.stop()
    assert ours.frames == len(frames)
    assert (folder / "ours.blf").read_bytes() == (folder / "theirs.blf").read_bytes()


def test_frames_read_back_as_written(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t.blf")
    sent = [
        (START + k * 0.001, (0x100 + k) if k % 3 else (0x18DA00F1 + k), bytes([k % 256]) * (k % 9))
        for k in range(500)
    ]
    for k, (ts, can_id, data) in enumerate(sent):
        writer.write_frame(ts, can_id, data, rx=bool(k % 2), extended=can_id > 0x7FF)
        if k == 250:
            writer.flush()  # a flush mid-container, as after a case
    writer.close()
    got = list(can.BLFReader(str(tmp_path / "t.blf")))
    assert [(m.arbitration_id, bytes(m.data), m.is_rx) for m in got] == [
        (i, d, bool(k % 2)) for k, (_, i, d) in enumerate(sent)
    ]
    assert all(abs(m.timestamp - ts) < 2e-6 for m, (ts, _, _) in zip(got, sent, strict=True))
