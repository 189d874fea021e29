"""UDS requests and responses in words, with udsoncan doing the service encoding and decoding.

The profile names requests either as raw bytes or by service fields; both become a payload
through udsoncan's :class:`~udsoncan.Request`, and responses are decoded by
:meth:`udsoncan.Response.from_payload` (with a fallback for negative responses to services
udsoncan does not know, which a DUT may well answer with NRC 0x11).
"""

from __future__ import annotations

from dataclasses import dataclass

import udsoncan.services
from udsoncan.BaseService import BaseService
from udsoncan.Request import Request
from udsoncan.Response import Response

__all__ = [
    "DecodedResponse",
    "build_request",
    "decode_response",
    "describe_payload",
    "describe_request",
    "hexs",
    "nrc_code",
    "nrc_name",
    "service_class",
    "service_name",
]

_SERVICES: dict[str, type[BaseService]] = {}


def _service_index() -> dict[str, type[BaseService]]:
    if not _SERVICES:
        for name in dir(udsoncan.services):
            cls = getattr(udsoncan.services, name)
            if isinstance(cls, type) and issubclass(cls, BaseService) and cls is not BaseService:
                _SERVICES[name] = cls
    return _SERVICES


def hexs(data: bytes, limit: int | None = None) -> str:
    """Upper-case hex bytes separated by spaces, cut to ``limit`` bytes with '...'."""
    if limit is not None and len(data) > limit:
        return data[:limit].hex(" ").upper() + " ..."
    return data.hex(" ").upper()


def service_class(service: int | str) -> type[BaseService] | None:
    """udsoncan's class for a service id or name (``ReadDataByIdentifier``); None if unknown."""
    if isinstance(service, int):
        return BaseService.from_request_id(service)
    return _service_index().get(service)


def service_names() -> list[str]:
    return sorted(_service_index())


def service_name(sid: int) -> str:
    cls = BaseService.from_request_id(sid)
    return cls.get_name() if cls is not None else f"service 0x{sid:02X}"


def nrc_name(code: int) -> str:
    name = Response.Code.get_name(code)
    return name if isinstance(name, str) and not name.isdigit() else "unknown NRC"


def nrc_code(value: int | str) -> int:
    """An NRC from its number or udsoncan name (``RequestOutOfRange``); ValueError if neither."""
    if isinstance(value, int):
        if not 0 < value <= 0xFF:
            raise ValueError("an NRC is a byte from 0x01 to 0xFF")
        return value
    code = getattr(Response.Code, value, None)
    if isinstance(code, int) and code:
        return code
    raise ValueError(f"no NRC is named {value!r}")


def nrc_names() -> list[str]:
    return sorted(
        n for n, v in vars(Response.Code).items() if isinstance(v, int) and v and n[0].isupper()
    )


def describe_payload(payload: bytes, limit: int = 12) -> str:
    """'22 F1 90' plus the service name: '22 F1 90 (ReadDataByIdentifier)'."""
    if not payload:
        return "an empty request"
    return f"{hexs(payload, limit)} ({service_name(payload[0])})"


def describe_request(payload: bytes, functional: bool) -> str:
    how = "functional" if functional else "physical"
    return f"{describe_payload(payload)}, {how}"


def build_request(
    service: int | str,
    subfunction: int | None = None,
    *,
    suppress: bool = False,
    did: int | None = None,
    data: bytes = b"",
) -> bytes:
    """A request payload from service fields, encoded by udsoncan.

    ValueError (with udsoncan's reason) when the fields do not make a request of that service,
    e.g. a sub-function for a service that has none.
    """
    cls = service_class(service)
    if cls is None:
        if isinstance(service, str):
            raise ValueError(f"udsoncan knows no service named {service!r}")
        # A service udsoncan does not know (UDS-008 tests such): raw bytes, as asked.
        body = bytes([service])
        if subfunction is not None:
            body += bytes([subfunction | (0x80 if suppress else 0)])
        if did is not None:
            body += did.to_bytes(2, "big")
        return body + data
    if cls.use_subfunction() and subfunction is None:
        raise ValueError(f"{cls.get_name()} needs a subfunction")
    if not cls.use_subfunction() and subfunction is not None:
        raise ValueError(f"{cls.get_name()} has no subfunction")
    body = (did.to_bytes(2, "big") if did is not None else b"") + data
    req = Request(
        service=cls,
        subfunction=subfunction,
        suppress_positive_response=suppress,
        data=body or None,
    )
    return req.get_payload()


@dataclass(frozen=True)
class DecodedResponse:
    """A response payload as udsoncan reads it (``code`` 0: positive)."""

    payload: bytes
    positive: bool
    code: int | None
    code_name: str
    service: str
    response: Response

    def describe(self, limit: int = 12) -> str:
        if self.positive:
            return f"positive {hexs(self.payload, limit)}"
        if self.code is None:
            return f"malformed {hexs(self.payload, limit)}"
        return f"NRC 0x{self.code:02X} {self.code_name}"


def decode_response(payload: bytes) -> DecodedResponse:
    response = Response.from_payload(payload)
    if payload[:1] == b"\x7f" and len(payload) >= 3:
        code: int | None = payload[2]
        positive = False
        name = response.code_name if response.valid else nrc_name(payload[2])
        service = service_name(payload[1])
    elif response.valid and response.positive:
        code, positive, name = 0, True, "PositiveResponse"
        service = response.service.get_name() if response.service else "?"
    else:
        code, positive, name = None, False, response.invalid_reason
        service = "?"
    return DecodedResponse(payload, positive, code, name, service, response)
