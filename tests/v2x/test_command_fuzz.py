"""Fuzzing remote commands (CMD-005): corpus, oracle, generator, judge, profile case, replay."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.bench import Bench
from harness.errors import ProfileError
from harness.mqtt.cmdfuzz import (
    CORPUS_FILE,
    build_payloads,
    generate,
    judge,
    load_corpus,
    show_payload,
)
from harness.mqtt.cmdoracle import judge_payload
from harness.mqtt.commands import command_mac, verify_command
from harness.plan import Plan
from harness.profile.compile import load_profile, load_profile_text
from harness.record import RunRecord, Verdict
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, ROOT, case_in_run, profile_copy, run_harness

PSK = bytes(range(32))
TS = 1_767_225_660_000
VARIANT = "sim:crash-on-non-hex-nonce"
CORPUS = load_corpus()


def sign(psk: bytes = PSK) -> Any:
    return lambda cmd, seq, nonce, ts: command_mac(psk, cmd, seq, nonce, ts)


def reference_ack(payload: bytes, now_ms: int = TS) -> dict[str, Any]:
    """The reference simulator's ack (its own parser), with no nonce seen before."""
    return dict(json.loads(verify_command(payload, PSK, now_ms, lambda n: False).ack()))


# -- the corpus and the oracle ------------------------------------------------------------------
@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_the_oracle_gives_every_corpus_entry_the_ack_the_page_prescribes(entry: Any) -> None:
    verdict = judge_payload(entry.payload)
    assert verdict.expected is not None, verdict.undecided
    assert verdict.expected.as_dict() == entry.expect, verdict.expected.why
    # and the reference simulator, with a parser of its own, answers one permitted ack
    ack = reference_ack(entry.payload)
    assert ack["seq"] in verdict.expected.seqs
    assert ack == {**entry.expect, "seq": ack["seq"]}


@pytest.mark.parametrize("name", ["seq-nan", "ts-nan", "ts-infinity"])
def test_nan_and_infinity_are_judged_under_both_readings_rfc_8259_allows(name: str) -> None:
    """RFC 8259 section 9 lets a parser accept NaN and Infinity: such a parser reads a number
    that is not an integer, so the command is malformed either way; only the echoed seq may
    differ (-1 when the payload is no JSON, 5 when NaN is a number)."""
    entry = next(e for e in CORPUS if e.name == name)
    strict = reference_ack(entry.payload)
    lenient = json.loads(
        verify_command(entry.payload, PSK, TS, lambda n: False, allow_nonfinite=True).ack()
    )
    verdict = judge_payload(entry.payload)
    assert verdict.expected is not None
    assert strict["seq"] == -1 and strict["reason"] == lenient["reason"] == "malformed"
    assert lenient["seq"] == (-1 if name == "seq-nan" else 5)
    assert {strict["seq"], lenient["seq"]} == set(verdict.expected.seqs)
    assert verdict.expected.unanimous is (name == "seq-nan")


def test_a_nan_payload_that_a_lenient_parser_takes_for_a_command_is_not_sent() -> None:
    """NaN in a member the page does not know: no JSON to a strict parser (malformed), a
    well-formed command to a lenient one (bad-mac at best): the page does not decide it."""
    payload = (
        b'{"cmd":"horn","seq":5,"nonce":"00112233445566778899aabbccddeeff",'
        b'"ts":1767225600000,"mac":"' + b"ab" * 32 + b'","x":NaN}'
    )
    verdict = judge_payload(payload)
    assert verdict.expected is None and "nonfinite" in (verdict.undecided or "")


def test_the_corpus_covers_the_kinds_of_malformation_the_issue_names() -> None:
    names = {e.name for e in CORPUS}
    wanted = {
        "empty", "plain-word", "truncated-object", "array-empty", "string", "number", "null",
        "missing-cmd", "missing-seq", "missing-nonce", "missing-ts", "missing-mac",
        "seq-string", "seq-fraction", "seq-true", "seq-null", "seq-negative", "seq-2^31",
        "nonce-short", "nonce-long", "nonce-non-hex", "ts-string", "ts-fraction",
        "mac-short", "mac-long", "mac-non-hex", "cmd-nested-object", "nested-command",
        "seq-2^64", "oversize-1025", "invalid-utf8-only", "bom-no-seq",
        "duplicate-seq-both-strings", "cmd-unknown", "boundary-1024-unknown-cmd",
    }  # fmt: skip
    assert wanted <= names, sorted(wanted - names)
    assert len(names) == len(CORPUS) >= 90
    reasons = {e.expect["reason"] for e in CORPUS}
    assert reasons == {"malformed", "unknown-cmd"}
    assert any(len(e.payload) > 1024 for e in CORPUS)
    assert any(e.expect["seq"] not in (-1, 5) for e in CORPUS)  # out-of-range seq echoed


def test_the_corpus_is_package_data_of_a_non_editable_install() -> None:
    path = ROOT / "harness" / "data" / CORPUS_FILE
    assert path.is_file() and not path.is_symlink()
    config = (ROOT / "pyproject.toml").read_text()  # (no tomllib before Python 3.11)
    section = config[config.index("[tool.setuptools.package-data]") :]
    match = re.search(r"^harness = \[(.*)\]$", section, re.MULTILINE)
    assert match is not None
    globs = [g.strip().strip('"') for g in match.group(1).split(",")]
    assert any(fnmatch.fnmatch(f"data/{CORPUS_FILE}", g) for g in globs)


def command(cmd: bytes = b'"honk"', seq: bytes = b"5", middle: bytes = b"") -> bytes:
    """A command of well-formed fields (key-independent unless cmd is a known one)."""
    nonce, mac = b"0" * 32, b"0" * 64
    return (
        b'{"cmd":' + cmd + b',"seq":' + seq + middle + b',"nonce":"' + nonce + b'","ts":1,'
        b'"mac":"' + mac + b'"}'
    )


@pytest.mark.parametrize(
    ("payload", "undecided"),
    [
        # a well-formed command: bad-mac, stale, replay or ok depend on the key and clock
        (command(b'"horn"'), "well-formed"),
        # 5.0 is an integer to some JSON parsers and not to others
        (command(seq=b"5.0"), "whole_floats"),
        # duplicate names: first wins, last wins, or refused
        (command(middle=b',"seq":"x"'), "duplicates"),
        # a byte order mark may be skipped or refused
        ("\ufeff".encode() + command(), "bom"),
        # a byte that is not UTF-8 inside a string of an otherwise complete command
        (command(b'"h\xffnk"'), "utf8"),
        # an unpaired surrogate escape may be refused or kept
        (command(b'"\\ud800"'), "surrogates"),
    ],
)
def test_the_oracle_judges_only_what_every_reading_agrees_on(
    payload: bytes, undecided: str
) -> None:
    verdict = judge_payload(payload)
    assert verdict.expected is None
    assert undecided in (verdict.undecided or "")


# -- the generator ---------------------------------------------------------------------------------
def test_the_generator_is_the_seeds_and_every_mutant_is_decided() -> None:
    first = generate(7, 300, sign(), TS)
    assert first == generate(7, 300, sign(), TS)  # same seed: same payloads, same order
    other = generate(8, 300, sign(), TS)
    assert [p for _, p in first] != [p for _, p in other]
    for name, payload in first:
        verdict = judge_payload(payload)
        assert verdict.expected is not None, (name, payload)
    kinds = {name.split(" ")[0] for name, _ in first}
    assert {"drop", "truncated", "flipped", "wrapped", "seq", "nonce", "mac", "ts"} <= kinds


def test_mutant_number_n_is_the_same_mutation_whatever_the_key_and_time() -> None:
    """Draws depend on the seed only: a finding's payload number replays on another bench."""
    a = generate(11, 300, sign(), TS)
    b = generate(11, 300, sign(b"another key"), TS + 3_600_000)
    assert [n.split(",")[0] for n, _ in a] == [n.split(",")[0] for n, _ in b]


def test_the_reference_simulator_acks_every_mutant_as_the_oracle_says() -> None:
    for name, payload in generate(5005, 1500, sign(), TS):
        expected = judge_payload(payload).expected
        assert expected is not None
        assert reference_ack(payload) == expected.as_dict(), (name, payload)


def test_build_payloads_puts_the_corpus_first() -> None:
    payloads = build_payloads(True, 10, 1, sign(), TS)
    assert [p.index for p in payloads] == list(range(len(CORPUS) + 10))
    assert [p.payload for p in payloads[: len(CORPUS)]] == [e.payload for e in CORPUS]
    assert payloads[len(CORPUS)].origin == "generated"
    assert payloads[0].label == "#0 corpus empty"


# -- the judge -------------------------------------------------------------------------------------
def test_the_judge_names_each_kind_of_mismatch() -> None:
    bad_seq = b'{"cmd":"horn","seq":"5"}'  # malformed, seq -1
    honk = next(e.payload for e in CORPUS if e.name == "cmd-unknown")  # unknown-cmd, seq 5
    sent = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    payloads = [bad_seq, bad_seq, honk, honk, bad_seq, b"{}", b"[]"]
    malformed = b'{"seq":-1,"result":"rejected","reason":"malformed"}'
    acks = [
        (0.001, malformed),  # 0: right
        # 1: none
        (0.201, b'{"seq":5,"result":"rejected","reason":"bad-mac"}'),  # 2: wrong reason
        (0.301, b'{"seq":5,"result":"rejected","reason":"unknown-cmd"}'),  # 3: twice
        (0.302, b'{"seq":5,"result":"rejected","reason":"unknown-cmd"}'),
        (0.401, b"not json"),  # 4: not JSON
        (0.590, malformed),  # 5: right, but late
        (0.601, malformed),  # 6: right, but executed
    ]
    got = judge(sent, payloads, [a[0] for a in acks], [a[1] for a in acks], 0.05, [0.602])
    problems = {m.index: m.problem for m in got.mismatches}
    assert sorted(problems) == [1, 2, 3, 4, 5, 6]
    assert problems[1] == "no ack within 50 ms (expected rejected/malformed seq -1)"
    assert "reason wrong" in problems[2] and "bad-mac" in problems[2]
    assert problems[3].startswith("2 acks")
    assert problems[4].endswith("the ack is not JSON")
    assert problems[5].startswith("the ack came after 90.000 ms, later than 50 ms")
    assert problems[6] == "executed: a command frame 2.000 ms after it"
    assert got.mismatches[0].expected == {"seq": -1, "result": "rejected", "reason": "malformed"}
    assert got.worst_latency == pytest.approx(0.09)


def test_show_payload_keeps_text_readable_and_bytes_as_hex() -> None:
    assert show_payload(b'{"a":"\n"}') == '{"a":"\\n"} (9 bytes)'
    assert show_payload(b"\xff\x00") == "hex ff 00 (2 bytes)"
    assert show_payload(b"x" * 2000, 20) == "x" * 17 + "... (2000 bytes)"


# -- the profile step and check --------------------------------------------------------------------
@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


def run_cases(plan: Plan, dut: str, *case_ids: str, seed: int | None = None) -> RunRecord:
    with Session(plan, Bench(), DutChoice.parse(dut), seed=seed) as session:
        return session.run_all([plan.case(c) for c in case_ids])


@pytest.fixture(scope="module")
def variant_run(plan: Plan) -> RunRecord:
    return run_cases(plan, VARIANT, "TC-CMD-005", "TC-CMD-005-FUZZ")


def test_the_reference_passes_the_fuzz_case_with_its_fixed_seed(plan: Plan) -> None:
    assert plan.seeded_fuzz_steps([plan.case("TC-CMD-005-FUZZ")]) == 0
    (case,) = run_cases(plan, "sim", "TC-CMD-005-FUZZ").cases
    assert case.verdict is Verdict.PASS, [c.summary for c in case.checks]
    fuzz_check = next(c for c in case.checks if c.kind == "command_fuzz")
    assert fuzz_check.measurements == {
        "payloads": len(CORPUS) + 200,
        "corpus": len(CORPUS),
        "acks": len(CORPUS) + 200,
        "mismatches": 0,
        "executed": 0,
        "max_ack_latency": pytest.approx(0.001),  # the simulated broker's round trip
    }
    assert fuzz_check.limits == {"within": 0.5, "payloads": len(CORPUS) + 200}
    (fuzz,) = case.fuzz
    assert fuzz.kind == "command" and fuzz.seed == 5005 and fuzz.findings == []
    assert fuzz.sent == len(CORPUS) + 200
    assert fuzz.details["corpus"] == len(CORPUS) and fuzz.details["generated"] == 200


def test_a_part_whose_parser_accepts_nan_passes_the_command_cases(
    plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part that reads NaN and Infinity as numbers (RFC 8259 permits the extension) and
    answers malformed with the integer seq: right under that reading, so it passes."""
    import harness.sim.v2x

    monkeypatch.setattr(
        harness.sim.v2x,
        "verify_command",
        functools.partial(verify_command, allow_nonfinite=True),
    )
    with Session(plan, Bench(), DutChoice.parse("sim"), seed=1) as session:
        record = session.run_all([plan.case("TC-CMD-005"), plan.case("TC-CMD-005-FUZZ")])
        assert session.mqtt is not None
        log = session.mqtt.log
    assert {c.case_id: c.verdict for c in record.cases} == {
        "TC-CMD-005": Verdict.PASS,
        "TC-CMD-005-FUZZ": Verdict.PASS,
    }, [c.summary for case in record.cases for c in case.checks if c.verdict is not Verdict.PASS]
    # the lenient parser did answer ts NaN / Infinity with the command's own seq 5
    sent, acks = log.tx_of("cmd"), log.rx_of("ack")
    for name in ("ts-nan", "ts-infinity"):
        payload = next(e.payload for e in CORPUS if e.name == name)
        t0 = next(t for t, p in zip(sent.ts, sent.payload, strict=True) if p == payload)
        ack = next(p for t, p in zip(acks.ts, acks.payload, strict=True) if t > t0)
        assert json.loads(ack) == {"seq": 5, "result": "rejected", "reason": "malformed"}


def test_the_variant_is_caught_by_the_fuzz_case_and_not_by_tc_cmd_005(
    variant_run: RunRecord,
) -> None:
    verdicts = {c.case_id: c.verdict for c in variant_run.cases}
    assert verdicts == {"TC-CMD-005": Verdict.PASS, "TC-CMD-005-FUZZ": Verdict.FAIL}
    case = variant_run.cases[1]
    fuzz_check = next(c for c in case.checks if c.kind == "command_fuzz")
    assert fuzz_check.verdict is Verdict.FAIL
    index = next(i for i, e in enumerate(CORPUS) if e.name == "nonce-non-hex")
    assert f"first #{index} (corpus nonce-non-hex): no ack within" in fuzz_check.summary
    assert fuzz_check.offender is not None and "eefg" in fuzz_check.offender.detail


def test_the_finding_names_the_payload(variant_run: RunRecord) -> None:
    (fuzz,) = variant_run.cases[1].fuzz
    first = fuzz.findings[0]
    entry = next(e for e in CORPUS if e.name == "nonce-non-hex")
    assert first["origin"] == "corpus" and first["name"] == "nonce-non-hex"
    assert first["summary"].startswith(f"#{first['index']} corpus nonce-non-hex: no ack")
    assert first["payload"].startswith(entry.payload.decode()[:60])
    assert first["expected"] == {"seq": 5, "result": "rejected", "reason": "malformed"}
    assert first["got"] == []
    assert len(fuzz.findings) == 20 and fuzz.details["findings_dropped"] > 0


def test_profile_errors_name_the_place(tmp_path: Path) -> None:
    text = PROFILE.read_text()
    step = "      - fuzz_command: {corpus: true, generated: 200, within: 500 ms, seed: 5005}\n"
    assert text.count(step) == 1
    for bad, message in (
        ("      - fuzz_command: {corpus: false}\n", "sends nothing"),
        ("      - fuzz_command: {ack: cmd}\n", "topic cmd is not one the DUT publishes"),
        ("      - fuzz_command: {topic: ack}\n", "topic ack is not one the harness publishes"),
    ):
        with pytest.raises(ProfileError) as err:
            load_profile_text(text.replace(step, bad), "p.yaml", PROFILE.parent)
        assert message in str(err.value)
        assert "cases[" in str(err.value)


# -- replay from the run seed, and offline re-evaluation -------------------------------------------
def test_the_run_seed_in_run_json_replays_the_findings_and_evaluate_agrees(
    tmp_path: Path,
) -> None:
    profile = profile_copy(  # no fixed seed and no corpus: the findings are the run seed's
        tmp_path,
        "fuzz_command: {corpus: true, generated: 200, within: 500 ms, seed: 5005}",
        "fuzz_command: {corpus: false, generated: 200, within: 500 ms}",
    )
    common = ["--dut", VARIANT, "--case", "TC-CMD-005-FUZZ", "--quiet"]
    first = run_harness(["certify", str(profile), *common, "--out", str(tmp_path / "a")])
    assert first.returncode == 1, first.stdout + first.stderr
    record, case = case_in_run(tmp_path / "a", "TC-CMD-005-FUZZ")
    (fuzz,) = case["fuzz"]
    assert fuzz["findings"], fuzz
    trigger = fuzz["findings"][0]
    assert trigger["origin"] == "generated" and trigger["got"] == []
    assert "no ack within 500 ms" in trigger["summary"]

    again = run_harness(
        ["certify", str(profile), *common, "--seed", str(record["seed"]), "--out",
         str(tmp_path / "b")]
    )  # fmt: skip
    assert again.returncode == 1
    _, case_b = case_in_run(tmp_path / "b", "TC-CMD-005-FUZZ")
    assert case_b["fuzz"] == case["fuzz"]  # same seed: same payloads, offsets and findings
    assert case_b["checks"] == case["checks"]

    # another run seed, another stream of mutants (in process: quicker than the CLI)
    other = run_cases(load_profile(profile), VARIANT, "TC-CMD-005-FUZZ", seed=record["seed"] ^ 1)
    (other_fuzz,) = other.cases[0].fuzz
    assert other_fuzz.seed != fuzz["seed"]
    assert other_fuzz.findings != fuzz["findings"]

    html = (tmp_path / "a" / "report" / "report.html").read_text()
    assert "expected {&quot;seq&quot;:" in html  # the report shows the findings' payloads

    evaluated = run_harness(["evaluate", str(tmp_path / "a")])
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr


def test_the_step_gives_up_on_a_part_that_stops_answering_and_the_check_says_so() -> None:
    text = PROFILE.read_text()
    step = "fuzz_command: {corpus: true, generated: 200, within: 500 ms, seed: 5005}"
    quick = "fuzz_command: {corpus: true, within: 100 ms, give_up: 3}"  # 3 s deaf: 30 misses
    plan = load_profile_text(text.replace(step, quick), "quick.yaml", PROFILE.parent)
    (case,) = run_cases(plan, VARIANT, "TC-CMD-005-FUZZ").cases
    (fuzz,) = case.fuzz
    index = next(i for i, e in enumerate(CORPUS) if e.name == "nonce-non-hex")
    assert fuzz.sent == index + 3 and fuzz.details["gave_up"] == "no ack for 3 payloads in a row"
    assert [f["index"] for f in fuzz.findings] == [index, index + 1, index + 2, index + 2]
    assert fuzz.findings[-1]["summary"] == (
        f"stopped after {index + 3} of {len(CORPUS)} payloads: no ack for 3 payloads in a row"
    )
    check = next(c for c in case.checks if c.kind == "command_fuzz")
    assert check.verdict is Verdict.FAIL
    assert check.summary.endswith(
        f"the step stopped after {index + 3} of {len(CORPUS)} payloads (no more acks)"
    )
    assert check.measurements["payloads"] == index + 3
