"""What an input already proved, kept on disk, so ``harness validate`` need not prove it again.

Compiling the profile's ASN.1 module (asn1tools and pyparsing: a fifth of a second) and
checking its JSON Schemas against their metaschema (jsonschema) are the slowest parts of
loading a profile, and their outcome depends only on the input's exact bytes and on the
library that judged them. So when an input passes, its SHA-256 and the library's
fingerprint (the path, size and modification time of its ``__init__.py``: a reinstall or
upgrade changes it) name a small file in the user's cache folder recording the outcome; the
next load of the same bytes with the same library reads that file instead of importing the
library. Only successes are kept: an input that fails is judged afresh every time, with the
same error as before.

The files hold Python literals (read with :func:`ast.literal_eval`, never executed or
unpickled) and repeat the key they were written for; a file that does not parse, or whose
key differs, is ignored. Writes are atomic (temporary file, rename) and best effort: a cache
folder that cannot be written costs only the time it would have saved.

The folder is ``$CC_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/cc-harness``, else
``~/.cache/cc-harness``; ``CC_HARNESS_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "library_fingerprint", "recall", "remember"]

_FORMAT = "cc-harness-valid/1"


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    given = os.environ.get("CC_HARNESS_CACHE")
    if given is not None:
        return None if given.strip().lower() in ("", "off", "0", "no") else Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "cc-harness"


def library_fingerprint(module: str) -> str | None:
    """Where ``module`` is installed and which file it is, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        st = os.stat(spec.origin)
    except OSError:
        return None
    return f"{module}:{spec.origin}:{st.st_size}:{st.st_mtime_ns}"


def _key(kind: str, data: bytes, library: str) -> str:
    return hashlib.sha256(
        b"\0".join((_FORMAT.encode(), kind.encode(), library.encode(), data))
    ).hexdigest()


def _file(kind: str, key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / kind / f"{key}.txt"


def recall(kind: str, data: bytes, library: str | None) -> tuple[bool, Any]:
    """``(True, value)`` when ``data`` judged by ``library`` passed before, with the value
    then remembered; ``(False, None)`` otherwise."""
    if library is None:
        return False, None
    key = _key(kind, data, library)
    path = _file(kind, key)
    if path is None:
        return False, None
    try:
        text = path.read_text(encoding="utf-8")
        entry = ast.literal_eval(text)
    except (OSError, ValueError, SyntaxError, MemoryError, RecursionError, UnicodeError):
        return False, None
    if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
        return False, None
    return True, entry["value"]


def remember(kind: str, data: bytes, library: str | None, value: Any = None) -> None:
    """Keep that ``data`` passed ``library``'s judgement (with ``value``, a plain literal:
    one that does not come back identical from its ``repr`` is not kept)."""
    if library is None:
        return
    key = _key(kind, data, library)
    path = _file(kind, key)
    if path is None:
        return
    text = repr({"key": key, "value": value})
    try:
        if ast.literal_eval(text) != {"key": key, "value": value}:
            return
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
