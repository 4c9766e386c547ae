"""L2 order books and the hot-message parser, backed by the C library (``csrc/``).

Prices and quantities are integers scaled per symbol (``SymbolSpec.price_scale`` /
``qty_scale``); ``Decimal`` helpers convert at the edges. A book answers queries only when
it is in sync with the exchange and not crossed; otherwise every query raises
:class:`BookNotReadable` so no caller can act on a stale or broken price.

Typical use::

    feed = Feed([spec_btc, spec_eth])
    feed.book("BTCUSDT").load_snapshot(rest_depth_body)
    msg = feed.on_message(frame_bytes)       # applies depth diffs in C
    if msg.status == SYNC_GAP: ...            # re-snapshot
    bid_px, bid_qty = feed.book("BTCUSDT").best_bid()
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable, NamedTuple

from pyengine._core import ffi, lib
from pyengine.symbols import SymbolSpec

BID, ASK = lib.PE_BID, lib.PE_ASK

# Sync statuses returned (not raised) by Feed.on_message and Book.apply_diff.
OK = lib.PE_OK
STALE = lib.PE_STALE
SYNC_NO_SNAPSHOT = lib.PE_ERR_NO_SNAPSHOT
SYNC_GAP = lib.PE_ERR_GAP
SYNC_OUT_OF_SYNC = lib.PE_ERR_OUT_OF_SYNC
SYNC_CROSSED = lib.PE_ERR_CROSSED
SYNC_STATUSES = frozenset({STALE, SYNC_NO_SNAPSHOT, SYNC_GAP, SYNC_OUT_OF_SYNC, SYNC_CROSSED})

STATE_NAMES = {
    lib.PE_BOOK_EMPTY: "empty",
    lib.PE_BOOK_WAIT_FIRST: "waiting-for-first-diff",
    lib.PE_BOOK_SYNCED: "synced",
    lib.PE_BOOK_OUT_OF_SYNC: "out-of-sync",
}

ERROR_TEXT = {
    lib.PE_ERR_NO_SNAPSHOT: "book has no snapshot yet",
    lib.PE_ERR_GAP: "sequence gap: book must be re-snapshotted",
    lib.PE_ERR_OUT_OF_SYNC: "book is out of sync: re-snapshot required",
    lib.PE_ERR_CROSSED: "book is crossed (best bid >= best ask): re-snapshot required",
    lib.PE_ERR_EMPTY: "side has no levels",
    lib.PE_ERR_PARSE: "malformed JSON",
    lib.PE_ERR_NOMEM: "out of memory",
    lib.PE_ERR_RANGE: "number out of range or too many digits",
    lib.PE_ERR_PRECISION: "more decimals than the symbol's tick/step allows",
    lib.PE_ERR_TYPE: "wrong JSON type",
    lib.PE_ERR_MISSING: "required field missing",
    lib.PE_ERR_UNKNOWN_SYMBOL: "unknown symbol (not registered with this feed)",
    lib.PE_ERR_ARG: "invalid argument",
}

# Stop bits for Feed.replay
STOP_DEPTH, STOP_TRADE, STOP_AGGTRADE = lib.PE_STOP_DEPTH, lib.PE_STOP_TRADE, lib.PE_STOP_AGGTRADE
STOP_BOOKTICKER, STOP_KLINE, STOP_BAR = lib.PE_STOP_BOOKTICKER, lib.PE_STOP_KLINE, lib.PE_STOP_BAR
STOP_EXIT = lib.PE_STOP_EXIT
NO_EXIT_BAND = (0, 2**63 - 1)
MSG_SNAPSHOT = lib.PE_MSG_SNAPSHOT

KIND_NAMES = {
    lib.PE_MSG_NONE: "other",
    lib.PE_MSG_DEPTH: "depthUpdate",
    lib.PE_MSG_TRADE: "trade",
    lib.PE_MSG_AGGTRADE: "aggTrade",
    lib.PE_MSG_BOOKTICKER: "bookTicker",
    lib.PE_MSG_KLINE: "kline",
}

FIELD_NAMES = {
    lib.PE_FIELD_NONE: "(message)", lib.PE_FIELD_EVENT: "e", lib.PE_FIELD_EVENT_TIME: "E",
    lib.PE_FIELD_SYMBOL: "s", lib.PE_FIELD_FIRST_ID: "U/f", lib.PE_FIELD_LAST_ID: "u/l",
    lib.PE_FIELD_BIDS: "b (bids)", lib.PE_FIELD_ASKS: "a (asks)", lib.PE_FIELD_PRICE: "p (price)",
    lib.PE_FIELD_QTY: "q (quantity)", lib.PE_FIELD_TRADE_ID: "t/a (trade id)",
    lib.PE_FIELD_TRADE_TIME: "T (trade time)", lib.PE_FIELD_MAKER: "m (buyer is maker)",
    lib.PE_FIELD_BID_PRICE: "b (bid price)", lib.PE_FIELD_BID_QTY: "B (bid quantity)",
    lib.PE_FIELD_ASK_PRICE: "a (ask price)", lib.PE_FIELD_ASK_QTY: "A (ask quantity)",
    lib.PE_FIELD_UPDATE_ID: "u (update id)", lib.PE_FIELD_KLINE: "k (kline)",
    lib.PE_FIELD_OPEN_TIME: "k.t", lib.PE_FIELD_CLOSE_TIME: "k.T", lib.PE_FIELD_INTERVAL: "k.i",
    lib.PE_FIELD_OPEN: "k.o", lib.PE_FIELD_HIGH: "k.h", lib.PE_FIELD_LOW: "k.l",
    lib.PE_FIELD_CLOSE: "k.c", lib.PE_FIELD_VOLUME: "k.v", lib.PE_FIELD_TRADES: "k.n",
    lib.PE_FIELD_CLOSED: "k.x", lib.PE_FIELD_STREAM: "stream", lib.PE_FIELD_DATA: "data",
    lib.PE_FIELD_LAST_UPDATE_ID: "lastUpdateId",
}


class BookError(Exception):
    """A C-level failure, with its status code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class BookNotReadable(BookError):
    """The book is not in sync (no snapshot, gap, crossed): no price may be read."""


class MessageError(BookError):
    """A market-data message was malformed; the book was left unchanged."""

    def __init__(self, code: int, kind: str, field: str, offset: int):
        super().__init__(code, f"{kind} message: field {field}: {ERROR_TEXT.get(code, code)} "
                               f"(at byte {offset})")
        self.kind, self.field, self.offset = kind, field, offset


class Impact(NamedTuple):
    """What a market order of a given size would get from one side of the book."""
    filled: int          # quantity available (<= requested)
    notional: int        # sum(px * qty), scaled by 10^(price_scale + qty_scale)
    worst_price: int     # last level touched
    average_price: Decimal


class Book:
    """One symbol's L2 book. Create standalone or get one from :class:`Feed`."""

    def __init__(self, spec: SymbolSpec, _ptr=None, _owner=None):
        self.spec = spec
        if _ptr is None:
            _ptr = lib.pe_book_new(spec.price_scale, spec.qty_scale)
            if _ptr == ffi.NULL:
                raise BookError(lib.PE_ERR_ARG, f"{spec.symbol}: invalid scales")
            _ptr = ffi.gc(_ptr, lib.pe_book_free)
        self._ptr = _ptr
        self._owner = _owner  # keeps the Feed (which owns the C book) alive
        self._i64 = ffi.new("int64_t[4]")

    # -- state -----------------------------------------------------------------
    @property
    def state(self) -> str:
        return STATE_NAMES[lib.pe_book_state(self._ptr)]

    @property
    def synced(self) -> bool:
        return lib.pe_book_readable(self._ptr) == OK

    @property
    def last_update_id(self) -> int:
        return lib.pe_book_last_update_id(self._ptr)

    def invalidate(self) -> None:
        """Mark out of sync (e.g. the stream disconnected)."""
        lib.pe_book_invalidate(self._ptr)

    # -- updates ---------------------------------------------------------------
    def load_snapshot(self, body: bytes) -> None:
        """Load a REST ``GET /api/v3/depth`` reply body."""
        off = ffi.new("size_t *")
        rc = lib.pe_book_load_snapshot_json(self._ptr, body, len(body), off)
        if rc < 0:
            raise BookError(rc, f"{self.spec.symbol} depth snapshot: {ERROR_TEXT.get(rc, rc)} "
                                f"(at byte {off[0]})")

    def load_levels(self, last_update_id: int, bids: Iterable[tuple[int, int]],
                    asks: Iterable[tuple[int, int]]) -> None:
        """Load a snapshot given as scaled integer levels."""
        lib.pe_book_snapshot_begin(self._ptr, last_update_id)
        for side, levels in ((BID, bids), (ASK, asks)):
            for px, qty in levels:
                self._check(lib.pe_book_snapshot_level(self._ptr, side, px, qty))
        rc = lib.pe_book_snapshot_end(self._ptr)
        if rc < 0:
            raise BookError(rc, f"{self.spec.symbol} snapshot: {ERROR_TEXT[rc]}")

    def apply_diff(self, first_id: int, last_id: int, bids: Iterable[tuple[int, int]],
                   asks: Iterable[tuple[int, int]]) -> int:
        """Apply one diff given as scaled integer levels; returns OK or a sync status."""
        rc = lib.pe_book_diff_begin(self._ptr, first_id, last_id)
        if rc != OK:
            return rc
        for side, levels in ((BID, bids), (ASK, asks)):
            for px, qty in levels:
                self._check(lib.pe_book_set_level(self._ptr, side, px, qty))
        return lib.pe_book_diff_end(self._ptr)

    # -- queries ---------------------------------------------------------------
    def _check(self, rc: int) -> int:
        if rc < 0:
            cls = BookNotReadable if rc in (lib.PE_ERR_NO_SNAPSHOT, lib.PE_ERR_OUT_OF_SYNC,
                                            lib.PE_ERR_CROSSED) else BookError
            raise cls(rc, f"{self.spec.symbol}: {ERROR_TEXT.get(rc, rc)}")
        return rc

    def _best(self, side: int) -> tuple[int, int]:
        v = self._i64
        self._check(lib.pe_book_best(self._ptr, side, v, v + 1))
        return v[0], v[1]

    def best_bid(self) -> tuple[int, int]:
        """(price, quantity) of the best bid, scaled integers."""
        return self._best(BID)

    def best_ask(self) -> tuple[int, int]:
        return self._best(ASK)

    def top(self, side: int, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels of ``side`` (BID or ASK), best first."""
        px, qty = ffi.new("int64_t[]", n), ffi.new("int64_t[]", n)
        k = self._check(lib.pe_book_top(self._ptr, side, n, px, qty))
        return [(px[i], qty[i]) for i in range(k)]

    def level_count(self, side: int) -> int:
        return self._check(lib.pe_book_level_count(self._ptr, side))

    def spread(self) -> int:
        self._check(lib.pe_book_spread(self._ptr, self._i64))
        return self._i64[0]

    def mid(self) -> Decimal:
        self._check(lib.pe_book_mid_x2(self._ptr, self._i64))
        return Decimal(self._i64[0]).scaleb(-self.spec.price_scale) / 2

    def depth_to(self, side: int, price: int) -> int:
        """Quantity resting on ``side`` at ``price`` or better."""
        self._check(lib.pe_book_depth_to(self._ptr, side, price, self._i64))
        return self._i64[0]

    def impact(self, side: int, qty: int) -> Impact:
        """A market order taking ``qty`` from ``side`` (ASK for a buy, BID for a sell)."""
        v = self._i64
        self._check(lib.pe_book_impact(self._ptr, side, qty, v, v + 1, v + 2))
        filled, notional, worst = v[0], v[1], v[2]
        avg = (Decimal(notional) / filled).scaleb(-self.spec.price_scale) if filled else Decimal(0)
        return Impact(filled, notional, worst, avg)

    def slippage(self, side: int, qty: int) -> Decimal:
        """Average fill price minus best price, in quote currency (>= 0 for either side)."""
        best = self._best(side)[0]
        imp = self.impact(side, qty)
        diff = imp.average_price - self.spec.price(best)
        return diff if side == ASK else -diff

    def memory_bytes(self) -> int:
        return lib.pe_book_memory(self._ptr)


class Feed:
    """Parses raw Binance market-data frames in C and keeps one :class:`Book` per symbol."""

    def __init__(self, specs: Iterable[SymbolSpec]):
        self._ptr = ffi.gc(lib.pe_feed_new(), lib.pe_feed_free)
        self._msg = ffi.new("pe_msg *")
        self.pos = ffi.new("pe_replay_pos *")
        self._consumed = ffi.new("size_t *")
        self._buf_obj = self._buf_ptr = None
        self.specs: list[SymbolSpec] = []
        self._books: dict[str, Book] = {}
        for spec in specs:
            idx = lib.pe_feed_add_symbol(self._ptr, spec.symbol.encode(), spec.price_scale, spec.qty_scale)
            if idx < 0:
                raise BookError(idx, f"cannot register symbol {spec.symbol!r}: {ERROR_TEXT.get(idx, idx)}")
            self.specs.append(spec)
            self._books[spec.symbol] = Book(spec, lib.pe_feed_book(self._ptr, idx), self)

    def book(self, symbol: str) -> Book:
        return self._books[symbol]

    def set_bar_interval(self, symbol: str, interval_ms: int) -> None:
        """Build bars of ``interval_ms`` from this symbol's trades in C (0: off); a trade
        that closes a bar carries it (``msg.bar_closed``, ``msg.bar_open`` ...)."""
        idx = self.specs.index(self._books[symbol].spec)
        if lib.pe_feed_set_bar_interval(self._ptr, idx, interval_ms) < 0:
            raise BookError(lib.PE_ERR_ARG, f"{symbol}: invalid bar interval {interval_ms}")

    def add_vm(self, symbol: str, vm) -> None:
        """Run strategy VM ``vm`` (a ``pe_vm *``) on this symbol's trade bars in C; a
        message that closes a bar then reports ``msg.vm_bars``, ``msg.vm_act`` and
        ``msg.vm_status`` (see ``pe_feed_add_vm``). Keep the VM alive while attached."""
        idx = self.specs.index(self._books[symbol].spec)
        if lib.pe_feed_add_vm(self._ptr, idx, vm) < 0:
            raise BookError(lib.PE_ERR_ARG, f"{symbol}: cannot attach another VM "
                                            f"(at most {lib.PE_FEED_MAX_VMS})")

    def set_exit_band(self, symbol: str, lo: int, hi: int) -> None:
        """Flag this symbol's trades at or below ``lo`` or at or above ``hi`` (fixed-point
        prices) with ``msg.exit_hit`` (see ``pe_feed_set_exit_band``); NO_EXIT_BAND: none."""
        idx = self.specs.index(self._books[symbol].spec)
        if lib.pe_feed_set_exit_band(self._ptr, idx, lo, hi) < 0:
            raise BookError(lib.PE_ERR_ARG, f"{symbol}: invalid exit band {lo}..{hi}")

    def replay(self, buf, offset: int = 0, stop: int = STOP_BAR) -> tuple[bool, int]:
        """Run recording lines ``buf[offset:]`` through the parser and books in one C call.

        Stops after a message whose kind is in ``stop`` (STOP_* bits), and always on a REST
        snapshot line (``msg.kind == MSG_SNAPSHOT``; its bytes are ``buf[pos.frame_offset:
        ...+pos.frame_len]``), a diff that needs a snapshot, a sync error or a malformed
        line. Returns (stopped, next offset); ``self.msg`` and ``self.pos`` describe the
        stopping line. ``buf`` must stay alive and unchanged between calls."""
        if self._buf_obj is not buf:
            self._buf_obj, self._buf_ptr = buf, ffi.from_buffer(buf)
        used = self._consumed
        stopped = lib.pe_feed_replay(self._ptr, self._buf_ptr + offset, len(buf) - offset, used,
                                     self._msg, stop, self.pos)
        self.pos.frame_offset += offset
        return bool(stopped), offset + used[0]

    @property
    def msg(self):
        """The message struct of the last parse (reused by the next call)."""
        return self._msg

    def symbol_of(self, msg) -> str:
        return self.specs[msg.symbol].symbol

    def on_message(self, frame: bytes):
        """Parse one frame; depth diffs go straight into the book.

        Returns the C message struct (reused by the next call: copy what you keep). Its
        ``status`` is OK or a sync status (STALE, SYNC_NO_SNAPSHOT, SYNC_GAP, ...); a
        malformed frame raises :class:`MessageError` and changes nothing.
        """
        msg = self._msg
        rc = lib.pe_feed_on_message(self._ptr, frame, len(frame), msg)
        if rc < 0 and rc not in SYNC_STATUSES:
            raise MessageError(rc, KIND_NAMES.get(msg.kind, "?"), FIELD_NAMES.get(msg.err_field, "?"),
                               msg.err_offset)
        return msg
