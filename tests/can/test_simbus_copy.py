"""A frame the simulated bus delivers is, slot for slot, the can.Message the constructor
would make of the sent one (the bus builds it field by field, for speed)."""

from __future__ import annotations

import can
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can.simbus import SimBus
from harness.clock import VirtualClock

SLOTS = [s for s in can.Message.__slots__ if s != "__weakref__"]

MESSAGE = st.builds(
    can.Message,
    timestamp=st.floats(allow_nan=False, allow_infinity=False),
    arbitration_id=st.integers(min_value=0, max_value=0x1FFFFFFF),
    is_extended_id=st.booleans(),
    is_remote_frame=st.booleans(),
    is_error_frame=st.booleans(),
    channel=st.none() | st.text(max_size=5),
    dlc=st.integers(min_value=0, max_value=64),
    data=st.binary(max_size=64),
    is_fd=st.booleans(),
    is_rx=st.booleans(),
    bitrate_switch=st.booleans(),
    error_state_indicator=st.booleans(),
    check=st.just(False),
)


@settings(max_examples=200, deadline=None)
@given(msg=MESSAGE, now=st.floats(min_value=0, max_value=1e6), own=st.booleans())
def test_delivered_frames_are_what_the_constructor_makes(
    msg: can.Message, now: float, own: bool
) -> None:
    clock = VirtualClock(now)
    channel = f"copy-law-{id(msg)}"
    sender = SimBus(channel, clock=clock, receive_own_messages=own)
    receiver = SimBus(channel)
    try:
        sender.send(msg)
        for endpoint, rx in ((receiver, True), (sender, False)):
            if endpoint is sender and not own:
                assert endpoint.poll_nowait() is None
                continue
            got = endpoint.poll_nowait()
            assert got is not None and got is not msg
            expected = can.Message(
                timestamp=now,
                arbitration_id=msg.arbitration_id,
                is_extended_id=msg.is_extended_id,
                is_remote_frame=msg.is_remote_frame,
                is_error_frame=msg.is_error_frame,
                is_fd=msg.is_fd,
                bitrate_switch=msg.bitrate_switch,
                error_state_indicator=msg.error_state_indicator,
                dlc=msg.dlc,
                data=bytes(msg.data),
                channel=endpoint.channel_info,
                is_rx=rx,
                check=False,
            )
            for slot in SLOTS:
                assert getattr(got, slot) == getattr(expected, slot), slot
                assert type(getattr(got, slot)) is type(getattr(expected, slot)), slot
            assert got.data is not msg.data  # the receiver's own copy
    finally:
        receiver.shutdown()
        sender.shutdown()
