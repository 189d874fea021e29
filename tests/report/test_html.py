"""The HTML report: self-contained, every failure visible, plots drawn from the frames."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

from harness.offline import evaluate_evidence, load_evidence
from harness.report.html import render_html
from tests.conftest import run_harness
from tests.report.conftest import MakeRun, copy_run, profile_args, profile_of


class _Page(HTMLParser):
    """Ids, internal links, every tag, and the outer elements by id."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name == "href" and value:
                self.links.append(value)


def _section(page: str, element_id: str) -> str:
    start = page.index(f"id='{element_id}'")
    start = page.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", page[start:])
    assert tag is not None
    return page[start : page.index(f"</{tag.group(1)}>", start)]


def _report(folder: Path) -> str:
    ev = load_evidence(folder, profile_of(folder))
    return render_html(
        ev.record, plan=ev.plan, log=ev.log, notes=ev.notes, evaluation=evaluate_evidence(ev)
    )


def test_failing_report_is_self_contained_and_shows_the_failure(make_run: MakeRun) -> None:
    page = _report(make_run("sim:slow-cycle"))
    parsed = _Page()
    parsed.feed(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert not [v for k, v in parsed.attrs if k in ("src", "srcset")]
    assert "url(" not in page and "@import" not in page
    external = [u for u in parsed.links if not u.startswith("#")]
    assert external == []
    assert all(link[1:] in parsed.ids for link in parsed.links), "a link to nowhere"
    failed = _section(page, "failed-requirements")
    assert "CAN-001" in failed and "TC-CAN-001-ON" in failed
    assert "FAIL" in _section(page, "req-CAN-001")
    assert "PASS" in _section(page, "req-CAN-003")
    case = _section(page, "case-TC-CAN-001-ON")
    assert case.count("<svg") == 2  # interval timeline and histogram
    assert "class='case FAIL'" in case and "offender" in case
    assert "max_interval" in case and "≤ 110.000 ms" in case
    assert "interval 125.000 ms" in case  # hover titles of the offending intervals
    assert re.search(r"all \d+ checks agree with the record", page) or (
        "the evidence does not support this record" in page and "mqtt.jsonl" in page
    )


def test_every_kind_of_check_gets_its_plot(make_run: MakeRun) -> None:
    page = _report(make_run("sim"))
    assert "<svg" in _section(page, "case-TC-CAN-003")  # alive counter
    assert "<svg" in _section(page, "case-TC-CAN-004")  # CRC per frame
    load = _section(page, "case-TC-CAN-005")
    assert "DUT bus load per 1 s window" in load and "DUT frames per identifier" in load
    flag = _section(page, "case-TC-CAN-006-CRC")
    assert "with its deadlines" in flag and "latencies against their limits" in flag
    assert "every latency of the run against its allowed range" in page
    assert "class='badge FAIL'" not in page


def test_report_command_writes_into_the_report_folder(make_run: MakeRun, tmp_path: Path) -> None:
    folder = copy_run(make_run("sim:no-timeout-flag"), tmp_path)
    result = run_harness(["report", str(folder), *profile_args(folder)])
    assert result.returncode == 0, result.stdout + result.stderr
    html = folder / "report" / "report.html"
    assert html.is_file() and (folder / "report" / "junit.xml").is_file()
    assert "CAN-007" in _section(html.read_text(), "failed-requirements")
    other = tmp_path / "elsewhere.html"
    result = run_harness(["report", str(folder), "--out", str(other), *profile_args(folder)])
    assert result.returncode == 0 and other.is_file()


def test_report_without_the_profile_still_shows_the_record(
    make_run: MakeRun, tmp_path: Path
) -> None:
    folder = copy_run(make_run("sim:stuck-counter"), tmp_path)
    (folder / "profile.yaml").unlink(missing_ok=True)
    shutil.rmtree(folder / "dbc", ignore_errors=True)
    result = run_harness(["report", str(folder)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no profile found" in result.stderr
    page = (folder / "report" / "report.html").read_text()
    assert "CAN-003" in _section(page, "failed-requirements")
    assert "counter" in _section(page, "case-TC-CAN-003")
