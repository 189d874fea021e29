"""The ``certificate`` output: sign a certificate when a run passes, else say why not.

Given an :class:`~harness.certificate.issue.Issuer` (``--key``) in the run's
:class:`~harness.run_outputs.OutputSettings`, it issues ``certificate.dsse.json`` into the
sealed evidence folder of a run that completed with every mandatory case passed, and says
why not for any other run (failed, aborted, incomplete, chosen cases only). Without an
issuer it does nothing. A certificate that fails its own verification raises (exit 4).
"""

from __future__ import annotations

from rich.markup import escape

from harness.certificate.issue import Issuer, issue_certificate, why_no_certificate
from harness.run_outputs import Output, RunEnd

__all__ = ["CertificateOutput"]


class CertificateOutput(Output):
    """Issue the run's certificate (only for a complete, passing run)."""

    def run_finished(self, end: RunEnd) -> None:
        issuer = self.settings.issuer
        if not isinstance(issuer, Issuer) or end.evidence is None:
            return
        reason = why_no_certificate(end.record)
        if reason is not None:
            self.settings.say(f"[bold]no certificate[/]: {escape(reason)}")
            return
        path = issue_certificate(issuer, end.record, end.plan, end.bench, end.evidence)
        self.settings.say(
            f"[bold green]certificate[/]: {escape(str(path))} (issuer level {issuer.level}, "
            f"keyid {issuer.keyid[:16]}..., valid {issuer.validity.days} days)"
        )
