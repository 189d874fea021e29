"""Diagnostic addressing, ISO-TP parameters and timing, as the profile gives them (and the
tester-side ISO-TP settings a bench may override)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.identity import IdentityField
from harness.uds.exchange import DiagIds

__all__ = ["DiagBenchConfig", "DiagConfig", "IdentityDid"]


@dataclass(frozen=True)
class DiagConfig:
    """How the tester reaches the DUT's diagnostics.

    ``p2`` and ``p2_star`` are the server's limits (checked on every response); ``timeout`` is
    how long the tester waits for a first response before calling the DUT silent, and
    ``listen`` how long it listens when no response is expected.

    ``can_fd`` has the tester send ISO-TP over CAN FD frames of up to ``tx_data_length``
    bytes (TX_DL), with the bit rate switch when ``bitrate_switch`` is set; classic (the
    default) keeps 8-byte frames. ``response_format`` is what every frame of the part's
    answers must be: ``any`` (not judged), ``classic``, ``fd`` or ``fd_brs``.
    """

    ids: DiagIds = field(default_factory=DiagIds)
    p2: float = 0.050
    p2_star: float = 5.0
    timeout: float = 1.0
    listen: float = 0.2
    padding: int | None = 0xCC
    stmin: int = 0
    block_size: int = 0
    can_fd: bool = False
    tx_data_length: int = 8
    bitrate_switch: bool = False
    response_format: str = "any"


class DiagBenchConfig(BaseModel):
    """A bench's ``diagnostics:`` section: how this lab's tester frames its ISO-TP. The part's
    addressing, P2/P2* and the tester timeouts stay the profile's (they are what is judged)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    padding: Annotated[int, Field(ge=0, le=0xFF)] | Literal["none"] | None = Field(
        default=None, description="pad byte of the tester's frames, or none (default: profile's)"
    )
    stmin: int | None = Field(default=None, ge=0, le=0x7F, description="STmin in flow control")
    block_size: int | None = Field(default=None, ge=0, le=0xFF, description="block size")

    def apply(self, config: DiagConfig) -> DiagConfig:
        changes: dict[str, int | None] = {}
        if self.padding is not None:
            changes["padding"] = None if self.padding == "none" else self.padding
        if self.stmin is not None:
            changes["stmin"] = self.stmin
        if self.block_size is not None:
            changes["block_size"] = self.block_size
        return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


IdentityDid = IdentityField  # one identity item read from the part (harness.identity)
