"""``CheckSpec``: a check as a profile writes it, validated against the registry at load time.

A profile's ``checks:`` lists are not a union frozen when the models are imported: each item
is looked up by its ``kind`` in :data:`~harness.checks.base.CHECKS` as the registry stands
when the profile is validated (built-ins, then a lab's kinds from the ``cc_harness.checks``
entry point group), and validated by that kind's ``Params`` model. ``harness schema`` is
built the same way, so an installed plug-in's kind completes in an editor like a built-in.

pydantic reports an unknown or missing kind as ``union_tag_invalid`` / ``union_tag_not_found``
(the same errors a discriminated union gives, with the registered kinds as the expected
tags), and a kind's own field errors as one ``value_error`` carrying
:class:`CheckParamsInvalid`, whose ``nested_errors`` :mod:`harness.profile.errors` puts back
in place (``loc`` of the check, then the kind as a union tag, then the field), so the
profile's error messages point at ``file:line:col`` of the field as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from harness.checks.base import CHECKS, CheckParams

__all__ = ["CheckParamsInvalid", "CheckSpec", "check_params_models"]


class CheckParamsInvalid(ValueError):
    """A check's params failed its kind's model; ``errors`` are relative to the check."""

    def __init__(self, kind: str, exc: ValidationError) -> None:
        super().__init__(f"check kind {kind}: {exc.error_count()} problem(s)")
        self.tag = kind
        self.nested_errors = exc.errors()


def check_params_models() -> dict[str, type[CheckParams]]:
    """Every registered check kind's params model, as the registry stands now."""
    return {name: cls.Params for name, cls in CHECKS.items()}


def _expected_tags() -> str:
    return ", ".join(f"'{name}'" for name in CHECKS.names())


def _validate(value: Any) -> CheckParams:
    if isinstance(value, CheckParams):
        kind = value.kind
        if kind in CHECKS and isinstance(value, CHECKS.get(kind).Params):
            return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "model_attributes_type", "Input should be a valid dictionary or object"
        )
    if "kind" not in value:
        raise PydanticCustomError(
            "union_tag_not_found",
            "Unable to extract tag using discriminator {discriminator}",
            {"discriminator": "'kind'"},
        )
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in CHECKS:
        raise PydanticCustomError(
            "union_tag_invalid",
            "Input tag '{tag}' found using {discriminator} does not match any of the expected "
            "tags: {expected_tags}",
            {"discriminator": "'kind'", "tag": str(kind), "expected_tags": _expected_tags()},
        )
    try:
        return CHECKS.get(kind).Params.model_validate(value)
    except ValidationError as exc:
        raise CheckParamsInvalid(kind, exc) from None


class _CheckSpecSchema:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.model_dump(by_alias=True), when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        models = tuple(Annotated[m, Tag(n)] for n, m in check_params_models().items())
        union = Annotated[Union[models], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
        return handler(TypeAdapter(union).core_schema)


if TYPE_CHECKING:
    CheckSpec = CheckParams
else:
    CheckSpec = Annotated[CheckParams, _CheckSpecSchema]
"""A check item of a profile: a registered kind's params (see the module docstring)."""
