"""A fast UPER decoder and encoder for fixed-layout SEQUENCEs (the BSM's shape), equal to
asn1tools'.

In unaligned PER a SEQUENCE without extension marker, OPTIONAL or DEFAULT members, made only
of constrained INTEGERs, BOOLEANs and fixed-size OCTET and BIT STRINGs, is its members' bit
fields one after another, each of a fixed width: an INTEGER (lo..hi) takes the fewest bits
that hold hi - lo and carries value - lo; a BOOLEAN one bit; OCTET STRING (SIZE (n)) 8n bits;
BIT STRING (SIZE (n)) n bits. Every payload of at least the layout's length then decodes by
shifting one big integer, several times faster than asn1tools' general decoder (which stays
the decoder of every other type, and of a payload too short, for its error message). The
result is exactly what asn1tools returns (bytes for OCTET STRING, ``(bytes, n)`` for BIT
STRING; trailing bytes ignored, as asn1tools does). Encoding goes the other way for a value
asn1tools would accept as it is (every member present, of its type, within its constraint);
anything else is left to asn1tools, for its error. ``tests/v2x/test_uper_fixed.py`` holds the
two to that for generated payloads and values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FixedLayout", "fixed_layout"]

_INT, _BOOL, _OCTETS, _BITS = range(4)


class FixedLayout:
    """The fields of one fixed-layout SEQUENCE: ``(name, kind, shift, mask, arg)`` each;
    ``fields`` are ``(name, kind, bits, arg, top)``, ``top`` an INTEGER's upper bound."""

    def __init__(self, fields: list[tuple[str, int, int, int, int]]) -> None:
        total = sum(f[2] for f in fields)
        self.nbytes = (total + 7) // 8
        pad = self.nbytes * 8 - total
        self._fields: list[tuple[str, int, int, int, int]] = []
        self._tops: list[int] = []
        offset = 0
        for name, kind, bits, arg, top in fields:
            offset += bits
            shift = total - offset + pad
            self._fields.append((name, kind, shift, (1 << bits) - 1, arg))
            self._tops.append(top)

    def encode(self, value: Mapping[str, Any]) -> bytes | None:
        """What asn1tools encodes of ``value`` with types and constraints checked, or None
        when ``value`` is not plainly valid (then asn1tools encodes it, or raises its error).

        Plainly valid: exactly the members; an ``int`` within an INTEGER's range, a ``bool``,
        ``bytes`` of an OCTET STRING's size, and ``(bytes, n)`` for a BIT STRING (SIZE (n))
        with just the bytes for n bits and nothing set after them (asn1tools strips a
        named-bit string's trailing zero bits back to its size, but counts set bits beyond).
        """
        if len(value) != len(self._fields):
            return None
        whole = 0
        for (name, kind, shift, _, arg), top in zip(self._fields, self._tops, strict=True):
            v = value.get(name)
            if kind == _INT:
                if type(v) is not int or not arg <= v <= top:
                    return None
                raw = v - arg
            elif kind == _BOOL:
                if type(v) is not bool:
                    return None
                raw = int(v)
            elif kind == _OCTETS:
                if type(v) is not bytes or len(v) != arg:
                    return None
                raw = int.from_bytes(v, "big")
            else:
                if type(v) is not tuple or len(v) != 2 or v[1] != arg or type(v[1]) is not int:
                    return None
                octets = v[0]
                nbytes = (arg + 7) // 8
                if type(octets) is not bytes or len(octets) != nbytes:
                    return None
                whole_bits = int.from_bytes(octets, "big")
                spare = nbytes * 8 - arg
                if whole_bits & ((1 << spare) - 1):
                    return None
                raw = whole_bits >> spare
            whole |= raw << shift
        return whole.to_bytes(self.nbytes, "big")

    def decode(self, payload: bytes) -> dict[str, Any]:
        """The value asn1tools decodes; ``payload`` must hold at least :attr:`nbytes`."""
        whole = int.from_bytes(payload[: self.nbytes], "big")
        value: dict[str, Any] = {}
        for name, kind, shift, mask, arg in self._fields:
            raw = (whole >> shift) & mask
            if kind == _INT:
                value[name] = raw + arg
            elif kind == _BOOL:
                value[name] = bool(raw)
            elif kind == _OCTETS:
                value[name] = raw.to_bytes(arg, "big")
            else:  # a BIT STRING: its bits first in the bytes, as asn1tools gives them
                nbytes = (arg + 7) // 8
                value[name] = ((raw << (nbytes * 8 - arg)).to_bytes(nbytes, "big"), arg)
        return value


def _one_size(member: Mapping[str, Any]) -> int | None:
    size = member.get("size")
    if isinstance(size, list) and len(size) == 1 and isinstance(size[0], int):
        return size[0] if size[0] > 0 else None
    return None


def _field(member: Mapping[str, Any]) -> tuple[str, int, int, int, int] | None:
    if not isinstance(member, Mapping):
        return None  # the extension marker ("...") and the like
    allowed = {"name", "type", "restricted-to", "size", "named-bits"}
    if set(member) - allowed:
        return None  # OPTIONAL, DEFAULT, tags, anything this layout does not know
    name, kind = member.get("name"), member.get("type")
    if not isinstance(name, str):
        return None
    if kind == "INTEGER":
        ranges: list[Any] = list(member.get("restricted-to") or ())
        if len(ranges) != 1 or not isinstance(ranges[0], (list, tuple)) or len(ranges[0]) != 2:
            return None
        lo, hi = ranges[0][0], ranges[0][1]
        if not (isinstance(lo, int) and isinstance(hi, int)) or hi < lo:
            return None
        return name, _INT, (hi - lo).bit_length(), lo, hi
    if kind == "BOOLEAN" and "size" not in member and "restricted-to" not in member:
        return name, _BOOL, 1, 0, 0
    n = _one_size(member)
    if n is None or n > 1024 or "restricted-to" in member:
        return None
    if kind == "OCTET STRING":
        return name, _OCTETS, 8 * n, n, n
    if kind == "BIT STRING":
        return name, _BITS, n, n, n
    return None


def fixed_layout(type_def: Mapping[str, Any]) -> FixedLayout | None:
    """The fast layout of a parsed type (``asn1tools.parse_files``), or None when it has none."""
    if type_def.get("type") != "SEQUENCE" or set(type_def) - {"type", "members"}:
        return None
    members = type_def.get("members") or []
    fields = [_field(m) for m in members]
    if not fields or any(f is None for f in fields):
        return None
    return FixedLayout([f for f in fields if f is not None])
