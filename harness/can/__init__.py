"""CAN side of the harness: buses from python-can, the DBC, E2E protection, rest-bus."""
