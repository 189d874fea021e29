"""cc-harness: certify connected-car components over CAN, V2X/MQTT and UDS from YAML profiles."""

__all__ = ["__version__"]
__version__ = "0.1.0"
