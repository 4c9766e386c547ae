"""JSON for telemetry output. Engine values may be ``Decimal`` (prices at the edges) or
enums; telemetry only displays and stores them, so they become numbers and names here."""
from __future__ import annotations

import decimal
import enum
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)
