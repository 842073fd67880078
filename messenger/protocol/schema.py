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
    """A registry of message classes with one set of unpacking limits.

    Each class's field names and value checks are worked out once, when it is registered
    (not per message), because the relay decodes and encodes every frame it forwards.
    """

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
        #: class -> (tag, field names, names of fields that need ``_plain``)
        self._encoders: dict[type, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        #: tag -> (class, [(field name, check, required)])
        self._decoders: dict[str, tuple[type, list[tuple[str, _Check, bool]]]] = {}
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
        hints = typing.get_type_hints(frozen)
        fields = dataclasses.fields(frozen)  # type: ignore[arg-type]
        names = tuple(f.name for f in fields)
        nested = tuple(f.name for f in fields if not _is_scalar_hint(hints[f.name]))
        self._encoders[frozen] = (tag, names, nested)
        self._decoders[tag] = (
            frozen,
            [
                (
                    f.name,
                    _compile(tag, f.name, hints[f.name]),
                    f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING,
                )
                for f in fields
            ],
        )
        return frozen

    def types(self) -> dict[str, type]:
        """Every registered message class by its type tag."""
        return dict(self._by_tag)

    def encode(self, message: object) -> bytes:
        encoder = self._encoders.get(type(message))
        if encoder is None:
            raise TypeError(f"{self.name}: {type(message).__name__} is not a registered message")
        tag, names, nested = encoder
        body: dict[str, Any] = {"type": tag}
        for name in names:
            body[name] = getattr(message, name)
        for name in nested:
            body[name] = _plain(body[name])
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
        decoder = self._decoders.get(tag)
        if decoder is None:
            raise RemoteProtocolError(f"Unknown {self.name} message type {tag[:40]!r}.")
        cls, fields = decoder
        kwargs: dict[str, Any] = {}
        for name, check, required in fields:
            if name in raw:
                kwargs[name] = check(raw[name])
            elif required:
                raise RemoteProtocolError(f"{tag}: missing field {name!r}.")
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


#: Checks (and, for floats and records, converts) one value read from the wire.
_Check = Callable[[Any], Any]


def _is_scalar_hint(hint: Any) -> bool:
    """Whether values of this annotation go to msgpack as they are (no ``_plain``)."""
    if hint in _SCALARS:
        return True
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return all(_is_scalar_hint(option) or option is type(None)
                   for option in typing.get_args(hint))  # fmt: skip
    return False


def _compile(tag: str, name: str, hint: Any) -> _Check:
    """The check for values of annotation ``hint``: returns the value if it matches (ints
    become floats where a float is due; maps become records), raises otherwise."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        inner = _compile(
            tag, name, next(option for option in options if option is not type(None))
        )
        if type(None) not in options:
            return inner

        def optional(value: Any) -> Any:
            return None if value is None else inner(value)

        return optional
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        item = _compile(tag, name, item_hint)

        def sequence(value: Any) -> Any:
            if not isinstance(value, list):
                raise RemoteProtocolError(f"{tag}.{name}: expected a list.")
            return tuple(item(entry) for entry in value)

        return sequence
    if hint is float:

        def number(value: Any) -> Any:
            kind = type(value)
            if kind is float:
                return value
            if kind is int:
                return float(value)
            raise RemoteProtocolError(f"{tag}.{name}: expected float.")

        return number
    if hint in _SCALARS:
        # bool is an int subclass: an int field must not accept True.

        def scalar(value: Any) -> Any:
            if type(value) is hint:
                return value
            raise RemoteProtocolError(f"{tag}.{name}: expected {hint.__name__}.")

        return scalar
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        parts = [
            (f.name, _compile(tag, f"{name}.{f.name}", hints[f.name]))
            for f in dataclasses.fields(hint)
        ]
        record_type = hint

        def record(value: Any) -> Any:
            if not isinstance(value, dict):
                raise RemoteProtocolError(f"{tag}.{name}: unexpected value.")
            kwargs = {key: check(value[key]) for key, check in parts if key in value}
            try:
                return record_type(**kwargs)
            except TypeError:
                raise RemoteProtocolError(f"{tag}.{name}: incomplete record.") from None

        return record

    def unexpected(value: Any) -> Any:
        raise RemoteProtocolError(f"{tag}.{name}: unexpected value.")

    return unexpected
