"""Routing laws of the run queue, and its command line's bad input (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import InputError
from harness.queue.model import MAX_BUSES, Capabilities, Needs, RunRequest, queue_for, queues_served
from tests.conftest import PROFILE
from tests.ports import free_tcp_port

INTERFACES = st.sampled_from(["virtual", "socketcan", "udp_multicast", "pcan"])
CAPS = st.builds(Capabilities, INTERFACES, st.booleans(), st.integers(1, MAX_BUSES))
NEEDS = st.builds(
    Needs, st.one_of(st.just("any"), INTERFACES), st.booleans(), st.integers(1, MAX_BUSES)
)


@given(CAPS, NEEDS)
def test_a_bench_serves_exactly_the_queues_of_the_needs_it_meets(
    caps: Capabilities, needs: Needs
) -> None:
    assert (queue_for(needs) in queues_served(caps)) == caps.meets(needs)


@given(NEEDS)
def test_needs_round_trip_through_their_text(needs: Needs) -> None:
    parts = [f"interface={needs.interface}", f"buses={needs.buses}"] + (["fd"] * needs.fd)
    assert Needs.parse(",".join(parts)) == needs


@given(
    NEEDS,
    st.booleans(),
    st.lists(st.sampled_from(["TC-CAN-002", "TC-UDS-002"]), unique=True),
    st.one_of(st.none(), st.integers(0, 2**63 - 1)),
)
def test_requests_round_trip_through_json(
    needs: Needs, realtime: bool, cases: list[str], seed: int | None
) -> None:
    request = RunRequest("p.yaml", "ab" * 32, "sim:flood", needs, realtime, tuple(cases), seed)
    assert RunRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fd=1", "expected comma-separated interface=NAME, fd, buses=N"),
        ("buses=0", "expected a bus count from 1 to 8"),
        ("buses=x", "expected a bus count from 1 to 8"),
        ("interface=Bad Name", "expected a python-can interface name"),
        ("colour=red", "but got 'colour=red'"),
    ],
)
def test_bad_needs_name_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Needs.parse(text)


def test_empty_needs_take_any_bench() -> None:
    assert Needs.parse("") == Needs() and queue_for(Needs()) == "cc-harness.any.classic.1bus"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["submit", str(PROFILE), "--needs", "bogus"], 2, "--needs"),
        (["submit", str(PROFILE), "--case", "NO-SUCH"], 2, "--case NO-SUCH: no such case"),
        (["submit", str(PROFILE), "--needs", "fd"], 2, "does not meet them"),
        (["submit", str(PROFILE), "--dut", "sim:nope"], 2, "unknown simulator variant"),
        (["worker", "--evidence", "x"], 2, "a worker needs a broker"),
        (["status", "abc"], 2, "status needs a broker"),
    ],
)
def test_bad_input_is_exit_2_naming_it(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queue", *args]) == code
    assert message in capsys.readouterr().err


def test_an_unreachable_broker_is_exit_3_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_tcp_port()}/0"  # nobody listens there
    assert main(["queue", "status", "abc", "--broker", url]) == 3
    err = capsys.readouterr().err
    assert "cannot reach the queue broker redis://127.0.0.1:" in err
    assert "hunter2" not in err


def test_the_embedded_default_runs_here_without_a_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["submit", str(PROFILE), "--case", "TC-CAN-002", "--evidence", str(tmp_path)]
    assert main(["queue", *args]) == 0
    out = capsys.readouterr().out
    assert "COMPLETED PASS on bench default bench" in out
    (request,) = tmp_path.iterdir()
    (attempt,) = request.iterdir()
    assert (attempt / "run.json").is_file() and (attempt / "trace.blf").is_file()
