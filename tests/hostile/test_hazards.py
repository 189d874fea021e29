"""The hazard corpus: hostile inputs a supplier (or an attacker) can hand the harness.

Each hazard builds its input in a fresh folder and runs the real CLI in a subprocess. Every
one asserts the exit code, a message that names the place (the file, key or flag), no
traceback, no canary (the secret set in the child's environment and written into the secret
files hazards point at), and, by the subprocess timeout, that nothing hangs. The first group
are the cases of issue 14 as it was filed; the rest are special files, symbolic links to
secrets, encodings, sizes and path problems of our own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.evidence import MANIFEST_FILE
from harness.safeio import ASN1, DBC
from tests.conftest import DBC as SHIPPED_DBC
from tests.conftest import PROFILE
from tests.hostile.conftest import CANARY, Outcome, Run, profile_with, run_cli, secret_file


@dataclass
class Expect:
    args: list[str]
    code: int
    phrases: list[str]
    absent: list[str] = field(default_factory=list)  # besides the canary and "Traceback"
    after: Callable[[], None] | None = None  # more checks once the command ran
    user: list[str] | None = None


@dataclass
class Ctx:
    tmp: Path
    get_run: Callable[[], Run]

    def fifo(self, name: str = "pipe") -> Path:
        path = self.tmp / name
        os.mkfifo(path)
        return path

    def profile(self, old: str, new: str) -> Path:
        return profile_with(self.tmp, old, new)

    def profile_dbc(self, dbc: str | Path) -> Path:
        return self.profile("dbc: ../dbc/cc-tcu-1.dbc", f"dbc: {json.dumps(str(dbc))}")

    def profile_asn1(self, asn1: str | Path) -> Path:
        return self.profile("asn1: ../dbc/ccv2x.asn", f"asn1: {json.dumps(str(asn1))}")

    def dbc(self, data: bytes, name: str = "x.dbc") -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def bench(self, text: str) -> Path:
        path = self.tmp / "bench.yaml"
        path.write_text("format: cc-harness-bench/1\n" + text, encoding="utf-8")
        return path

    def killed_run(self) -> Path:
        """Evidence as a ``kill -9`` leaves it: run.json still RUNNING, no manifest."""
        folder = self.get_run().copy(self.tmp)
        record = json.loads((folder / "run.json").read_text())
        record.update(status="RUNNING", passed=False, ended=None)
        (folder / "run.json").write_text(json.dumps(record))
        (folder / MANIFEST_FILE).unlink()
        (folder / "certificate.dsse.json").unlink()
        return folder


def not_created(path: Path) -> Callable[[], None]:
    def check() -> None:
        assert not path.exists(), f"{path} was created although the input was refused"

    return check


SHIPPED = SHIPPED_DBC.read_bytes()
DUPLICATE_ID = SHIPPED + (
    b'\nBO_ 100 DupA: 8 TCU\n SG_ X : 0|8@1+ (1,0) [0|255] "" GW\n'
    b'\nBO_ 100 DupB: 8 TCU\n SG_ Y : 0|8@1+ (1,0) [0|255] "" GW\n'
)
DUPLICATE_NAME = SHIPPED + (
    b'\nBO_ 100 DupA: 8 TCU\n SG_ X : 0|8@1+ (1,0) [0|255] "" GW\n'
    b'\nBO_ 101 DupA: 8 TCU\n SG_ Y : 0|8@1+ (1,0) [0|255] "" GW\n'
)


def big_dbc(size: int) -> bytes:
    """A syntactically valid DBC of about ``size`` bytes (many extended-ID messages)."""
    parts = [SHIPPED]
    i = 0
    total = len(SHIPPED)
    while total < size:
        block = (
            f"BO_ {0x80000000 | (0x10000 + i)} Filler{i}: 8 TCU\n"
            f' SG_ Filler{i}a : 0|8@1+ (1,0) [0|255] "" GW\n'
            f' SG_ Filler{i}b : 8|16@1+ (0.1,0) [0|6553.5] "km/h" GW\n\n'
        ).encode()
        parts.append(block)
        total += len(block)
        i += 1
    return b"".join(parts)


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
        user=_unprivileged(),
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


# -- special files and symbolic links ----------------------------------------------------------
def profile_is_a_directory(c: Ctx) -> Expect:
    return Expect(["validate", str(c.tmp)], 2, [f"{c.tmp}:", "a directory"])


def profile_links_to_proc_environ(c: Ctx) -> Expect:
    link = c.tmp / "profile.yaml"
    link.symlink_to("/proc/self/environ")
    return Expect(["validate", str(link)], 2, [f"{link}:", "/proc"])


def profile_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "profile.yaml"
    link.symlink_to(secret_file(c.tmp))
    return Expect(["validate", str(link)], 2, [f"{link}:", "expected a mapping"])


def profile_is_dev_zero(c: Ctx) -> Expect:
    return Expect(["validate", "/dev/zero"], 2, ["/dev/zero", "under /dev"])


def dbc_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "x.dbc"
    link.symlink_to(secret_file(c.tmp))
    p = c.profile_dbc(link)
    return Expect(["validate", str(p)], 2, ["x.dbc", "line 1, column", "invalid syntax"])


def dbc_is_a_fifo(c: Ctx) -> Expect:
    p = c.profile_dbc(c.fifo("bus.dbc"))
    return Expect(["validate", str(p)], 2, ["bus.dbc", "FIFO"])


def dbc_is_a_directory(c: Ctx) -> Expect:
    d = c.tmp / "dir.dbc"
    d.mkdir()
    p = c.profile_dbc(d)
    return Expect(["validate", str(p)], 2, ["dir.dbc", "is a directory"])


def dbc_is_dev_zero(c: Ctx) -> Expect:
    p = c.profile_dbc("/dev/zero")
    return Expect(["validate", str(p)], 2, ["/dev/zero", "under /dev"])


def dbc_links_to_dev_urandom(c: Ctx) -> Expect:
    link = c.tmp / "rnd.dbc"
    link.symlink_to("/dev/urandom")
    p = c.profile_dbc(link)
    return Expect(["validate", str(p)], 2, ["rnd.dbc", "under /dev"])


def bench_is_proc_environ(c: Ctx) -> Expect:
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", "/proc/self/environ", "--out", str(out)],
        2,
        ["/proc/self/environ", "under /proc"],
        after=not_created(out),
    )


def bench_links_to_secret_yaml(c: Ctx) -> Expect:
    secret = c.tmp / "secrets.yaml"
    secret.write_text(f"token: {CANARY}\npassword: {CANARY}\n")
    link = c.tmp / "bench.yaml"
    link.symlink_to(secret)
    return Expect(["certify", str(PROFILE), "--bench", str(link)], 2, [f"{link}:", "format"])


def asn1_is_proc_environ(c: Ctx) -> Expect:
    p = c.profile_asn1("/proc/self/environ")
    return Expect(["validate", str(p)], 2, ["mqtt.asn1", "under /proc"])


def asn1_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "v2x.asn"
    link.symlink_to(secret_file(c.tmp))
    p = c.profile_asn1(link)
    return Expect(
        ["validate", str(p)], 2, ["mqtt.asn1", ":1:", "not a valid ASN.1 module: invalid syntax"]
    )


def asn1_is_a_fifo(c: Ctx) -> Expect:
    p = c.profile_asn1(c.fifo("v2x.asn"))
    return Expect(["validate", str(p)], 2, ["mqtt.asn1", "FIFO"])


def asn1_type_defined_twice(c: Ctx) -> Expect:
    module = c.tmp / "twice.asn"
    text = (SHIPPED_DBC.parent / "ccv2x.asn").read_text()
    module.write_text(text.replace("END", "HazardEvent ::= INTEGER\nEND"))
    p = c.profile_asn1(module)
    return Expect(["validate", str(p)], 2, ["twice.asn", "HazardEvent", "defined twice"])


def asn1_too_large(c: Ctx) -> Expect:
    module = c.tmp / "big.asn"
    module.write_bytes(b"-- padding\n" * (ASN1.max_bytes // 11 + 10))
    p = c.profile_asn1(module)
    return Expect(["validate", str(p)], 2, ["big.asn", f"at most {ASN1.max_bytes} bytes"])


def signing_key_is_a_fifo(c: Ctx) -> Expect:
    f = c.fifo("lab.key")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--key", str(f), "--out", str(out)],
        2,
        [str(f), "FIFO"],
        after=not_created(out),
    )


def signing_key_is_a_secret_file(c: Ctx) -> Expect:
    out = c.tmp / "out"
    key = secret_file(c.tmp, "lab.key")
    return Expect(
        ["certify", str(PROFILE), "--key", str(key), "--out", str(out)],
        2,
        [f"{key}:", "not a PEM private key"],
        after=not_created(out),
    )


def signing_key_is_a_directory(c: Ctx) -> Expect:
    return Expect(["certify", str(PROFILE), "--key", str(c.tmp)], 2, [f"{c.tmp}:", "a directory"])


def certificate_is_a_fifo(c: Ctx) -> Expect:
    run = c.get_run()
    f = c.fifo("cert.dsse.json")
    return Expect(["verify", str(f), "--key", str(run.public)], 2, [f"{f}:", "FIFO"])


def certificate_is_a_secret_file(c: Ctx) -> Expect:
    run = c.get_run()
    secret = secret_file(c.tmp)
    return Expect(
        ["verify", str(secret), "--key", str(run.public)],
        4,
        [f"certificate {secret} rejected", "not valid JSON"],
    )


def verify_key_is_dev_zero(c: Ctx) -> Expect:
    run = c.get_run()
    return Expect(
        ["verify", str(run.folder / "certificate.dsse.json"), "--key", "/dev/zero"],
        2,
        ["/dev/zero"],
    )


# -- encodings and sizes -------------------------------------------------------------------------
def dbc_in_cp1252_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + 'CM_ "Temperatur in °C, Geschwindigkeit über Grund";\n'.encode("cp1252"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_cp949_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + 'CM_ "차량 속도 신호";\n'.encode("cp949"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_utf8_with_bom_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(b"\xef\xbb\xbf" + SHIPPED + 'CM_ "Geschwindigkeit über Grund";\n'.encode())
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_no_known_encoding(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + b'CM_ "\x81\x8d\x81";\n')
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 2, ["x.dbc", "utf-8 or cp1252 or cp949", "each was tried"])


def dbc_in_utf16(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED.decode("cp1252").encode("utf-16"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 2, ["x.dbc", "not a valid DBC"])


def profile_in_utf16(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    p.write_bytes(PROFILE.read_text().encode("utf-16"))
    return Expect(["validate", str(p)], 2, [f"{p}:1:1", "not valid UTF-8"])


def profile_of_random_bytes(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    p.write_bytes(os.urandom(3000) + CANARY.encode() + os.urandom(3000))
    return Expect(["validate", str(p)], 2, [f"{p}:"])


def profile_too_large_sparse(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    with p.open("wb") as fh:
        fh.truncate(8 << 20)  # 8 MiB of holes: refused by size before a byte is read
    return Expect(["validate", str(p)], 2, [f"{p}:", "at most 1048576 bytes"])


# -- paths to write to ---------------------------------------------------------------------------
def out_is_an_existing_fifo(c: Ctx) -> Expect:
    f = c.fifo("out")
    return Expect(
        ["certify", str(PROFILE), "--out", str(f)], 2, [f"evidence folder {f}", "is a file"]
    )


def out_under_sys(c: Ctx) -> Expect:
    return Expect(
        ["certify", str(PROFILE), "--out", "/sys/cc-run"], 2, ["/sys/cc-run", "under /sys"]
    )


def out_below_a_file(c: Ctx) -> Expect:
    f = c.tmp / "file"
    f.write_text("x")
    out = f / "run"
    return Expect(
        ["certify", str(PROFILE), "--out", str(out)], 2, [str(out), "is a file, not a folder"]
    )


def out_folder_not_empty(c: Ctx) -> Expect:
    out = c.tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return Expect(["certify", str(PROFILE), "--out", str(out)], 2, [str(out), "holds notes.txt"])


def out_folder_holds_a_run(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    before = (folder / "run.json").read_bytes()

    def unchanged() -> None:
        assert (folder / "run.json").read_bytes() == before

    return Expect(
        ["certify", str(PROFILE), "--out", str(folder)],
        2,
        [f"{folder} already holds a run"],
        after=unchanged,
    )


def out_is_a_dangling_symlink(c: Ctx) -> Expect:
    link = c.tmp / "out"
    link.symlink_to(c.tmp / "nowhere")
    return Expect(["certify", str(PROFILE), "--out", str(link)], 2, [str(link), "dangling"])


def junit_is_an_existing_dir(c: Ctx) -> Expect:
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--out", str(out), "--junit", str(c.tmp)],
        2,
        [f"--junit {c.tmp}", "is a folder"],
        after=not_created(out),
    )


def report_junit_is_dev_null(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    return Expect(
        ["report", str(folder), "--junit", "/dev/null"], 2, ["--junit /dev/null", "under /dev"]
    )


def report_out_under_proc(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    return Expect(
        ["report", str(folder), "--out", "/proc/r.html"], 2, ["--out /proc/r.html", "under /proc"]
    )


def markup_in_path_prints_literally(c: Ctx) -> Expect:
    p = c.tmp / "[bold red]x[/].yaml"
    return Expect(["validate", str(p)], 2, ["[bold red]x[/].yaml", "a missing file"])


# -- evidence read back ----------------------------------------------------------------------
def report_of_killed_run(c: Ctx) -> Expect:
    folder = c.killed_run()
    return Expect(["report", str(folder)], 3, ["INCOMPLETE", "still marked RUNNING"])


def verify_of_killed_run(c: Ctx) -> Expect:
    run = c.get_run()
    folder = c.killed_run()
    cert = run.folder / "certificate.dsse.json"
    return Expect(
        ["verify", str(cert), "--key", str(run.public), "--evidence", str(folder)],
        4,
        ["rejected", "incomplete"],
    )


def evaluate_of_aborted_run(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    record = json.loads((folder / "run.json").read_text())
    record["status"] = "ABORTED"
    (folder / "run.json").write_text(json.dumps(record))
    return Expect(["evaluate", str(folder)], 3, ["INCOMPLETE", "status ABORTED"])


def evaluate_trace_is_a_fifo(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    (folder / "trace.blf").unlink()
    os.mkfifo(folder / "trace.blf")
    return Expect(["evaluate", str(folder)], 2, ["trace.blf", "FIFO"])


def evaluate_record_links_to_environ(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    (folder / "run.json").unlink()
    (folder / "run.json").symlink_to("/proc/self/environ")
    return Expect(["evaluate", str(folder)], 2, ["run.json", "under /proc"])


def evaluate_record_is_secret_text(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    secret_file(folder, "run.json.tmp").replace(folder / "run.json")
    return Expect(["evaluate", str(folder)], 2, ["run.json", "not valid JSON"])


def bench_password_variable_unset(c: Ctx) -> Expect:
    b = c.bench("mqtt:\n  broker: {host: 127.0.0.1, password_env: CC_HARNESS_NOT_SET_EVER}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        ["CC_HARNESS_NOT_SET_EVER", "is not set"],
        after=not_created(out),
    )


def bench_tls_file_is_a_fifo(c: Ctx) -> Expect:
    c.fifo("ca.pem")
    b = c.bench("mqtt:\n  broker: {host: 127.0.0.1, tls: {ca: ca.pem}}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        ["ca.pem", "FIFO"],
        after=not_created(out),
    )


def _secret_yaml(c: Ctx) -> Path:
    """A YAML secrets file whose values YAML 1.1 reads otherwise (a PIN with a leading zero,
    a yes/no flag): the ambiguity message would quote them in a profile, never here."""
    path = c.tmp / "secrets.yaml"
    path.write_text(f"token: {CANARY}\npin: 0731924\nmfa: NO\n", encoding="utf-8")
    return path


def profile_is_secret_yaml_with_ambiguous_values(c: Ctx) -> Expect:
    p = _secret_yaml(c)
    return Expect(["validate", str(p)], 2, [f"{p}:", "format"], absent=["0731924", "'NO'"])


def bench_is_secret_yaml_with_ambiguous_values(c: Ctx) -> Expect:
    b = _secret_yaml(c)
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out)],
        2,
        [f"{b}:", "format"],
        absent=["0731924", "'NO'"],
        after=not_created(out),
    )


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
    # our own
    profile_is_a_directory,
    profile_links_to_proc_environ,
    profile_links_to_secret,
    profile_is_dev_zero,
    dbc_links_to_secret,
    dbc_is_a_fifo,
    dbc_is_a_directory,
    dbc_is_dev_zero,
    dbc_links_to_dev_urandom,
    bench_is_proc_environ,
    bench_links_to_secret_yaml,
    asn1_is_proc_environ,
    asn1_links_to_secret,
    asn1_is_a_fifo,
    asn1_type_defined_twice,
    asn1_too_large,
    signing_key_is_a_fifo,
    signing_key_is_a_secret_file,
    signing_key_is_a_directory,
    certificate_is_a_fifo,
    certificate_is_a_secret_file,
    verify_key_is_dev_zero,
    dbc_in_cp1252_is_read,
    dbc_in_cp949_is_read,
    dbc_in_utf8_with_bom_is_read,
    dbc_in_no_known_encoding,
    dbc_in_utf16,
    profile_in_utf16,
    profile_of_random_bytes,
    profile_too_large_sparse,
    out_is_an_existing_fifo,
    out_under_sys,
    out_below_a_file,
    out_folder_not_empty,
    out_folder_holds_a_run,
    out_is_a_dangling_symlink,
    junit_is_an_existing_dir,
    report_junit_is_dev_null,
    report_out_under_proc,
    markup_in_path_prints_literally,
    report_of_killed_run,
    verify_of_killed_run,
    evaluate_of_aborted_run,
    evaluate_trace_is_a_fifo,
    evaluate_record_links_to_environ,
    evaluate_record_is_secret_text,
    bench_password_variable_unset,
    bench_tls_file_is_a_fifo,
    profile_is_secret_yaml_with_ambiguous_values,
    bench_is_secret_yaml_with_ambiguous_values,
]
ISSUE_CASES = 23  # the first entries: the hazards issue 14 reported


def _unprivileged() -> list[str] | None:
    """A prefix that runs the command as nobody when the tests run as root (root writes into
    a read-only folder anyway); None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root for the read-only folder test"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


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
    assert len(HAZARDS) - ISSUE_CASES >= 30
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
