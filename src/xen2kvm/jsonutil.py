"""Turn results (dataclasses, enums, paths, tuples) into JSON-ready values.

Every result type in the library is a dataclass of plain values so it can cross process
boundaries (operators fan work out over many guests and hosts); this is the one serialiser.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import orjson

_PLAIN = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names (``dataclasses.fields`` rebuilds its tuple on every call)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def to_jsonable(obj: Any) -> Any:
    cls: type = type(obj)
    if cls in _PLAIN:  # most values: checked first, by exact type
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: to_jsonable(getattr(obj, name)) for name in _field_names(cls)}
    if cls is list:
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, (set, frozenset)) else items
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode()
    return obj


def dumps(obj: Any) -> str:
    return dump_json(to_jsonable(obj))


def dump_json(value: Any) -> str:
    """JSON text (two-space indent) of a JSON-ready value, as ``json.dumps(value, indent=2)``.

    Written with orjson: the standard library's encoder falls back to pure Python as soon as
    it indents, which made writing the report of 1,000 guests take longer than inspecting a
    tenth of them. Non-ASCII text is written as UTF-8 rather than ``\\u`` escapes. Values
    orjson refuses (text holding lone surrogates from undecodable guest bytes, integers over
    64 bits) go through the standard library instead.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2)
