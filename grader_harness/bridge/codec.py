"""The bridge's value format, shared by the learner's agent and the tester's client.

Values cross between the learner's container and the tester's as JSON, by value: nothing on the wire
can make the receiving side run code (no pickle, no constructors chosen by the sender beyond the fixed
table below). Objects that are not plain values travel as references (`{"$": "ref", ...}`) that only
the side owning the object can resolve; how a side turns its own objects into references, and the
other side's references into proxies, is up to the `Codec` subclass it uses.

Wire shapes (JSON):
    null, true, false, numbers, strings, lists      as themselves
    {"$": "int", "v": "123..."}                     ints beyond 2**53
    {"$": "float", "v": "nan" | "inf" | "-inf"}
    {"$": "tuple" | "set" | "frozenset", "v": [...]}
    {"$": "dict", "v": [[key, value], ...]}
    {"$": "bytes" | "bytearray", "v": base64}
    {"$": "decimal" | "fraction" | "complex" | "uuid" | "path", "v": str}
    {"$": "date" | "time" | "datetime" | "timedelta", ...}
    anything else with "$": a reference, interpreted by the subclass

Standard library only: the runner image's harness files cannot import anything else.
"""

import base64
import datetime
import decimal
import fractions
import json
import math
import pathlib
import uuid
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64
MAX_SAFE_INT = 2**53
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class BridgeError(Exception):
    """A value could not be encoded or decoded, or a frame broke the protocol."""


def dumps(frame: Any) -> Any:
    """One frame as a line (ASCII JSON, so lone surrogates and any other code point survive)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def loads(line: Any) -> Any:
    """One frame from a line. Raises BridgeError for anything that is not a JSON object."""
    try:
        frame = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise BridgeError(f"malformed frame: {str(exc)[:200]}") from None
    if not isinstance(frame, dict):
        raise BridgeError("malformed frame: not an object")
    return frame


def _encode_tz(tz: Any) -> Any:
    if tz is None:
        return None
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return {"zone": key}
    offset = tz.utcoffset(None)
    if offset is None:
        raise BridgeError(f"time zone {tz!r} cannot cross the bridge")
    return {"offset": offset.total_seconds()}


def _decode_tz(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BridgeError("malformed time zone")
    if "zone" in value:
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(str(value["zone"]))
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise BridgeError(f"unknown time zone {str(value['zone'])[:60]!r}") from None
    return datetime.timezone(datetime.timedelta(seconds=float(value["offset"])))


def _scalar(value: Any) -> Any:
    """The wire form of a plain value of an exact built-in or standard type, or None if it is not one."""
    kind = type(value)
    if kind is decimal.Decimal:
        return {"$": "decimal", "v": str(value)}
    if kind is fractions.Fraction:
        return {"$": "fraction", "v": str(value)}
    if kind is complex:
        return {"$": "complex", "v": repr(value)}
    if kind in (bytes, bytearray):
        return {"$": kind.__name__, "v": base64.b64encode(value).decode("ascii")}
    if kind is uuid.UUID:
        return {"$": "uuid", "v": str(value)}
    if kind in (pathlib.PosixPath, pathlib.PurePosixPath):
        return {"$": "path", "v": str(value)}
    if kind is datetime.datetime:
        return {"$": "datetime", "v": value.replace(tzinfo=None).isoformat(), "tz": _encode_tz(value.tzinfo),
                "fold": value.fold}
    if kind is datetime.date:
        return {"$": "date", "v": value.isoformat()}
    if kind is datetime.time:
        return {"$": "time", "v": value.replace(tzinfo=None).isoformat(), "tz": _encode_tz(value.tzinfo)}
    if kind is datetime.timedelta:
        return {"$": "timedelta", "d": value.days, "s": value.seconds, "us": value.microseconds}
    return None


SCALARS: dict[str, Callable[[str], Any]] = {
    "decimal": decimal.Decimal,
    "fraction": fractions.Fraction,
    "complex": complex,
    "uuid": uuid.UUID,
    "path": pathlib.PosixPath,
    "date": datetime.date.fromisoformat,
}


class Codec:
    """Encodes and decodes values; subclasses say how references to objects work on their side."""

    def encode(self, value: Any, depth: Any = 0) -> Any:
        if depth > MAX_DEPTH:
            raise BridgeError(f"value nested deeper than {MAX_DEPTH} levels")
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -MAX_SAFE_INT < value < MAX_SAFE_INT else {"$": "int", "v": str(value)}
        if kind is float:
            if math.isfinite(value):
                return value
            return {"$": "float", "v": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if kind is list:
            return [self.encode(item, depth + 1) for item in value]
        if kind in (tuple, set, frozenset):
            return {"$": kind.__name__, "v": [self.encode(item, depth + 1) for item in value]}
        if kind is dict:
            return {"$": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        scalar = _scalar(value)
        if scalar is not None:
            return scalar
        return self.encode_object(value)

    def encode_object(self, value: Any) -> Any:
        """The wire form of an object that is not a plain value. Raises BridgeError if it may not cross."""
        raise BridgeError(f"a {type(value).__name__} cannot cross the bridge")

    def decode(self, data: Any, depth: Any = 0) -> Any:
        if depth > MAX_DEPTH:
            raise BridgeError(f"value nested deeper than {MAX_DEPTH} levels")
        kind = type(data)
        if data is None or kind in (bool, str, int, float):
            return data
        if kind is list:
            return [self.decode(item, depth + 1) for item in data]
        if kind is not dict or not isinstance(data.get("$"), str):
            raise BridgeError("malformed value")
        try:
            return self._decode_tagged(data, depth)
        except BridgeError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, ArithmeticError, AttributeError) as exc:
            raise BridgeError(f"malformed {data.get('$')!s:.20} value: {str(exc)[:200]}") from None

    def _items(self, data: Any, depth: Any) -> Any:
        items = data["v"]
        if not isinstance(items, list):
            raise BridgeError("malformed container")
        return [self.decode(item, depth + 1) for item in items]

    def _decode_tagged(self, data: Any, depth: Any) -> Any:
        tag = data["$"]
        if tag == "int":
            return int(str(data["v"]))
        if tag == "float":
            return NONFINITE[data["v"]]
        if tag == "tuple":
            return tuple(self._items(data, depth))
        if tag == "set":
            return set(self._items(data, depth))
        if tag == "frozenset":
            return frozenset(self._items(data, depth))
        if tag == "dict":
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in data["v"]}
        if tag in ("bytes", "bytearray"):
            raw = base64.b64decode(str(data["v"]), validate=True)
            return raw if tag == "bytes" else bytearray(raw)
        if tag in SCALARS:
            return SCALARS[tag](str(data["v"]))
        if tag == "datetime":
            value = datetime.datetime.fromisoformat(str(data["v"]))
            return value.replace(tzinfo=_decode_tz(data.get("tz")), fold=int(data.get("fold", 0)) & 1)
        if tag == "time":
            return datetime.time.fromisoformat(str(data["v"])).replace(tzinfo=_decode_tz(data.get("tz")))
        if tag == "timedelta":
            return datetime.timedelta(days=int(data["d"]), seconds=int(data["s"]), microseconds=int(data["us"]))
        return self.decode_object(data, depth)

    def decode_object(self, data: Any, depth: Any) -> Any:
        """The local value for a reference. Raises BridgeError for a reference this side cannot take."""
        raise BridgeError(f"unknown value tag {str(data.get('$'))[:40]!r}")
