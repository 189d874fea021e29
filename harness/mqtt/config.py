"""The bench's MQTT section: which broker, how to log in, and the remote-command key.

Without a ``broker`` the harness starts its own embedded amqtt broker on a free loopback port.
A lab names its own broker instead::

    mqtt:
      broker:
        host: broker.lab
        port: 8883
        protocol: "5"            # or "3.1.1" (the default)
        username: harness
        password_env: CC_MQTT_PASSWORD   # or password: ... in the file
        tls: {ca: ca.crt, cert: client.crt, key: client.key}
        control:                 # optional: how to stop and start it during a case (V2X-008)
          stop: [systemctl, stop, mosquitto]
          start: [systemctl, start, mosquitto]
      relay: {host: 127.0.0.1, port: 18831}   # optional: the address the part connects to
      psk_env: CC_TCU_PSK        # or psk: <64 hex digits>

With a ``relay`` the harness listens on that address during a run and relays the part's
connections to the broker (:mod:`harness.mqtt.relay`), so it can cut them (``broker:
drop_dut``) and refuse them (``broker: stop|start`` when there is no ``control``) on any broker.
The part is configured with the relay's address, not the broker's.

Without ``psk``/``psk_env`` the harness signs commands with :data:`DEFAULT_PSK`, the reference
unit's factory key: SHA-256 of the ASCII text ``CC-TCU-1 reference PSK``, in hex
``aa01d385340e75dad7c4a538d1ba0104183366b198ab51dd7f2bc82b5302871b``.

Secrets (the password and the PSK) are :class:`~pydantic.SecretStr` and the bench's
``describe()`` leaves them out, so they never reach a record, a log or a report.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from harness.errors import BenchError
from harness.safeio import InputKind, open_input

__all__ = [
    "DEFAULT_PSK",
    "BrokerAddress",
    "BrokerConfig",
    "BrokerControl",
    "MqttBenchConfig",
    "RelayConfig",
    "TlsConfig",
]

# The factory key of the reference unit: used when the bench names none (the simulator).
DEFAULT_PSK = hashlib.sha256(b"CC-TCU-1 reference PSK").digest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _secret(value: object) -> object:
    """Accept a plain string for a secret in strict mode (YAML gives strings)."""
    return SecretStr(value) if isinstance(value, str) else value


TLS_FILE = InputKind("TLS file (mqtt.broker.tls)", 1 << 20)


class TlsConfig(_Strict):
    ca: str | None = Field(default=None, description="CA certificate (PEM) to verify the broker")
    cert: str | None = Field(default=None, description="client certificate (PEM)")
    key: str | None = Field(default=None, description="client private key (PEM)")
    insecure: bool = Field(default=False, description="skip the host name check (test benches)")


class BrokerControl(_Strict):
    stop: list[str] = Field(min_length=1, description="command (argv) that stops the broker")
    start: list[str] = Field(min_length=1, description="command (argv) that starts it again")


class BrokerConfig(_Strict):
    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(
        default=None, description="environment variable holding the password"
    )
    tls: TlsConfig | None = None
    control: BrokerControl | None = None

    _coerce_password = field_validator("password", mode="before")(_secret)


class RelayConfig(_Strict):
    host: str = Field(default="127.0.0.1", description="address the harness listens on")
    port: int = Field(ge=1, le=65535, description="port the part connects to")


class MqttBenchConfig(_Strict):
    broker: BrokerConfig | None = Field(
        default=None, description="an external broker; omitted: the embedded amqtt broker"
    )
    relay: RelayConfig | None = Field(
        default=None,
        description="the address the part connects to: the harness relays it to the broker and "
        "can cut it (will and broker outage cases on any broker)",
    )
    psk: SecretStr | None = Field(default=None, description="remote-command key, 64 hex digits")
    psk_env: str | None = Field(default=None, description="environment variable holding the psk")

    _coerce_psk = field_validator("psk", mode="before")(_secret)

    @model_validator(mode="after")
    def _relay_needs_broker(self) -> MqttBenchConfig:
        if self.relay is not None and self.broker is None:
            raise ValueError("mqtt.relay relays to mqtt.broker: name the broker too")
        return self

    def resolve_psk(self) -> bytes:
        """The PSK (32 bytes) from the file or the environment, else the reference default."""
        text: str | None = None
        where = "mqtt.psk"
        if self.psk is not None:
            text = self.psk.get_secret_value()
        elif self.psk_env is not None:
            where = f"environment variable {self.psk_env} (mqtt.psk_env)"
            text = os.environ.get(self.psk_env)
            if text is None:
                raise BenchError(f"{where} is not set", expected="64 hex digits")
        if text is None:
            return DEFAULT_PSK
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            # never echo the secret itself
            raise BenchError(f"{where} is not a 32-byte key", expected="64 hex digits")
        return key


@dataclass(frozen=True)
class BrokerAddress:
    """Where and how to connect, resolved (secrets included, never shown by repr)."""

    host: str
    port: int
    protocol: str = "3.1.1"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    tls: bool = False
    insecure: bool = False
    control: BrokerControl | None = None
    embedded: bool = False

    @property
    def label(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        what = "embedded broker" if self.embedded else "broker"
        return f"{what} {scheme}://{self.host}:{self.port}"

    @classmethod
    def from_config(cls, config: BrokerConfig, base: Path | None = None) -> BrokerAddress:
        password: str | None = None
        if config.password is not None:
            password = config.password.get_secret_value()
        elif config.password_env is not None:
            password = os.environ.get(config.password_env)
            if password is None:
                raise BenchError(
                    f"environment variable {config.password_env} (mqtt.broker.password_env) "
                    "is not set",
                    expected="the broker password in that variable",
                )

        def path(p: str | None) -> str | None:
            if p is None:
                return None
            full = Path(p) if base is None or Path(p).is_absolute() else base / p
            if not full.exists():
                raise BenchError(f"mqtt.broker.tls: file not found: {full}")
            with open_input(full, TLS_FILE, error_cls=BenchError):  # a regular file, or exit 2
                pass
            return str(full)

        tls = config.tls
        return cls(
            host=config.host,
            port=config.port,
            protocol=config.protocol,
            username=config.username,
            password=password,
            ca=path(tls.ca) if tls else None,
            cert=path(tls.cert) if tls else None,
            key=path(tls.key) if tls else None,
            tls=tls is not None,
            insecure=bool(tls and tls.insecure),
            control=config.control,
        )

    def describe(self) -> dict[str, object]:
        """For records: no password, no key material (paths only)."""
        return {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "embedded": self.embedded,
            "tls": self.tls,
            "username": self.username,
        }
