"""The bench's ``realtime`` section: how a real-time run treats the machine it runs on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from harness.rtpriority import MAX_LEVEL

__all__ = ["RealtimeBenchConfig"]


class RealtimeBenchConfig(BaseModel):
    """How a real-time run treats the machine it runs on (harness.rtpriority,
    harness.keepawake)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # as every section

    priority: Literal["auto", "off"] | Annotated[StrictInt, Field(ge=1, le=MAX_LEVEL)] = Field(
        default="auto",
        description="scheduling priority of the harness, and of the simulator and embedded "
        "broker processes it starts, in a real-time run: auto (nice -10 for each and its "
        "session's autogroup, and round robin, where the OS permits), off (leave it), or N "
        "in 1..20 (as auto, with nice -N)",
    )
    keep_awake: Literal["auto"] | StrictBool = Field(
        default=False,
        description="keep the CPUs from halting while a real-time run lasts (one busy "
        "process per CPU at the lowest priority, taking time from no one): false (the "
        "default), true, or auto (true on a virtual machine, whose halted CPUs wake late; "
        "harness.keepawake)",
    )
