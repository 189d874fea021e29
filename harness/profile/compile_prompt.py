"""Compile a ``prompt`` step (:mod:`harness.profile.prompt_model`) into its plan and check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.checks.prompt import PromptCheck, PromptPlan
from harness.profile.prompt_model import PromptStep
from harness.yamlsafe import format_path

if TYPE_CHECKING:
    from harness.plan import PlannedStep

__all__ = ["compile_prompt_step", "prompt_keys"]


def compile_prompt_step(
    compiler: Any, step: PromptStep, path: tuple[str | int, ...]
) -> PlannedStep:
    """The PlannedStep of a prompt: the question to ask and the check that judges the answer."""
    from harness.plan import PlannedStep

    spec = step.prompt
    owner = compiler.p.cases[path[1]].id if path[0] == "cases" else str(path[0])
    known = compiler.p.profile.requirements.ids
    for i, req in enumerate(spec.requirements or ()):
        if req not in known:
            raise compiler.err(
                (*path, "prompt", "requirements", i),
                "not a requirement of the set this profile traces",
                expected="a requirement ID listed under profile.requirements.ids",
                got=req,
                choices=list(known),
            )
    image = None
    if spec.image is not None:
        image = (compiler.base_dir / spec.image).resolve()
        if not image.is_file():
            raise compiler.err(
                (*path, "prompt", "image"),
                f"no such image file {image}",
                expected="an image file, relative to the profile",
                got=spec.image,
            )
    key = f"{owner}/{spec.id}"
    data = spec.model_dump(mode="json")
    plan = PromptPlan(key=key, spec=data, image=image, timeout=spec.timeout)
    check = PromptCheck(key, data, spec.requirements or ())
    return PlannedStep(
        "prompt",
        format_path(path),
        step.name,
        checks=(check,),
        data=plan,
    )


def prompt_keys(plan: Any, cases: Any) -> list[str]:
    """The keys of every prompt the given cases (and before_each) will ask."""
    keys: list[str] = []
    for case in cases:
        for step in (*plan.before_each, *case.steps):
            if isinstance(step.data, PromptPlan) and step.data.key not in keys:
                keys.append(step.data.key)
    return keys
