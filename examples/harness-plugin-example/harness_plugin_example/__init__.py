"""An example cc-harness plug-in: the ``mirrors`` check kind and the ``lamp-ecu`` DUT.

Nothing here is imported by the harness until a profile or ``--dut`` names it: the entry
points in ``pyproject.toml`` register both lazily (:mod:`harness.registry`).
"""
