"""The built-in file outputs of a run: the HTML report and the JUnit XML.

Both are written into ``<evidence>/report/`` (derived outputs, outside the manifest) when a
run ends, however it ended: a run that did not complete gets a report that says so. A report
that cannot be written is a warning, never a lost run. Registered as the ``html`` and
``junit`` outputs (see :mod:`harness.run_outputs`).
"""

from __future__ import annotations

from rich.markup import escape

from harness.report.commands import report_paths, write_text
from harness.run_outputs import Output, RunEnd

__all__ = ["HtmlOutput", "JunitOutput"]


class HtmlOutput(Output):
    """``<evidence>/report/report.html``: the self-contained report with plots."""

    def run_finished(self, end: RunEnd) -> None:
        if end.evidence is None or not end.evidence.is_dir():
            return
        from harness.report.html import render_html

        path = report_paths(end.evidence)[0]
        try:
            page = render_html(
                end.record, plan=end.plan, log=end.log, logs=end.logs, evidence=str(end.evidence)
            )
            write_text(path, page)
        except Exception as exc:  # the run's evidence matters more than its report
            self.settings.warn(f"could not write the report: {escape(str(exc))}")
            return
        self.settings.say(escape(f"report: {path}"))


class JunitOutput(Output):
    """``<evidence>/report/junit.xml``, and a copy where ``settings.junit`` says."""

    def run_finished(self, end: RunEnd) -> None:
        from harness.report.junit import junit_xml

        paths = []
        if end.evidence is not None and end.evidence.is_dir():
            paths.append(report_paths(end.evidence)[1])
        if self.settings.junit is not None and end.evidence is not None:
            paths.append(self.settings.junit)
        if not paths:
            return
        try:
            xml = junit_xml(end.record, end.plan.cases)
            for path in paths:
                write_text(path, xml)
        except Exception as exc:
            self.settings.warn(f"could not write the JUnit XML: {escape(str(exc))}")
            return
        self.settings.say(escape(f"junit: {', '.join(str(p) for p in paths)}"))
