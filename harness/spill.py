"""Lists that keep their newest items in memory and the older ones on disk.

A certification run keeps every observation so that any window can be judged (live, and
again offline from the evidence). An endurance run of hours would keep hundreds of millions
of them: :class:`SpillList` bounds what stays in memory. It behaves like the ``list`` it
replaces for what the observation logs and the checks do with one (``append``, ``len``,
indexing, ``bisect``, iteration, ``islice``, and slices with step 1, which are views rather
than copies): the newest items live in a plain list, older ones are pickled in chunks of
:data:`CHUNK` items to an anonymous temporary file, and a few recently read chunks are
cached. Memory is bounded by ``chunk * (2 + CACHE)`` items per list, whatever the run's
length; the values read back are equal to those appended, so verdicts do not change.

Logs start with plain lists (fast) and call :func:`spill_if_large` now and then: a list
longer than :data:`SPILL_AT` becomes a :class:`SpillList` in place.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, overload

__all__ = [
    "CHUNK",
    "COLUMN_AT",
    "COLUMN_CHUNK",
    "SPILL_AT",
    "SpillList",
    "SpillView",
    "spill_if_large",
]

CHUNK = 1 << 14  # items per chunk on disk
CACHE = 4  # chunks kept after reading
SPILL_AT = 1 << 16  # a list longer than this becomes a SpillList
# One identifier's column: many of them (a noise flood uses every identifier), so each
# keeps less in memory.
COLUMN_AT = 1 << 9
COLUMN_CHUNK = 1 << 7


class SpillList:
    """An append-only sequence whose older items live in a temporary file."""

    def __init__(
        self, items: list[Any] | None = None, folder: str | None = None, chunk: int = 0
    ) -> None:
        self.chunk = chunk or CHUNK
        # Lives as long as the list (closed by close() or when collected); deleted on close.
        self._file = tempfile.TemporaryFile(prefix="cc-harness-spill-", dir=folder)  # noqa: SIM115
        self._offsets: list[int] = []  # file offset of each chunk on disk
        self._end = 0  # bytes written
        self._spilled = 0  # items on disk (a multiple of CHUNK)
        self._tail: list[Any] = []
        self._cache: OrderedDict[int, list[Any]] = OrderedDict()
        if items:
            self.extend(items)

    # -- writing -----------------------------------------------------------------------------
    def append(self, item: Any) -> None:
        tail = self._tail
        tail.append(item)
        if len(tail) >= 2 * self.chunk:
            self._spill()

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        chunk, self._tail = self._tail[: self.chunk], self._tail[self.chunk :]
        blob = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
        os.pwrite(self._file.fileno(), blob, self._end)
        self._offsets.append(self._end)
        self._end += len(blob)
        self._spilled += self.chunk

    def _chunk(self, n: int) -> list[Any]:
        cache = self._cache
        chunk = cache.get(n)
        if chunk is not None:
            cache.move_to_end(n)
            return chunk
        chunk = cache[n] = self._load(n)
        if len(cache) > CACHE:
            cache.popitem(last=False)
        return chunk

    def _load(self, n: int) -> list[Any]:
        start = self._offsets[n]
        stop = self._offsets[n + 1] if n + 1 < len(self._offsets) else self._end
        chunk: list[Any] = pickle.loads(os.pread(self._file.fileno(), stop - start, start))
        return chunk

    # -- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._spilled + len(self._tail)

    def item(self, k: int) -> Any:
        """Item ``k`` (0 <= k < len)."""
        if k >= self._spilled:
            return self._tail[k - self._spilled]
        return self._chunk(k // self.chunk)[k % self.chunk]

    @overload
    def __getitem__(self, k: int) -> Any: ...

    @overload
    def __getitem__(self, k: slice) -> SpillView: ...

    def __getitem__(self, k: int | slice) -> Any:
        size = self._spilled + len(self._tail)
        if isinstance(k, slice):
            start, stop, step = k.indices(size)
            if step != 1:
                raise ValueError("a SpillList slice takes step 1 only")
            return SpillView(self, start, max(start, stop))
        if k < 0:
            k += size
        if not 0 <= k < size:
            raise IndexError("SpillList index out of range")
        if k >= self._spilled:
            return self._tail[k - self._spilled]
        return self._chunk(k // self.chunk)[k % self.chunk]

    def __eq__(self, other: object) -> bool:
        return _same_items(self, other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def iter_range(self, start: int, stop: int) -> Iterator[Any]:
        """Items start..stop-1, a chunk at a time (without filling the cache)."""
        k = max(start, 0)
        stop = min(stop, len(self))
        while k < min(stop, self._spilled):
            n = k // self.chunk
            cached = self._cache.get(n)
            if cached is None:
                cached = self._load(n)
            upto = min(stop, (n + 1) * self.chunk)
            yield from cached[k - n * self.chunk : upto - n * self.chunk]
            k = upto
        if k < stop:
            yield from self._tail[k - self._spilled : stop - self._spilled]

    def __iter__(self) -> Iterator[Any]:
        return self.iter_range(0, len(self))

    def close(self) -> None:
        self._file.close()


class SpillView:
    """Items ``start..stop-1`` of a :class:`SpillList`, without copying them."""

    def __init__(self, base: SpillList, start: int, stop: int) -> None:
        self.base = base
        self.start = start
        self.stop = stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, k: int | slice) -> Any:
        size = self.stop - self.start
        if isinstance(k, slice):
            start, stop, step = k.indices(size)
            if step != 1:
                raise ValueError("a SpillView slice takes step 1 only")
            return SpillView(self.base, self.start + start, self.start + max(start, stop))
        if k < 0:
            k += size
        if not 0 <= k < size:
            raise IndexError("SpillView index out of range")
        return self.base.item(self.start + k)

    def __iter__(self) -> Iterator[Any]:
        return self.base.iter_range(self.start, self.stop)

    def __eq__(self, other: object) -> bool:
        return _same_items(self, other)

    __hash__ = None  # type: ignore[assignment]


def _same_items(seq: SpillList | SpillView, other: object) -> bool:
    """Equal to a list, a SpillList or a SpillView holding equal items in the same order."""
    if not isinstance(other, (list, SpillList, SpillView)) or len(seq) != len(other):
        return False
    return all(a == b for a, b in zip(seq, other, strict=True))


def spill_if_large(
    obj: Any,
    names: tuple[str, ...],
    folder: str | None = None,
    *,
    at: int = SPILL_AT,
    chunk: int = CHUNK,
) -> None:
    """Replace each list attribute of ``obj`` named in ``names`` that holds more than ``at``
    items with a :class:`SpillList` (chunks of ``chunk``) of the same items."""
    for name in names:
        value = getattr(obj, name)
        if type(value) is list and len(value) > at:
            setattr(obj, name, SpillList(value, folder, chunk))
