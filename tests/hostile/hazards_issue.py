"""The hazards of issue 14 as it was filed: secrets through error messages, special files,
unbounded reads, tracebacks on --out problems, duplicate DBC messages, markup in paths, long
case IDs, unknown bench options, bench errors after the folder, a killed run evaluated."""

from __future__ import annotations

from collections.abc import Callable

from harness.safeio import DBC
from tests.conftest import PROFILE
from tests.hostile.hazards import (
    DUPLICATE_ID,
    DUPLICATE_NAME,
    Ctx,
    Expect,
    big_dbc,
    not_created,
    unprivileged,
)


# -- the cases of issue 14 -----------------------------------------------------------------------
def proc_environ_as_dbc_validate(c: Ctx) -> Expect:
    p = c.profile_dbc("/proc/self/environ")
    return Expect(["validate", str(p)], 2, [f"{p}:", "dbc", "/proc/self/environ", "under /proc"])


def proc_environ_as_dbc_certify(c: Ctx) -> Expect:
    p = c.profile_dbc("/proc/self/environ")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(p), "--out", str(out)], 2, [f"{p}:", "dbc"], after=not_created(out)
    )


def etc_passwd_as_dbc(c: Ctx) -> Expect:
    p = c.profile_dbc("/etc/passwd")
    return Expect(
        ["validate", str(p)], 2, ["/etc/passwd", "invalid syntax"], absent=["root:", "/bin/"]
    )


def etc_shadow_as_dbc(c: Ctx) -> Expect:
    # Root reads /etc/shadow; anyone else gets "unreadable". Either way no line of it shows.
    p = c.profile_dbc("/etc/shadow")
    return Expect(["validate", str(p)], 2, ["/etc/shadow", "dbc"], absent=["root:", "$6$", "$y$"])


def fifo_as_profile(c: Ctx) -> Expect:
    f = c.fifo("profile.yaml")
    return Expect(["validate", str(f)], 2, [f"{f}:", "FIFO"])


def fifo_as_bench(c: Ctx) -> Expect:
    f = c.fifo("bench.yaml")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(f), "--out", str(out)],
        2,
        [f"{f}:", "FIFO"],
        after=not_created(out),
    )


def fifo_as_verify_key(c: Ctx) -> Expect:
    run = c.get_run()
    f = c.fifo("key.pub")
    return Expect(
        ["verify", str(run.folder / "certificate.dsse.json"), "--key", str(f)], 2, ["FIFO", str(f)]
    )


def dev_zero_as_signing_key(c: Ctx) -> Expect:
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--key", "/dev/zero", "--out", str(out)],
        2,
        ["/dev/zero", "under /dev"],
        after=not_created(out),
    )


def dev_zero_as_certificate(c: Ctx) -> Expect:
    run = c.get_run()
    return Expect(["verify", "/dev/zero", "--key", str(run.public)], 2, ["/dev/zero", "under /dev"])


def dbc_of_60_mb(c: Ctx) -> Expect:
    big = c.dbc(big_dbc(60 << 20), "huge.dbc")
    p = c.profile_dbc(big)
    return Expect(["validate", str(p)], 2, ["huge.dbc", f"at most {DBC.max_bytes} bytes"])


def dbc_of_6_mb(c: Ctx) -> Expect:
    big = c.dbc(big_dbc(6 << 20), "six.dbc")
    p = c.profile_dbc(big)
    return Expect(["validate", str(p)], 2, ["six.dbc", f"at most {DBC.max_bytes} bytes"])


def out_is_an_existing_file(c: Ctx) -> Expect:
    f = c.tmp / "file"
    f.write_text("keep me")
    return Expect(
        ["certify", str(PROFILE), "--out", str(f)], 2, [f"evidence folder {f}", "is a file"]
    )


def out_is_dev_null(c: Ctx) -> Expect:
    return Expect(["certify", str(PROFILE), "--out", "/dev/null"], 2, ["/dev/null", "under /dev"])


def out_under_proc(c: Ctx) -> Expect:
    return Expect(
        ["certify", str(PROFILE), "--out", "/proc/cc-run"], 2, ["/proc/cc-run", "under /proc"]
    )


def out_in_read_only_folder(c: Ctx) -> Expect:
    ro = c.tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    out = ro / "run"
    return Expect(
        ["certify", str(PROFILE), "--out", str(out)],
        2,
        [str(out), "read-only"],
        after=not_created(out),
        user=unprivileged(),
    )


def report_out_is_existing_dir(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    target = c.tmp / "somewhere"
    target.mkdir()
    return Expect(
        ["report", str(folder), "--out", str(target)], 2, [f"--out {target}", "is a folder"]
    )


def dbc_two_messages_one_frame_id(c: Ctx) -> Expect:
    p = c.profile_dbc(c.dbc(DUPLICATE_ID))
    return Expect(["validate", str(p)], 2, ["DupA", "DupB", "same frame ID 0x64"])


def dbc_name_defined_twice(c: Ctx) -> Expect:
    p = c.profile_dbc(c.dbc(DUPLICATE_NAME))
    return Expect(["validate", str(p)], 2, ["DupA is defined twice", "lines"])


def path_with_emoji_code(c: Ctx) -> Expect:
    weird = c.tmp / "a:x:b:smile:.yaml"
    return Expect(
        ["validate", str(weird)], 2, [":x:", ":smile:", "a missing file"], absent=["❌", "😄"]
    )


def case_id_of_5000_characters(c: Ctx) -> Expect:
    p = c.profile("  - id: TC-CAN-002\n", "  - id: TC-" + "X" * 5000 + "\n")
    return Expect(["validate", str(p)], 2, [f"{p}:", "cases[", ".id", "at most 64 characters"])


def bench_option_unknown_to_interface(c: Ctx) -> Expect:
    b = c.bench("can: {interface: virtual, options: {recieve_own_messages: true}}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        [f"{b}:", "can.options.recieve_own_messages", "receive_own_messages"],
        after=not_created(out),
    )


def bench_error_before_folder(c: Ctx) -> Expect:
    b = c.bench("mqtt:\n  broker: {host: 127.0.0.1, tls: {ca: missing-ca.pem}}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        ["mqtt.broker.tls", "missing-ca.pem"],
        after=not_created(out),
    )


def evaluate_of_killed_run(c: Ctx) -> Expect:
    folder = c.killed_run()
    return Expect(["evaluate", str(folder)], 3, ["INCOMPLETE", "still marked RUNNING"])


HAZARDS: list[Callable[[Ctx], Expect]] = [
    proc_environ_as_dbc_validate,
    proc_environ_as_dbc_certify,
    etc_passwd_as_dbc,
    etc_shadow_as_dbc,
    fifo_as_profile,
    fifo_as_bench,
    fifo_as_verify_key,
    dev_zero_as_signing_key,
    dev_zero_as_certificate,
    dbc_of_60_mb,
    dbc_of_6_mb,
    out_is_an_existing_file,
    out_is_dev_null,
    out_under_proc,
    out_in_read_only_folder,
    report_out_is_existing_dir,
    dbc_two_messages_one_frame_id,
    dbc_name_defined_twice,
    path_with_emoji_code,
    case_id_of_5000_characters,
    bench_option_unknown_to_interface,
    bench_error_before_folder,
    evaluate_of_killed_run,
]
