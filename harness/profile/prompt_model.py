"""The ``prompt`` step: tell the operator at the bench to do or judge something by hand.

```yaml
- prompt:
    id: lamp                  # the answer's key: <case id>/<id> (e.g. in --answers FILE)
    text: Is the MIL lamp on the part's front panel off?
    image: images/mil.png     # optional, relative to the profile
    answer: judge             # confirm | judge | value
    timeout: 5 min            # then the case is INCONCLUSIVE
    requirements: [CAN-005]   # optional: the requirements the answer bears on
```

``confirm`` asks the operator to say the instruction was carried out (``yes``; ``no`` makes
the case ERROR: it could not be done); ``judge`` asks for ``pass`` or ``fail``; ``value``
asks for a number, with ``unit`` and limits ``min``/``max`` (inclusive) deciding the verdict.
A prompt without an answer is never a pass: no answer in time is INCONCLUSIVE, no operator
at all is ERROR.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.units import Duration

__all__ = ["PromptSpec", "PromptStep"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=_NAME, description="the answer's key within the case")
    text: str = Field(min_length=1, description="what the operator is told")
    image: str | None = Field(default=None, description="an image file, relative to the profile")
    answer: Literal["confirm", "judge", "value"]
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    timeout: Duration = Field(default=300.0, description="then the case is INCONCLUSIVE")
    requirements: list[str] | None = None

    @model_validator(mode="after")
    def _limits(self) -> PromptSpec:
        if self.answer == "value":
            if self.min is None and self.max is None:
                raise ValueError("a value prompt needs its limits: min, max or both")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min {self.min} is above max {self.max}")
        elif self.min is not None or self.max is not None or self.unit is not None:
            raise ValueError(f"unit, min and max belong to value prompts, not '{self.answer}'")
        return self


class PromptStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str | None = Field(default=None, pattern=_NAME)
    prompt: PromptSpec
