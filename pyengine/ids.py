"""Deterministic client order ids.

Engine-facing API::

    seq = decision_seq(bar_open_ms, n)            # the n-th decision (0..999) on that bar
    coid = client_order_id(strategy_id, symbol, seq, leg, namespace=engine_id)
    parsed = parse_client_order_id(coid)          # ParsedId | None (None: not ours)
    parsed.seq, parsed.leg, parsed.tag == strategy_tag(strategy_id, symbol, namespace)
    tags = strategy_tags([(strategy_id, symbols), ...], namespace)   # {tag: strategy_id}

The id is a pure function of (namespace, strategy id, symbol, decision sequence, leg), so an
engine restarted after a crash re-derives the id of a decision it already journaled and the
journal's unique index refuses to send it twice. ``seq`` is the strategy's decision sequence
(e.g. the bar open time in ms, or a bar counter times the decisions per bar); ``leg`` tells
apart the orders of one decision (entry, protective stop, ...).

Format: ``pe`` + 10-character base32 tag + ``-`` + base36 seq + ``-`` + base36 leg, at most
2+10+1+13+1+2 = 29 characters, inside Binance's ``newClientOrderId`` pattern
``^[a-zA-Z0-9-_]{1,36}$``. The tag is a hash because strategy ids and symbols are free text
(symbols may even be non-ASCII since 2025-12) and the whole id must stay short and legal.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

PREFIX = "pe"
TAG_LEN = 10
MAX_SEQ = 36**13 - 1           # 13 base36 digits; more than 2**63, covers ms timestamps * 1000
MAX_LEG = 36**2 - 1
BINANCE_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
_OURS = re.compile(rf"^{PREFIX}([a-z2-7]{{{TAG_LEN}}})-([0-9a-z]{{1,13}})-([0-9a-z]{{1,2}})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class ParsedId:
    tag: str
    seq: int
    leg: int


@functools.lru_cache(maxsize=4096)       # every decision derives an id: hash each pair once
def strategy_tag(strategy_id: str, symbol: str, namespace: str = "") -> str:
    """The 10-character tag that every id of this (namespace, strategy, symbol) carries."""
    material = "\x1f".join((namespace, strategy_id, symbol)).encode("utf-8")
    digest = hashlib.blake2b(material, digest_size=10).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:TAG_LEN]


def _base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_DIGITS[r])
    return "".join(reversed(out))


@functools.lru_cache(maxsize=4096)       # a decision's id is asked for by more than one part
def client_order_id(strategy_id: str, symbol: str, seq: int, leg: int = 0,
                    namespace: str = "") -> str:
    """The client order id of leg ``leg`` of decision ``seq``; same inputs, same id."""
    if not strategy_id:
        raise ValueError("strategy_id must not be empty")
    if not symbol:
        raise ValueError("symbol must not be empty")
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"decision sequence {seq} outside 0..{MAX_SEQ}")
    if not 0 <= leg <= MAX_LEG:
        raise ValueError(f"leg {leg} outside 0..{MAX_LEG}")
    return f"{PREFIX}{strategy_tag(strategy_id, symbol, namespace)}-{_base36(seq)}-{_base36(leg)}"


def decision_seq(bar_open_ms: int, n: int = 0) -> int:
    """A decision sequence from the bar it was made on and its rank within that bar."""
    if not 0 <= n < 1000:
        raise ValueError(f"decision rank {n} outside 0..999")
    return bar_open_ms * 1000 + n


def strategy_tags(strategies: Iterable[tuple[str, Iterable[str]]],
                  namespace: str = "") -> dict[str, str]:
    """{tag: strategy id} for every (strategy, symbol), to recognise our orders on the
    exchange that the journal does not know (reconcile)."""
    return {strategy_tag(sid, sym, namespace): sid for sid, symbols in strategies
            for sym in symbols}


def parse_client_order_id(coid: str) -> ParsedId | None:
    """Split one of our ids into its parts; None for ids this engine did not make."""
    m = _OURS.match(coid)
    if m is None:
        return None
    return ParsedId(tag=m.group(1), seq=int(m.group(2), 36), leg=int(m.group(3), 36))
