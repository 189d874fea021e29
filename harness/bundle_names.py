"""The names of the files of an evidence bundle (see :mod:`harness.evidence`).

Here, importing nothing, so that the command line's help texts can name them without
loading the evidence module and the trace writers behind it (start-up time, issue 13).
:mod:`harness.evidence` re-exports every one.
"""

from __future__ import annotations

__all__ = [
    "CERTIFICATE_FILE",
    "DBC_DIR",
    "DERIVED_DIR",
    "MANIFEST_FILE",
    "PROFILE_FILE",
    "RUN_FILE",
]

RUN_FILE = "run.json"
PROFILE_FILE = "profile.yaml"
DBC_DIR = "dbc"
MANIFEST_FILE = "manifest.json"
CERTIFICATE_FILE = "certificate.dsse.json"
DERIVED_DIR = "report"  # outputs made from the evidence afterwards; not evidence themselves
