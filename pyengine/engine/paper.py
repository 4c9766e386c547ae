"""Paper trading on the built-in simulator with the bundled real data (``pyengine run``).

The simulator replays the real BTCUSDT and ETHUSDT recordings (2024-08-08/09, about 11
minutes of depth, trades and bookTicker) and a slice of the real ZECUSDT 1m klines covering
the same span, all rebased to start now and accelerated. So that strategies trade within an
11-minute recording, BTC and ETH run the library strategies on 1-second bars built from the
trade stream; ZECUSDT runs them on 1-minute bars from the kline stream, warmed up from the
simulator's REST kline history (the real bars before the slice).
"""
from __future__ import annotations

import pathlib

import dsl
from pyengine import bundled, recording
from pyengine.engine.strategies import StrategySpec
from pyengine.sim.feeds import kline_lines

LIBRARY = pathlib.Path(dsl.__file__).resolve().parent / "library"
STRATEGIES = (("ma_trend", "dual_ma_trend.pine"), ("rsi_revert", "rsi_mean_reversion.pine"),
              ("bb_revert", "bollinger_mean_reversion.pine"))
RECORDED = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}
KLINE_SYMBOL = "ZECUSDT"
HISTORY_BARS = 1000            # ZECUSDT bars served as REST history before the replay
ZEC_START_BAR = 200_000        # where in the bundled klines the slice starts
PAPER_BALANCES = {"USDT": "10000", "BTC": "0", "ETH": "0", "ZEC": "0", "SOL": "0", "DOGE": "0",
                  "BNB": "0"}


def paper_strategies(files: list[pathlib.Path] | None = None) -> list[StrategySpec]:
    """The library strategies, or the given .pine files (``pyengine run --strategy``), each
    on the recorded symbols' 1 s trade bars and on ZECUSDT's 1 m klines."""
    named = ([(f.stem.replace(".", "_"), f) for f in files] if files
             else [(sid, LIBRARY / pine) for sid, pine in STRATEGIES])
    out = []
    for sid, pine in named:
        out.append(StrategySpec(f"{sid}_1s", pine, list(RECORDED), "1s", "trades"))
        out.append(StrategySpec(f"{sid}_1m", pine, [KLINE_SYMBOL], "1m", "kline"))
    return out


def recording_span_ms(path: pathlib.Path) -> int:
    first = last = None
    for rec in recording.records(path):
        if first is None:
            first = rec.recv_ts_ns
        last = rec.recv_ts_ns
    return 0 if first is None else (last - first) // 1_000_000


def zec_slice(workdir: pathlib.Path, replay_bars: int, start_bar: int = ZEC_START_BAR) -> pathlib.Path:
    """A CSV of real ZECUSDT 1m bars: ``HISTORY_BARS`` of history, then ``replay_bars``."""
    rows = kline_lines(bundled.ZECUSDT_1M)
    start = min(start_bar, len(rows) - HISTORY_BARS - replay_bars)
    out = workdir / f"ZECUSDT-1m-slice-{start}-{replay_bars}.csv"
    if not out.exists():
        out.write_bytes(b"\n".join(line for _, line in rows[start:start + HISTORY_BARS + replay_bars])
                        + b"\n")
    return out


def paper_data(workdir: pathlib.Path) -> tuple[dict[str, pathlib.Path], int]:
    """The simulator's data and the span of the replay in ms."""
    span = max(recording_span_ms(p) for p in RECORDED.values())
    bars = span // 60_000 + 1
    data: dict[str, pathlib.Path] = dict(RECORDED)
    data[KLINE_SYMBOL] = zec_slice(workdir, bars)
    return data, span
