"""Small, careful file helpers for the profile: private modes, atomic replace, clear errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from messenger.store.errors import ProfileError

__all__ = ["ProfileError", "read_json", "write_json", "write_private"]


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` so that the file is never half-written and, by default, only we can
    read it (0600). The folder is created private (0700) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any) -> Any:
    """Load a JSON file, or ``default`` if it does not exist; damaged files are an error,
    never silently replaced (that would lose pins)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise ProfileError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        value = json.loads(text)
    except ValueError:
        raise ProfileError(f"{path} is damaged (not valid JSON); fix or remove it.") from None
    if not isinstance(value, type(default)):
        raise ProfileError(f"{path} is damaged (unexpected contents); fix or remove it.")
    return value


def write_json(path: Path, value: Any) -> None:
    write_private(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())
