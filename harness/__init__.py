"""cc-harness: certify connected-car components over CAN, V2X/MQTT and UDS from YAML profiles.

Layers
------
Imports point down only; ``lint-imports`` (the contract in ``pyproject.toml``, run by
``.ci/run``) fails CI when one points up. From the top:

1. ``cli``, then ``pytest_plugin``: the entry points.
2. ``server`` and ``certificate`` (one layer: ``harness certificate upload`` talks to the
   server's client, the server issues and verifies certificates), then ``queue`` and
   ``qualify`` (independent of each other), then ``report``, then ``offline``: the outputs and
   the tools built on a run.
3. ``session`` (opens buses, broker, DUT and evidence for a run), then ``session_mqtt`` (its
   MQTT wiring, including the simulated TCU's MQTT backend).
4. ``runner``: executes a plan's steps through the adapters and evaluates checks.
5. ``sim``: the simulated DUTs. They are DUT providers: above the adapters whose far side
   they speak (CAN, MQTT, UDS server) and the bench that places them, below the session that
   starts them.
6. ``bench``: the bench description. Above ``profile`` (it reuses the profile's error
   location) and the adapters (it holds their bench settings).
7. ``profile``: YAML to validated models to a plan, using the registered checks.
8. ``checks``: pure evaluators over a window; they read what the adapters record and never
   touch a bus, a broker or a client (a second ``forbidden`` contract).
9. The adapters ``uds``, ``mqtt``, ``operator`` (independent of each other), over ``can``
   (which the UDS link rides on), over ``adapter``: the protocol every transport implements
   and the registry of step kinds the runner dispatches through.
10. ``outputs`` (the evidence folder's claim and the run record's writer), then ``evidence``
    (the bundle, its manifest and verification).
11. ``plan``: the compiled, frozen test plan, data only.
12. The base: ``errors``, ``clock``, ``units``, ``canonical``, ``observe``, ``record``,
    ``registry``, ``safeio``, ``spill``, ``fuzz``, ``trace``, ``runjson``, ``yamlsafe``,
    ``yamlscalar``, ``yamlsyntax``: they import only each other.

Imports under ``if TYPE_CHECKING:`` are left out of the contract: a lower layer may name a
higher one's type in an annotation (the plan names the DBC codec and the profile model it
carries), never load it.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
