"""Typed, bounded msgpack messages: frozen dataclasses tagged with a ``type`` string.

Both the client<->relay control messages and the peer<->peer payloads use this, so every
message is a frozen dataclass in code and a small msgpack map on the wire, and every length
and count read from the wire is bounded by the unpacker before any object is built.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

import msgpack

from messenger.protocol.errors import RemoteProtocolError

T = TypeVar("T")

_SCALARS: tuple[type, ...] = (str, bytes, int, float, bool)


class Schema:
    """A registry of message classes with one set of unpacking limits."""

    def __init__(
        self,
        name: str,
        *,
        max_bin_len: int,
        max_str_len: int = 64 * 1024,
        max_array_len: int = 4096,
        max_map_len: int = 64,
    ) -> None:
        self.name = name
        self._by_tag: dict[str, type] = {}
        self._hints: dict[type, dict[str, Any]] = {}
        self._limits = {
            "max_bin_len": max_bin_len,
            "max_str_len": max_str_len,
            "max_array_len": max_array_len,
            "max_map_len": max_map_len,
            "max_ext_len": 0,
        }

    def register(self, tag: str, cls: type[T]) -> type[T]:
        """Make ``cls`` a frozen dataclass tagged ``tag`` (use the ``message`` decorator)."""
        if tag in self._by_tag:
            raise ValueError(f"{self.name}: duplicate message type {tag!r}")
        frozen = dataclasses.dataclass(frozen=True, slots=True)(cls)
        frozen.TYPE = tag  # type: ignore[attr-defined]
        self._by_tag[tag] = frozen
        self._hints[frozen] = typing.get_type_hints(frozen)
        return frozen

    def encode(self, message: object) -> bytes:
        tag = getattr(type(message), "TYPE", None)
        if tag not in self._by_tag or type(message) is not self._by_tag[tag]:
            raise TypeError(f"{self.name}: {type(message).__name__} is not a registered message")
        body: dict[str, Any] = {"type": tag}
        for field in dataclasses.fields(message):  # type: ignore[arg-type]
            body[field.name] = _plain(getattr(message, field.name))
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        return packed

    def decode(self, data: bytes) -> Any:
        """Parse one message; anything malformed raises RemoteProtocolError, never KeyError."""
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=True, **self._limits)
        except Exception as exc:  # msgpack raises a zoo of ValueError subclasses
            raise RemoteProtocolError(
                f"Malformed {self.name} message ({type(exc).__name__})."
            ) from None
        if not isinstance(raw, dict):
            raise RemoteProtocolError(f"A {self.name} message must be a map.")
        tag = raw.get("type")
        if not isinstance(tag, str):
            raise RemoteProtocolError(f"Unknown {self.name} message type (not a string).")
        cls = self._by_tag.get(tag)
        if cls is None:
            raise RemoteProtocolError(f"Unknown {self.name} message type {tag[:40]!r}.")
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in raw:
                kwargs[field.name] = _checked(
                    tag, field.name, raw[field.name], self._hints[cls][field.name]
                )
            elif (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise RemoteProtocolError(f"{tag}: missing field {field.name!r}.")
        # Unknown extra fields are ignored so a newer peer can add optional ones.
        return cls(**kwargs)


@dataclass_transform(frozen_default=True)
def message(schema: Schema, tag: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a frozen dataclass and register it in ``schema`` under ``tag``.

    A module-level function (not a method) because type checkers honour
    ``dataclass_transform`` on functions: constructor calls are then checked like any
    dataclass's.
    """

    def decorate(cls: type[T]) -> type[T]:
        return schema.register(tag, cls)

    return decorate


def _plain(value: Any) -> Any:
    """Turn tuples and nested dataclasses into what msgpack can pack."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _checked(tag: str, name: str, value: Any, hint: Any) -> Any:
    """Return ``value`` if it matches the annotation ``hint``; raise otherwise."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(option for option in options if option is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise RemoteProtocolError(f"{tag}.{name}: expected a list.")
        return tuple(_checked(tag, name, item, item_hint) for item in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in _SCALARS:
        # bool is an int subclass: an int field must not accept True.
        if type(value) is hint:
            return value
        raise RemoteProtocolError(f"{tag}.{name}: expected {hint.__name__}.")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        kwargs = {
            f.name: _checked(tag, f"{name}.{f.name}", value[f.name], hints[f.name])
            for f in dataclasses.fields(hint)
            if f.name in value
        }
        try:
            return hint(**kwargs)
        except TypeError:
            raise RemoteProtocolError(f"{tag}.{name}: incomplete record.") from None
    raise RemoteProtocolError(f"{tag}.{name}: unexpected value.")
