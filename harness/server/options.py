"""The ``certify`` options of the operator and the certification centre (``--answers``,
``--server``, ``--submit``, ``--token-env``), apart from :mod:`harness.server.certify` so that
building the command line (``harness --help``) loads nothing of the server or the operator."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_centre_options"]


def add_centre_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("operator and certification centre")
    group.add_argument(
        "--answers",
        type=Path,
        metavar="FILE",
        help="answer the profile's prompt steps from this YAML file (operator: NAME, "
        "answers: {CASE/PROMPT: answer}); every prompt must be answered",
    )
    group.add_argument(
        "--server",
        metavar="URL",
        help="stream the run to this 'harness serve' live dashboard (prompts are asked there "
        "unless --answers is given)",
    )
    group.add_argument(
        "--submit",
        metavar="URL",
        help="after a certificate is issued, submit the evidence folder to this registry",
    )
    group.add_argument(
        "--token-env",
        default="HARNESS_TOKEN",
        metavar="NAME",
        help="environment variable holding the API token for --server/--submit "
        "(default HARNESS_TOKEN)",
    )
