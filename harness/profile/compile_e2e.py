"""Compiling the profile's ``e2e`` section: each message's scheme, configured for it.

The scheme is looked up in :data:`harness.can.e2e.E2E_SCHEMES` as it stands when the profile
compiles (so a lab's scheme validates like a built-in one); its parameters are validated
against the scheme's own ``Params`` model, and a parameter that does not fit the message (a
signal that is not there, a header that does not fit) is an error at that parameter's place.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError, create_model

from harness.can.dbc import MessageCodec
from harness.can.e2e import E2E_SCHEMES, Protection, SchemeError, SchemeParams, build_protection
from harness.errors import ProfileError
from harness.profile.errors import located_error
from harness.profile.model import E2ESpec
from harness.yamlsafe import YamlDocument

__all__ = ["compile_e2e"]


class E2ECompiler(Protocol):
    doc: YamlDocument

    def err(
        self, path: Sequence[str | int], message: str | None = None, **kw: Any
    ) -> ProfileError: ...

    def _message(self, path: Sequence[str | int], name: str) -> MessageCodec: ...


@functools.lru_cache(maxsize=64)
def _section(params: type[SchemeParams]) -> type[BaseModel]:
    """A model of the document's ``e2e`` section holding ``params``, so that pydantic's
    error locations are the document's paths (``e2e.<message>.<parameter>``)."""
    return create_model("E2ESection", e2e=(dict[str, params], ...))  # type: ignore[valid-type]


def compile_e2e(c: E2ECompiler, name: str, spec: E2ESpec) -> Protection:
    """The protection the profile declares for message ``name``."""
    path = ("e2e", name)
    msg = c._message(path, name)
    if spec.scheme not in E2E_SCHEMES:
        raise c.err(
            (*path, "scheme"),
            "unknown E2E scheme",
            expected="a built-in scheme or one a lab registers under the entry point group "
            "cc_harness.e2e_schemes",
            got=spec.scheme,
            choices=E2E_SCHEMES.names(),
        )
    cls = E2E_SCHEMES.get(spec.scheme)
    section = _section(cls.Params)
    try:
        checked = section.model_validate({"e2e": {name: spec.parameters()}})
    except ValidationError as exc:
        raise located_error(exc, c.doc, section, {}, ProfileError) from None
    params = checked.e2e[name]  # type: ignore[attr-defined]
    try:
        return build_protection(spec.scheme, params, msg)
    except SchemeError as exc:
        raise c.err(
            (*path, exc.field) if exc.field in spec.parameters() else path,
            exc.detail,
            expected=exc.expected,
            got=exc.got,
            choices=exc.choices,
        ) from None
