"""The hazard corpus: hostile inputs a supplier (or an attacker) can hand the harness.

Each hazard builds its input in a fresh folder and runs the real CLI in a subprocess. Every
one asserts the exit code, a message that names the place (the file, key or flag), no
traceback, no canary (the secret set in the child's environment and written into the secret
files hazards point at), and, by the subprocess timeout, that nothing hangs. The first group
are the cases of issue 14 as it was filed; the rest are special files, symbolic links to
secrets, encodings, sizes and path problems of our own.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hostile import hazards_issue, hazards_read, hazards_write
from tests.hostile.conftest import CANARY, Outcome, run_cli
from tests.hostile.hazards import Ctx, Expect

ISSUE = hazards_issue.HAZARDS
OWN = hazards_read.HAZARDS + hazards_write.HAZARDS
HAZARDS = ISSUE + OWN


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> Iterator[Ctx]:
    # Not pytest's tmp_path: its parents are private to root, and one hazard runs as nobody.
    tmp = Path(tempfile.mkdtemp(prefix="cc-hostile-"))
    tmp.chmod(0o755)
    try:
        yield Ctx(tmp, lambda: request.getfixturevalue("certified_run"))
    finally:
        for path in tmp.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_corpus_holds_the_issue_and_thirty_more() -> None:
    assert len(ISSUE) == 23 and len(OWN) >= 30
    assert len({h.__name__ for h in HAZARDS}) == len(HAZARDS)


def _check(outcome: Outcome, expect: Expect) -> None:
    text = outcome.output
    flat = " ".join(text.split())  # rich wraps long lines
    assert "Traceback" not in text, text
    assert CANARY not in text and CANARY not in flat.replace(" ", ""), "the canary leaked:\n" + text
    for bad in expect.absent:
        assert bad not in text, f"{bad!r} leaked:\n{text}"
    assert outcome.code == expect.code, f"exit {outcome.code}, expected {expect.code}:\n{text}"
    if expect.code == 2:
        assert "error:" in text, text
    for phrase in expect.phrases:
        assert phrase in flat or phrase in text, f"{phrase!r} not in:\n{text}"


@pytest.mark.parametrize("hazard", HAZARDS, ids=lambda h: h.__name__)
def test_hazard(hazard: Callable[[Ctx], Expect], ctx: Ctx) -> None:
    expect = hazard(ctx)
    outcome = run_cli(expect.args, ctx.tmp, user=expect.user)
    _check(outcome, expect)
    if expect.after is not None:
        expect.after()
