"""Dataclasses built from parsed TOML, with errors that name the key at fault.

Knows: the few value types our data files use (bool, int, float, str, lists of them, optional
values, nested tables) and how to say precisely what is wrong. Must not know: what any file
means; cardgate.toml (config.py) and the modem profiles (modem/profile.py) both use it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable


def describe(tp: object) -> str:
    if typing.get_origin(tp) is list:
        return f"a list of {describe(typing.get_args(tp)[0])}s"
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1:
        return describe(args[0])
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, str(tp))  # type: ignore[call-overload]


def coerce(value: object, tp: object, key: str, error: type[Exception]) -> object:
    """`value` checked against `tp`; ints become floats where a float is wanted."""
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            raise error(f"{key}: must be {describe(tp)}, got {value!r}")
        (item,) = typing.get_args(tp)
        return [coerce(v, item, f"{key}[{i}]", error) for i, v in enumerate(value)]
    args = typing.get_args(tp)
    if type(None) in args:  # "int | None": TOML has no null, so a present value is the int
        (tp,) = [a for a in args if a is not type(None)]
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value  # type: ignore[arg-type]
    elif tp is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - only the types above are used
        raise TypeError(tp)
    if not ok:
        raise error(f"{key}: must be {describe(tp)}, got {value!r}")
    return value


def build(cls: type, data: dict, error: type[Exception], *, prefix: str = "",
          location: str = "", skip: Iterable[str] = ()) -> object:
    """An instance of dataclass `cls` from a TOML table; `error` names "<location><key>"."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - set(skip)
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        where = f"{location}{prefix}{key}"
        if key not in known:
            raise error(f"{where}: unknown key")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise error(f"{where}: must be a [{prefix}{key}] table")
            kwargs[key] = build(tp, value, error, prefix=f"{prefix}{key}.",  # type: ignore[arg-type]
                                location=location)
        else:
            kwargs[key] = coerce(value, tp, where, error)
    return cls(**kwargs)
