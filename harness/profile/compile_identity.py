"""Checking the profile's ``identity`` section against what uses it, all pure.

Each identity item is declared once (see :mod:`harness.identity`); the MQTT topic templates
and the DUT's client id may name only declared items, at most one item names the
certificate's subject, and a diagnostic step that writes an item back (``data_identity``)
needs one read from the part.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import ProfileError
from harness.identity import placeholders
from harness.profile.diag_model import IdentityItem
from harness.profile.model import Profile

__all__ = ["check_identity"]

ErrorFn = Callable[..., ProfileError]


def check_identity(p: Profile, error: ErrorFn) -> None:
    """Raise the ProfileError of the first identity item used but not declared."""
    subjects = [
        name for name, spec in p.identity.items() if isinstance(spec, IdentityItem) and spec.subject
    ]
    if len(subjects) > 1:
        raise error(
            ("identity", subjects[1], "subject"),
            f"only one identity item names the certificate's subject, but {subjects[0]} "
            f"does already",
        )
    declared = list(p.identity)
    if p.mqtt is None:
        return
    templates: list[tuple[tuple[str, ...], str]] = [
        (("mqtt", "topics", n, "topic"), t.topic) for n, t in p.mqtt.topics.items()
    ]
    if p.mqtt.client_id is not None:
        templates.append((("mqtt", "client_id"), p.mqtt.client_id))
    for path, template in templates:
        for name in placeholders(template):
            if name not in p.identity:
                raise error(
                    path,
                    f"{{{name}}} names no identity item of the profile: declare it in the "
                    f"identity section (e.g. {name}: {{did: 0xF1A0, format: hex}})",
                    expected="{NAME} of an item of the identity section",
                    got=template,
                    choices=declared or ["(the profile has no identity section)"],
                )
