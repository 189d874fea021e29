"""Diagnostics, tester side: UDS (udsoncan) over ISO-TP (can-isotp) on the harness's bus.

* :mod:`harness.uds.link`: can-isotp's transport logic driven by the event loop, on the
  recording :class:`~harness.can.port.CanPort`;
* :mod:`harness.uds.client`: one request at a time, waiting on the loop's clock;
* :mod:`harness.uds.exchange`: the same exchanges reassembled from the frame log, for checks;
* :mod:`harness.uds.seedkey`: seed-to-key algorithms by name (entry point group
  ``cc_harness.seed_key``);
* :mod:`harness.uds.steps`: the profile's diagnostic steps and the DUT identity read;
* :mod:`harness.uds.fuzz`: the ``fuzz_diag`` step's seeded malformed requests, judged by
  :mod:`harness.uds.judge` (stimuli and answers from the frame log) against
  :mod:`harness.uds.oracle` (what the part's specification allows, from its facts:
  :mod:`harness.uds.oracle_facts`, declared in the profile's ``diagnostics: oracle:``).
"""

from harness.uds.config import DiagConfig, IdentityDid
from harness.uds.exchange import DiagIds, Exchange, Transfer, exchanges, transfers
from harness.uds.seedkey import cc_tcu_1_key, get_algorithm, register_algorithm

__all__ = [
    "DiagConfig",
    "DiagIds",
    "Exchange",
    "IdentityDid",
    "Transfer",
    "cc_tcu_1_key",
    "exchanges",
    "get_algorithm",
    "register_algorithm",
    "transfers",
]
