"""The profile's buses as pydantic models: the shared strict base, bus names, a DBC source
and a bus's kind and bit rates (one ``bus:`` section, or each entry of ``buses:``).

Part of the profile format (:mod:`harness.profile.model`, which re-exports these).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from harness.can.dbc import AUTO, check_encoding

__all__ = ["DEFAULT_BUS", "BusSpec", "DbcSource", "NamedBus", "Strict"]

BUS_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"

DEFAULT_BUS = "can"
"""The name of the one bus of a profile in the single-bus form (top-level ``dbc``,
``bitrate``, ``bus``): steps, rest-bus entries, checks and benches may call it so."""


def bus_field() -> Any:
    return Field(
        default=None,
        pattern=BUS_NAME_PATTERN,
        description="the bus (a name of the profile's buses section): optional with one bus; "
        "with several, needed where a message name is on more than one bus or the frames are "
        "raw",
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DbcSource(Strict):
    """The DBC with how to read it (``dbc: FILE`` is ``dbc: {path: FILE}``)."""

    path: str = Field(min_length=1, description="DBC file, relative to the profile")
    encoding: str = Field(
        default=AUTO,
        description="text encoding of the file: auto (UTF-8, CP949 or Windows-1252, guessed) "
        "or a name such as utf-8, cp1252, cp949, cp932",
    )
    lenient: bool = Field(
        default=False,
        description="read a DBC that cantools' strict mode refuses (overlapping signals, "
        "signals beyond the frame, value tables or zero-length signals of no use), with a "
        "warning for each relaxation",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return check_encoding(value)


def dbc_long_form(value: Any) -> Any:
    """``dbc: FILE`` is ``dbc: {path: FILE}``."""
    if isinstance(value, str):
        return {"path": value}
    if not isinstance(value, dict):
        raise ValueError("expected a DBC file name, or a mapping of path, encoding and lenient")
    return value


DBC_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "string", "description": "DBC file, relative to the profile"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "encoding": {"type": "string", "default": AUTO},
                    "lenient": {"type": "boolean", "default": False},
                },
            },
        ]
    }
)


class BusSpec(Strict):
    """The CAN bus the part is on: classic CAN or CAN FD, with its bit rates."""

    fd: bool = Field(default=False, description="CAN FD: messages of up to 64 bytes (classic: 8)")
    bitrate: int = Field(default=500000, gt=0, le=1_000_000, description="nominal bit rate")
    data_bitrate: int | None = Field(
        default=None,
        gt=0,
        le=16_000_000,
        description="CAN FD data-phase bit rate (FD only; default: the nominal bit rate)",
    )
    brs: bool = Field(
        default=True,
        description="CAN FD frames the harness sends switch to the data bit rate (BRS)",
    )

    @model_validator(mode="after")
    def _rates(self) -> BusSpec:
        if not self.fd and self.data_bitrate is not None:
            raise ValueError("data_bitrate is for a CAN FD bus: add fd: true, or drop it")
        if self.data_bitrate is not None and self.data_bitrate < self.bitrate:
            raise ValueError(
                f"expected a data_bitrate at or above the nominal bitrate {self.bitrate}, "
                f"but got {self.data_bitrate}"
            )
        return self

    @property
    def fast_bitrate(self) -> int:
        """The data-phase bit rate (the nominal one on a classic bus or without BRS)."""
        return self.data_bitrate or self.bitrate


class NamedBus(BusSpec):
    """One bus of a ``buses:`` section: its DBC (as ``dbc:`` is written) and its bit rates."""

    dbc: Annotated[DbcSource, BeforeValidator(dbc_long_form), DBC_SCHEMA] = Field(
        description="the bus's DBC file, relative to the profile; or {path, encoding, lenient}"
    )
